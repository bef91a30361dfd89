//! The other sources of issue 20, against the real server: the kernel audit
//! log through `veritrail forward --auditd` (multi-record events, hex
//! fields), the systemd journal through `veritrail forward --journal`
//! (journal files written by Debian's systemd-journal-remote, read by the
//! real journalctl, resumed at the cursor), and `veritrail watch` against a
//! temp tree (create, modify, rename, delete, chmod, and a change made
//! while the watcher was stopped). `scripts/test.sh` installs
//! systemd-journal-remote.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn writer_and_auditor(s: &common::Server) -> (String, String) {
    let admin = s.admin.as_deref().unwrap();
    (
        common::token(&s.addr, admin, r#"{"role":"writer","logs":["default"]}"#),
        common::token(&s.addr, admin, r#"{"role":"auditor"}"#),
    )
}

/// The events of log `default` whose action matches `action` (`file.*`).
fn events(addr: &str, auditor: &str, action: &str) -> Vec<Value> {
    let filter = if action == "*" {
        String::new()
    } else {
        format!("action={action}&")
    };
    let (s, body) = common::get(
        addr,
        &format!("/v1/logs/default/events?{filter}limit=1000"),
        auditor,
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

/// Waits until `pred` holds of the events matching `action`.
fn wait_events(
    addr: &str,
    auditor: &str,
    action: &str,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = events(addr, auditor, action);
        if pred(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen; events: {got:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn forward(url: &str, token: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .args(["forward", "--server", url, "--token", token, "--once"])
        .arg("--state")
        .arg(dir.join("fwd.state"))
        .arg("--spool")
        .arg(dir.join("fwd.spool"))
        .args(extra)
        .output()
        .unwrap()
}

// The shape of Debian 12's auditd 3.0.9 log (kernel 6.1, x86_64) with
// `-w /etc/passwd -p wa -k identity` and `-a always,exit -F arch=b64 -S
// execve -k exec`: multi-record events ending in EOE, hex-encoded
// proctitle, path and arguments, user-space records from sshd and sudo.
const AUDIT_LOG: &str = r#"type=USER_AUTH msg=audit(1764669700.400:511): pid=4011 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=? acct="mallory" exe="/usr/sbin/sshd" hostname=198.51.100.4 addr=198.51.100.4 terminal=ssh res=failed'
type=USER_LOGIN msg=audit(1764669700.500:512): pid=4011 uid=0 auid=1000 ses=7 subj=unconfined msg='op=login id=1000 exe="/usr/sbin/sshd" hostname=192.0.2.7 addr=192.0.2.7 terminal=/dev/pts/1 res=success'
type=SYSCALL msg=audit(1764669720.123:520): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55d0c1e2b2a0 a2=241 a3=1b6 items=2 ppid=811 pid=2990 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=7 comm="vi" exe="/usr/bin/vim.basic" subj=unconfined key="identity"
type=CWD msg=audit(1764669720.123:520): cwd="/root"
type=PATH msg=audit(1764669720.123:520): item=0 name="/etc/" inode=131073 dev=fe:01 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1764669720.123:520): item=1 name="/etc/passwd" inode=131680 dev=fe:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1764669720.123:520): proctitle=7669002F6574632F706173737764
type=EOE msg=audit(1764669720.123:520): 
type=USER_CMD msg=audit(1764669800.000:600): pid=5000 uid=1000 auid=1000 ses=7 subj=unconfined msg='cwd="/home/alice" cmd=7461696C202D6E2035202F7661722F6C6F672F61757468 exe="/usr/bin/sudo" terminal=pts/1 res=success'
type=SYSCALL msg=audit(1764669801.000:601): arch=c000003e syscall=59 success=yes exit=0 a0=5612 a1=5613 a2=5614 a3=0 items=2 ppid=5000 pid=5001 auid=1000 uid=0 gid=0 euid=0 comm="tail" exe="/usr/bin/tail" key="exec"
type=EXECVE msg=audit(1764669801.000:601): argc=4 a0="tail" a1="-n" a2="5" a3=2F7661722F6C6F672F6D7920617564697420
type=PATH msg=audit(1764669801.000:601): item=0 name="/usr/bin/tail" nametype=NORMAL
type=EOE msg=audit(1764669801.000:601): 
type=ADD_USER msg=audit(1764669900.000:700): pid=5100 uid=0 auid=1000 ses=7 subj=unconfined msg='op=adding user id=1002 exe="/usr/sbin/useradd" hostname=? addr=? terminal=pts/1 res=success'
"#;

#[test]
fn forward_auditd_assembles_records_into_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let log = d.join("audit.log");
    std::fs::write(&log, AUDIT_LOG).unwrap();
    let o = forward(
        &url,
        &writer,
        d,
        &["--auditd", "--from-start", log.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = wait_events(&server.addr, &auditor, "*", "6 events", |e| e.len() >= 6);
    let actions: Vec<&str> = all.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "auth.authenticate",
            "auth.login",
            "file.modify",
            "privilege.sudo",
            "process.execute",
            "account.create"
        ],
        "one event per audit event, in order"
    );
    let m = &all[2];
    assert_eq!(m["target"]["id"], "/etc/passwd");
    assert_eq!(m["actor"]["id"], "1000");
    assert_eq!(m["metadata"]["auditd"]["uid"], "0");
    assert_eq!(m["metadata"]["auditd"]["exe"], "/usr/bin/vim.basic");
    assert_eq!(m["metadata"]["auditd"]["proctitle"], "vi /etc/passwd");
    assert_eq!(
        all[4]["metadata"]["auditd"]["argv"][3],
        "/var/log/my audit "
    );
    assert_eq!(all[0]["actor"]["ip"], "198.51.100.4");
    // Appended records, one event cut in the middle: the whole event
    // arrives once its EOE is written, and nothing is shipped twice.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"type=SYSCALL msg=audit(1764670000.000:800): arch=c000003e syscall=263 success=yes exit=0 auid=1000 uid=0 exe=\"/usr/bin/rm\" key=\"identity\"\ntype=PATH msg=audit(1764670000.000:800): item=0 name=\"/etc/\" nametype=PARENT\n").unwrap();
    let mut fwd = Command::new(common::bin())
        .args(["forward", "--server", &url, "--token", &writer, "--auditd"])
        .arg("--state")
        .arg(d.join("fwd.state"))
        .arg("--spool")
        .arg(d.join("fwd.spool"))
        .arg(&log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    f.write_all(b"type=PATH msg=audit(1764670000.000:800): item=1 name=\"/etc/passwd-\" nametype=DELETE\ntype=EOE msg=audit(1764670000.000:800): \n").unwrap();
    let all = wait_events(&server.addr, &auditor, "*", "file.delete", |e| {
        e.iter().any(|x| x["action"] == "file.delete")
    });
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    let del: Vec<&Value> = all
        .iter()
        .filter(|x| x["action"] == "file.delete")
        .collect();
    assert_eq!(del.len(), 1);
    assert_eq!(del[0]["target"]["id"], "/etc/passwd-");
    assert_eq!(all.len(), 7, "nothing twice");
    common::stop(server.child);
    common::unflag(d);
}

/// A journal file written by systemd-journal-remote from export-format
/// entries (identifier, message), with realtime stamps from `t0` µs (and
/// monotonic ones in step, all in one boot).
fn journal_file(dir: &Path, name: &str, entries: &[(&str, &str)], t0: u64) -> PathBuf {
    let mut export = String::new();
    for (i, (ident, msg)) in entries.iter().enumerate() {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=6c7c6013a8674d9e8e3c1b1f5c4e3a2d\n_HOSTNAME=jhost\nSYSLOG_IDENTIFIER={ident}\nPRIORITY=5\n_PID={}\n_UID=0\n_TRANSPORT=syslog\nMESSAGE={msg}\n\n",
            t0 + i as u64,
            t0 - 1_764_000_000_000_000 + i as u64,
            100 + i
        ));
    }
    let out = dir.join(format!("{name}.journal"));
    let bin = [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .find(|b| Path::new(b).exists())
    .expect("systemd-journal-remote (Debian systemd-journal-remote; scripts/test.sh installs it)");
    let mut c = Command::new(bin)
        .arg(format!("--output={}", out.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "systemd-journal-remote: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn forward_journal_resumes_at_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let a = journal_file(
        d,
        "a",
        &[
            (
                "sshd",
                "Failed password for root from 203.0.113.9 port 50022 ssh2",
            ),
            (
                "sudo",
                "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
            ),
            ("cron", "job ran jmark1"),
        ],
        1_764_669_600_000_000,
    );
    let af = format!("--journal-file={}", a.display());
    let o = forward(&url, &writer, d, &[&af, "--from-start"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = wait_events(&server.addr, &auditor, "*", "3 entries", |e| e.len() >= 3);
    let actions: Vec<&str> = all.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["auth.login", "privilege.sudo", "journal.message"]);
    assert_eq!(all[0]["actor"]["ip"], "203.0.113.9");
    assert_eq!(all[0]["source"]["host"], "jhost");
    assert_eq!(all[0]["severity"], "notice");
    assert_eq!(all[0]["time"], "2025-12-02T10:00:00.000000000Z");
    assert!(all[0]["metadata"]["journal"]["cursor"].as_str().is_some());
    // A second journal file with later entries: the next run ships only
    // those, after the acknowledged cursor.
    let b = journal_file(
        d,
        "b",
        &[("cron", "job ran jmark2"), ("cron", "job ran jmark3")],
        1_764_669_700_000_000,
    );
    let bf = format!("--journal-file={}", b.display());
    let o = forward(&url, &writer, d, &[&af, &bf]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let msgs: Vec<String> = wait_events(
        &server.addr,
        &auditor,
        "journal.message",
        "3 cron entries",
        |e| e.len() >= 3,
    )
    .iter()
    .map(|e| e["message"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(
        msgs,
        ["job ran jmark1", "job ran jmark2", "job ran jmark3"],
        "each entry once"
    );
    // Without --from-start and without a state: only what comes later.
    let o = Command::new(common::bin())
        .args([
            "forward", "--server", &url, "--token", &writer, "--once", &af,
        ])
        .arg("--state")
        .arg(d.join("other.state"))
        .arg("--spool")
        .arg(d.join("other.spool"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        events(&server.addr, &auditor, "*").len(),
        5,
        "a first start begins at the end"
    );
    common::stop(server.child);
    common::unflag(d);
}

/// Appends entries to a journal file (systemd-journal-remote adds to an
/// existing file).
fn journal_append(dir: &Path, name: &str, entries: &[(&str, &str)], t0: u64) {
    journal_file(dir, name, entries, t0);
}

#[test]
fn forward_journal_follows_and_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let a = journal_file(d, "f", &[("app", "follow f1")], 1_764_669_800_000_000);
    let spawn = || {
        Command::new(common::bin())
            .args([
                "forward",
                "--server",
                &url,
                "--token",
                &writer,
                "--from-start",
            ])
            .arg(format!("--journal-file={}", a.display()))
            .arg("--state")
            .arg(d.join("j.state"))
            .arg("--spool")
            .arg(d.join("j.spool"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let messages = |n: usize| -> Vec<String> {
        wait_events(
            &server.addr,
            &auditor,
            "journal.message",
            "followed entries",
            |e| e.len() >= n,
        )
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
    };
    let mut fwd = spawn();
    assert_eq!(messages(1), ["follow f1"]);
    journal_append(d, "f", &[("app", "follow f2")], 1_764_669_801_000_000);
    assert_eq!(messages(2), ["follow f1", "follow f2"]);
    // Killed; an entry written while it is down; started again: resumed
    // after the acknowledged cursor.
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    journal_append(d, "f", &[("app", "follow f3")], 1_764_669_802_000_000);
    let mut fwd = spawn();
    assert_eq!(messages(3), ["follow f1", "follow f2", "follow f3"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        events(&server.addr, &auditor, "journal.message").len(),
        3,
        "nothing twice"
    );
    fwd.kill().unwrap();
    fwd.wait().unwrap();
    common::stop(server.child);
    common::unflag(d);
}

fn watcher(url: &str, token: &str, dir: &Path, tree: &Path) -> Child {
    Command::new(common::bin())
        .args([
            "watch",
            "--server",
            url,
            "--token",
            token,
            "--quiet-ms",
            "200",
        ])
        .arg("--state")
        .arg(dir.join("watch.state"))
        .arg("--spool")
        .arg(dir.join("watch.spool"))
        .arg(tree)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the watcher's "watching … recorded …" line.
fn ready(c: &mut Child) -> String {
    use std::io::BufRead as _;
    let mut r = std::io::BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("watching"), "{line}");
    std::thread::spawn(move || for _ in r.lines() {});
    line
}

#[test]
fn watch_records_changes_live_and_while_stopped() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tree = d.join("etc");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("passwd"), "root:x:0:0\n").unwrap();
    std::fs::write(tree.join("shadow"), "root:*:1\n").unwrap();
    std::fs::write(tree.join("sub/sshd_config"), "PermitRootLogin no\n").unwrap();
    let server = common::start(&d.join("data"));
    let (writer, auditor) = writer_and_auditor(&server);
    let url = format!("http://{}", server.addr);
    let mut w = watcher(&url, &writer, d, &tree);
    assert!(ready(&mut w).contains("a baseline of 3 files"));
    let base = wait_events(&server.addr, &auditor, "file.baseline", "baseline", |e| {
        e.len() == 3
    });
    let p = |name: &str| {
        std::fs::canonicalize(&tree)
            .unwrap()
            .join(name)
            .to_string_lossy()
            .into_owned()
    };
    let passwd_hash = base
        .iter()
        .find(|e| e["target"]["id"] == p("passwd"))
        .unwrap()["metadata"]["file"]["after"]["sha256"]
        .clone();
    assert_eq!(passwd_hash.as_str().map(str::len), Some(64));
    // Live: a burst of writes, a creation, a rename, a deletion, a chmod.
    for i in 0..20 {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(tree.join("passwd"))
            .unwrap();
        writeln!(f, "user{i}:x:{i}:{i}").unwrap();
    }
    std::fs::write(tree.join("new.conf"), "x=1\n").unwrap();
    std::fs::rename(tree.join("shadow"), tree.join("shadow.old")).unwrap();
    std::fs::remove_file(tree.join("sub/sshd_config")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::fs::set_permissions(
        tree.join("new.conf"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let got = wait_events(&server.addr, &auditor, "file.*", "live changes", |e| {
        [
            "file.modify",
            "file.create",
            "file.rename",
            "file.delete",
            "file.attribute",
        ]
        .iter()
        .all(|a| e.iter().any(|x| x["action"] == *a))
    });
    let one =
        |action: &str| -> Vec<&Value> { got.iter().filter(|x| x["action"] == action).collect() };
    let m = one("file.modify");
    assert_eq!(m.len(), 1, "a burst of writes is one event: {m:#?}");
    assert_eq!(m[0]["target"]["id"], p("passwd"));
    assert_ne!(m[0]["metadata"]["file"]["after"]["sha256"], passwd_hash);
    assert_eq!(m[0]["metadata"]["file"]["before"]["sha256"], passwd_hash);
    let r = one("file.rename");
    assert_eq!(
        (
            r[0]["target"]["id"].as_str(),
            r[0]["metadata"]["file"]["from"].as_str()
        ),
        (Some(p("shadow.old").as_str()), Some(p("shadow").as_str()))
    );
    assert_eq!(one("file.delete")[0]["target"]["id"], p("sub/sshd_config"));
    assert_eq!(
        one("file.attribute")[0]["metadata"]["file"]["after"]["mode"],
        "600"
    );
    assert_eq!(one("file.create")[0]["target"]["id"], p("new.conf"));
    // Stopped hard; a change and a new file while it is down; started again.
    w.kill().unwrap();
    w.wait().unwrap();
    std::fs::write(tree.join("passwd"), "root:x:0:0\nmallory:x:0:0\n").unwrap();
    std::fs::write(
        tree.join("sub/authorized_keys"),
        "ssh-ed25519 AAAA mallory\n",
    )
    .unwrap();
    let mut w = watcher(&url, &writer, d, &tree);
    assert!(ready(&mut w).contains("2 changes since the last run"));
    let got = wait_events(
        &server.addr,
        &auditor,
        "file.*",
        "changes while stopped",
        |e| {
            e.iter()
                .filter(|x| x["metadata"]["file"]["while_stopped"] == true)
                .count()
                == 2
        },
    );
    let stopped: Vec<(&str, &str)> = got
        .iter()
        .filter(|x| x["metadata"]["file"]["while_stopped"] == true)
        .map(|x| {
            (
                x["action"].as_str().unwrap(),
                x["target"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stopped,
        [
            ("file.modify", p("passwd").as_str()),
            ("file.create", p("sub/authorized_keys").as_str())
        ]
    );
    w.kill().unwrap();
    w.wait().unwrap();
    common::stop(server.child);
    common::unflag(d);
}
