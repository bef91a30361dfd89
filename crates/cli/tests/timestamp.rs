//! RFC 3161 timestamps (issue 22) with a real authority on loopback:
//! `openssl ts -reply` behind a small HTTP wrapper, a self-made CA and TSA
//! certificate (`extendedKeyUsage = critical,timeStamping`). The server
//! gets tokens over its checkpoints and serves them; `openssl ts -verify`
//! accepts them; `veritrail verify --tsa-root` accepts them and refuses a
//! flipped byte and another root.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn make_tsa(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "[tsa_ext]\nextendedKeyUsage = critical,timeStamping\nbasicConstraints = CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            &format!("/CN={name} root"),
        ],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "tsa.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            &format!("/CN={name} TSA"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.pem",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "tsa_ext",
        ],
    );
    std::fs::write(
        dir.join("tsa.cnf"),
        format!(
            "[tsa]\ndefault_tsa = t\n[t]\ndir = {d}\nserial = $dir/serial\ncrypto_device = builtin\nsigner_cert = $dir/tsa.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\ness_cert_id_alg = sha256\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
}

/// `openssl ts -reply` behind HTTP on loopback; returns the child and URL.
fn tsa_server(dir: &Path) -> (std::process::Child, String) {
    let script = r#"
import http.server, subprocess, sys, tempfile, os
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with tempfile.TemporaryDirectory() as t:
            q = os.path.join(t, "q.tsq"); r = os.path.join(t, "r.tsr")
            open(q, "wb").write(body)
            subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(d, "tsa.cnf"), "-queryfile", q, "-out", r], check=True, capture_output=True)
            out = open(r, "rb").read()
        self.send_response(200); self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut c = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (c, format!("http://127.0.0.1:{}/tsa", line.trim()))
}

#[test]
fn checkpoints_get_tokens_that_openssl_and_verify_accept() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    make_tsa(&ca, "test");
    let (tsa, url) = tsa_server(&ca);
    let _tsa = KillOnDrop(tsa);
    let data = tmp.path().join("d");
    let root = ca.join("ca.pem");
    let server = common::start_with(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--tsa",
            &url,
            "--tsa-root",
            root.to_str().unwrap(),
            "--tsa-interval",
            "100ms",
        ],
        &[],
    );
    let admin = server.admin.clone().unwrap();
    let writer = common::token(
        &server.addr,
        &admin,
        r#"{"role":"writer","logs":["default"]}"#,
    );
    let (s, b) = common::post(
        &server.addr,
        "/v1/logs/default/events?wait=proof",
        &writer,
        r#"{"action":"a.b","actor":"x"}"#,
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let size = serde_json::from_str::<serde_json::Value>(&b).unwrap()["tree_size"]
        .as_u64()
        .unwrap();
    // The token for that checkpoint, served.
    let deadline = Instant::now() + Duration::from_secs(20);
    let path = format!("/v1/logs/default/timestamps/{size}");
    let served = loop {
        let (s, body) = get_bytes(&server.addr, &path);
        if s == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "no token for size {size}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The checkpoint note the token covers, as served.
    let (s, note) = common::get(
        &server.addr,
        &format!("/v1/logs/default/checkpoints/{size}"),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{note}");
    // The Integrity page's data: the newest token, checked again by the
    // server against its root.
    let (_, d) = common::integrity(&server.addr, &admin, "default");
    let b = d.to_string();
    let d = &d["timestamps"];
    assert!(d["kept"].as_u64() >= Some(1), "{b}");
    assert_eq!(d["newest"]["check"]["ok"], true, "{b}");
    assert_eq!(d["authority"], url.as_str(), "{b}");
    // The monitor checks the token of the checkpoint it sees.
    let key = common::key_of(&data, "default");
    let (code, out, err) = common::run3(
        &[
            "monitor",
            "--server",
            &format!("http://{}", server.addr),
            "--token",
            &admin,
            "--key",
            &key,
            "--once",
            "--tsa-root",
            root.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("tree size {size} timestamped")),
        "{out}{err}"
    );
    common::terminate(server.child);
    // An evidence bundle carries the token; both verifiers check it (the
    // Python one with `openssl ts -verify`), and refuse another root.
    let bundle = tmp.path().join("b.bundle");
    let (code, out) = common::run_on(
        &["export", "--log", "default", "-o", bundle.to_str().unwrap()],
        &data,
        None,
    );
    assert_eq!(code, 0, "{out}");
    let other = tmp.path().join("other");
    make_tsa(&other, "other");
    let other_root = other.join("ca.pem");
    for (r, want) in [(&root, 0), (&other_root, 1)] {
        let (code, out, err) = common::run3(
            &[
                "verify-bundle",
                bundle.to_str().unwrap(),
                "--key",
                &key,
                "--tsa-root",
                r.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(code, want, "{out}{err}");
        if want == 0 {
            assert!(out.contains("entries existed at"), "{out}");
        } else {
            assert!(err.contains("header.timestamp"), "{err}");
        }
        let py = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_bundle.py"))
            .arg(&bundle)
            .args(["--key", &key, "--tsa-root", r.to_str().unwrap()])
            .output()
            .unwrap();
        let pout =
            String::from_utf8_lossy(&py.stdout).into_owned() + &String::from_utf8_lossy(&py.stderr);
        assert_eq!(py.status.code(), Some(want), "{pout}");
        if want == 1 {
            assert!(pout.contains("header.timestamp"), "{pout}");
        }
    }
    let token = data.join("timestamps/default").join(format!("{size}.tst"));
    assert_eq!(
        std::fs::read(&token).unwrap(),
        served,
        "the served token is the kept one"
    );
    let note_file = tmp.path().join("note");
    std::fs::write(&note_file, note.as_bytes()).unwrap();
    openssl(
        &ca,
        &[
            "ts",
            "-verify",
            "-data",
            note_file.to_str().unwrap(),
            "-in",
            token.to_str().unwrap(),
            "-token_in",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "tsa.pem",
        ],
    );
    let (code, out) = common::run_on(
        &[
            "verify",
            "--log",
            "default",
            "--tsa-root",
            root.to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("timestamp tokens verified"), "{out}");
    // Another root, and a flipped byte: refused, the checkpoint named.
    let (code, out) = common::run_on(
        &[
            "verify",
            "--log",
            "default",
            "--tsa-root",
            other.join("ca.pem").to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED: log \"default\": timestamp for checkpoint"),
        "{out}"
    );
    let mut t = std::fs::read(&token).unwrap();
    let k = t.len() - 10;
    t[k] ^= 1;
    std::fs::write(&token, &t).unwrap();
    let (code, out) = common::run_on(
        &[
            "verify",
            "--log",
            "default",
            "--tsa-root",
            root.to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("timestamp for checkpoint {size}")),
        "{out}"
    );
    common::unflag(tmp.path());
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET whose body may be binary: (status, body).
fn get_bytes(addr: &str, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = Vec::new();
    s.read_to_end(&mut r).unwrap();
    let status = std::str::from_utf8(&r[9..12]).unwrap().parse().unwrap();
    let at = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (status, r[at..].to_vec())
}
