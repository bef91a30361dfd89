//! Syslog into `veritrail serve` from real senders (issue 20): util-linux
//! `logger` over UDP, TCP and TCP with octet counting, in RFC 3164 and RFC
//! 5424; Debian's rsyslog forwarding over TCP and over TLS (rsyslog-gnutls)
//! with a test CA. Each message arrives once, with the right fields, and
//! sshd and sudo lines become the right actions. Then a table of bad input
//! per listener: each gets a clear result, and nothing else is lost.
//! (`scripts/test.sh` installs rsyslog and rsyslog-gnutls.)

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::Value;

/// Events of log `log` whose text holds `word`, once `n` of them are in
/// (and still `n` a moment later: nothing arrives twice).
fn wait_for(addr: &str, token: &str, log: &str, word: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let fetch = || {
        let (s, body) = common::get(
            addr,
            &format!("/v1/logs/{log}/events?q={word}&limit=1000"),
            token,
        )
        .unwrap();
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect::<Vec<Value>>()
    };
    loop {
        let got = fetch();
        if got.len() >= n || Instant::now() > deadline {
            std::thread::sleep(Duration::from_millis(1500));
            let again = fetch();
            assert_eq!(
                again.len(),
                n,
                "{word}: expected {n} events, got {}: {again:#?}",
                again.len()
            );
            return again;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logger(args: &[&str]) {
    let o = Command::new("logger")
        .args(args)
        .output()
        .expect("util-linux logger");
    assert!(
        o.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

#[test]
fn logger_over_udp_tcp_and_octet_counting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--syslog-udp",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
        ],
        &[],
    );
    let auditor = common::token(
        &server.addr,
        server.admin.as_deref().unwrap(),
        r#"{"role":"auditor"}"#,
    );
    let (udp, tcp) = (
        common::syslog_addr(&server, "udp"),
        common::syslog_addr(&server, "tcp"),
    );
    let sshd = "Failed password for alice from 192.0.2.7 port 4711 ssh2";
    let sudo = "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id";
    // (transport flags, format, tag, message, marker)
    let cases: [(&[&str], &str, &str, String, &str); 6] = [
        (
            &["-d", "-P", port(&udp)],
            "--rfc3164",
            "sshd",
            format!("{sshd} mkudp3164"),
            "mkudp3164",
        ),
        (
            &["-d", "-P", port(&udp)],
            "--rfc5424",
            "sudo",
            format!("{sudo} mkudp5424"),
            "mkudp5424",
        ),
        (
            &["-T", "-P", port(&tcp)],
            "--rfc3164",
            "sudo",
            format!("{sudo} mktcp3164"),
            "mktcp3164",
        ),
        (
            &["-T", "-P", port(&tcp)],
            "--rfc5424",
            "sshd",
            format!("{sshd} mktcp5424"),
            "mktcp5424",
        ),
        (
            &["-T", "--octet-count", "-P", port(&tcp)],
            "--rfc5424",
            "sshd",
            format!("{sshd} mkoct5424"),
            "mkoct5424",
        ),
        (
            &["-T", "--octet-count", "-P", port(&tcp)],
            "--rfc3164",
            "myapp",
            "plain words mkoct3164".into(),
            "mkoct3164",
        ),
    ];
    for (net, format, tag, msg, _) in &cases {
        let mut args = vec!["-n", "127.0.0.1"];
        args.extend_from_slice(net);
        args.extend([*format, "-t", tag, "-p", "auth.warning", msg.as_str()]);
        logger(&args);
    }
    for (net, format, tag, _, marker) in &cases {
        let e = &wait_for(&server.addr, &auditor, "default", marker, 1)[0];
        let transport = if net.contains(&"-d") { "udp" } else { "tcp" };
        assert_eq!(
            e["metadata"]["syslog"]["transport"], transport,
            "{marker}: {e}"
        );
        assert_eq!(
            e["metadata"]["syslog"]["protocol"],
            &format[2..],
            "{marker}: {e}"
        );
        assert_eq!(e["source"]["app"], *tag, "{marker}: {e}");
        assert_eq!(e["metadata"]["syslog"]["facility"], "auth", "{marker}");
        assert_eq!(e["severity"], "warning", "{marker}");
        assert!(e["metadata"]["syslog"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"));
        assert!(e["metadata"]["syslog"]["raw"]
            .as_str()
            .unwrap()
            .contains(marker));
        match *tag {
            "sshd" => {
                assert_eq!(
                    (e["action"].as_str(), e["outcome"].as_str()),
                    (Some("auth.login"), Some("failure")),
                    "{e}"
                );
                assert_eq!(e["actor"]["id"], "alice");
                assert_eq!(e["actor"]["ip"], "192.0.2.7");
            }
            "sudo" => {
                assert_eq!(
                    (e["action"].as_str(), e["outcome"].as_str()),
                    (Some("privilege.sudo"), Some("success")),
                    "{e}"
                );
                assert_eq!(
                    e["target"]["id"].as_str().unwrap().split(' ').next(),
                    Some("/usr/bin/id")
                );
            }
            _ => assert_eq!(e["action"], "syslog.message"),
        }
    }
    // Who sent is in _system: the UDP sender, the TCP connections opened and closed.
    let (s, body) = common::get(
        &server.addr,
        "/v1/logs/_system/events?action=syslog.*&limit=1000",
        &auditor,
    )
    .unwrap();
    assert_eq!(s, 200);
    for action in ["syslog.source", "syslog.connect", "syslog.disconnect"] {
        assert!(
            body.contains(&format!("\"{action}\"")),
            "no {action} in _system: {body}"
        );
    }
    bad_input(&server, &auditor, &tcp, &udp);
    // `veritrail status` names the listeners and the kernel's UDP drops.
    let o = Command::new(common::bin())
        .args(["status", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains(&format!("udp on {udp}: 0 datagrams dropped by the kernel")),
        "{text}"
    );
    assert!(text.contains(&format!("tcp on {tcp}")), "{text}");
    common::terminate(server.child);
    assert!(
        !data.join("run/syslog.json").exists(),
        "a clean stop removes the listeners' file"
    );
    common::unflag(dir.path());
}

/// Bad input per listener: each a clear result, and the messages around it
/// are all kept.
fn bad_input(server: &common::Server, auditor: &str, tcp: &str, udp: &str) {
    // Binary garbage over TCP (LF framing), then a good line.
    let mut s = TcpStream::connect(tcp).unwrap();
    s.write_all(
        b"\xff\xfe\x00garbage mkgarbage\n<13>Dec  2 10:00:00 h app: after garbage mkafter1\n",
    )
    .unwrap();
    drop(s);
    let e = &wait_for(&server.addr, auditor, "default", "mkgarbage", 1)[0];
    assert_eq!(e["action"], "syslog.unparsed", "{e}");
    assert_eq!(e["metadata"]["syslog"]["raw_escaped"], true, "{e}");
    wait_for(&server.addr, auditor, "default", "mkafter1", 1);
    // A 10 MB line: stored cut, marked; the line after it is kept.
    let mut s = TcpStream::connect(tcp).unwrap();
    let mut big = b"<13>Dec  2 10:00:00 h app: mkbig ".to_vec();
    big.resize(10 << 20, b'x');
    big.extend_from_slice(b"\n<13>Dec  2 10:00:00 h app: after big mkafter2\n");
    s.write_all(&big).unwrap();
    drop(s);
    let e = &wait_for(&server.addr, auditor, "default", "mkbig", 1)[0];
    assert_eq!(
        e["metadata"]["syslog"]["truncated"]["original_bytes"],
        10 << 20,
        "{}",
        e["metadata"]["syslog"]["truncated"]
    );
    wait_for(&server.addr, auditor, "default", "mkafter2", 1);
    // A bad octet count: the frames before it are kept, the connection is
    // closed, and _system says why.
    let mut s = TcpStream::connect(tcp).unwrap();
    let ok = "<13>Dec  2 10:00:00 h a: mkok";
    s.write_all(format!("{} {ok}12x <13>bad count", ok.len()).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(s);
    wait_for(&server.addr, auditor, "default", "mkok", 1);
    // Half a frame, then the sender hangs and goes: stored, marked cut.
    let mut s = TcpStream::connect(tcp).unwrap();
    s.write_all(b"80 <13>Dec  2 10:00:00 h app: mkhalf")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(s);
    let e = &wait_for(&server.addr, auditor, "default", "mkhalf", 1)[0];
    assert_eq!(e["metadata"]["syslog"]["truncated"]["original_bytes"], 80);
    // UDP garbage: unparsed, with the sender.
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"\x01\x02 mkudpjunk", udp).unwrap();
    let e = &wait_for(&server.addr, auditor, "default", "mkudpjunk", 1)[0];
    assert_eq!(e["action"], "syslog.unparsed");
    let (_, body) = common::get(
        &server.addr,
        "/v1/logs/_system/events?action=syslog.disconnect&limit=1000",
        auditor,
    )
    .unwrap();
    assert!(body.contains("framing error: bad octet count"), "{body}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

/// A free UDP port on loopback (bound and released).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `rsyslogd -n` with `conf` (its own work directory and pid file).
fn rsyslog(dir: &Path, name: &str, conf: &str) -> Child {
    let work = dir.join(format!("{name}-work"));
    std::fs::create_dir_all(&work).unwrap();
    let conf = conf.replace("WORK", work.to_str().unwrap());
    let path = write(dir, &format!("{name}.conf"), &conf);
    let pid = dir.join(format!("{name}.pid"));
    let bin = ["/usr/sbin/rsyslogd", "rsyslogd"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").output().is_ok())
        .expect("rsyslogd (Debian rsyslog; scripts/test.sh installs it)");
    let child = Command::new(bin)
        .args(["-n", "-f", &path, "-i", pid.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    child
}

#[test]
fn rsyslog_forwards_over_tcp_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "veritrail syslog test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&srv_key, &ca_cert, &ca_key)
        .unwrap();
    let ca_pem = write(d, "ca.pem", &ca_cert.pem());
    let cert = write(d, "server.pem", &srv.pem());
    let key = write(d, "server.key", &srv_key.serialize_pem());
    let data = d.join("data");
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--syslog-tcp",
            "127.0.0.1:0",
            "--syslog-tls",
            "127.0.0.1:0",
            "--syslog-tls-cert",
            &cert,
            "--syslog-tls-key",
            &key,
        ],
        &[],
    );
    let auditor = common::token(
        &server.addr,
        server.admin.as_deref().unwrap(),
        r#"{"role":"auditor"}"#,
    );
    let (tcp, tls) = (
        common::syslog_addr(&server, "tcp"),
        common::syslog_addr(&server, "tls"),
    );
    let (in_tcp, in_tls) = (free_udp_port(), free_udp_port());
    let mut plain = rsyslog(
        d,
        "plain",
        &format!(
            "global(workDirectory=\"WORK\")\nmodule(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{in_tcp}\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\")\n",
            port(&tcp)
        ),
    );
    let mut secure = rsyslog(
        d,
        "tls",
        &format!(
            "global(workDirectory=\"WORK\" DefaultNetstreamDriverCAFile=\"{ca_pem}\")\nmodule(load=\"imudp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{in_tls}\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" TCP_Framing=\"octet-counted\"\n\
               template=\"RSYSLOG_SyslogProtocol23Format\" StreamDriver=\"gtls\" StreamDriverMode=\"1\"\n\
               StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers=\"localhost\")\n",
            port(&tls)
        ),
    );
    for (p, marker) in [(in_tcp, "mkviarsyslogtcp"), (in_tls, "mkviarsyslogtls")] {
        let p = p.to_string();
        logger(&[
            "-n",
            "127.0.0.1",
            "-d",
            "-P",
            &p,
            "--rfc3164",
            "-t",
            "sshd",
            "-p",
            "authpriv.info",
            &format!("Accepted publickey for deploy from 192.0.2.30 port 50000 ssh2: {marker}"),
        ]);
        logger(&["-n", "127.0.0.1", "-d", "-P", &p, "--rfc3164", "-t", "sudo", "-p", "authpriv.notice",
            &format!("mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh {marker}")]);
    }
    for (marker, transport) in [("mkviarsyslogtcp", "tcp"), ("mkviarsyslogtls", "tls")] {
        let evs = wait_for(&server.addr, &auditor, "default", marker, 2);
        for e in &evs {
            assert_eq!(e["metadata"]["syslog"]["transport"], transport, "{e}");
            match e["source"]["app"].as_str() {
                Some("sshd") => {
                    assert_eq!(
                        (e["action"].as_str(), e["outcome"].as_str()),
                        (Some("auth.login"), Some("success")),
                        "{e}"
                    );
                    assert_eq!(e["actor"]["id"], "deploy");
                }
                Some("sudo") => {
                    assert_eq!(
                        (e["action"].as_str(), e["outcome"].as_str()),
                        (Some("privilege.sudo"), Some("failure")),
                        "{e}"
                    );
                    assert_eq!(
                        e["metadata"]["syslog"]["recognized"]["reason"],
                        "not_in_sudoers"
                    );
                }
                other => panic!("unexpected program {other:?}: {e}"),
            }
        }
    }
    let _ = plain.kill();
    let _ = secure.kill();
    let _ = plain.wait();
    let _ = secure.wait();
    common::stop(server.child);
    // A TLS sender without a certificate where one is required: refused, recorded.
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--syslog-tls",
            "127.0.0.1:0",
            "--syslog-tls-cert",
            &cert,
            "--syslog-tls-key",
            &key,
            "--syslog-client-ca",
            &ca_pem,
        ],
        &[],
    );
    let tls = common::syslog_addr(&server, "tls");
    let mut s = Command::new("openssl")
        .args(["s_client", "-connect", &tls, "-CAfile", &ca_pem, "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let _ = s
        .stdin
        .take()
        .unwrap()
        .write_all(b"<13>Dec  2 10:00:00 h app: mknocert\n");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = s.kill();
    let _ = s.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = common::get(
            &server.addr,
            "/v1/logs/_system/events?action=syslog.refused&limit=10",
            &auditor,
        )
        .unwrap();
        if body.contains("syslog.refused") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no syslog.refused record: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, body) =
        common::get(&server.addr, "/v1/logs/default/events?q=mknocert", &auditor).unwrap();
    assert!(
        !body.contains("mknocert\""),
        "a sender without a certificate was stored: {body}"
    );
    common::stop(server.child);
    common::unflag(dir.path());
}
