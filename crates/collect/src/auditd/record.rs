//! One line of the kernel audit log (`/var/log/audit/audit.log`, or what
//! an audisp plugin reads): `[node=N ]type=T msg=audit(SECS.MILLIS:SERIAL): k=v …`,
//! with the fields a user-space record nests in `msg='…'` flattened in, and
//! the `ENRICHED` format's translated fields (after a 0x1d byte) kept apart.
//! Values the kernel hex-encodes (a path with a space, a command line) are
//! decoded.

/// Why a line is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// No `type=` field at its start.
    #[error("no type= at the start")]
    NoType,
    /// No `msg=audit(SECS.MILLIS:SERIAL):` after the type.
    #[error("no msg=audit(SECONDS.MILLIS:SERIAL): after the type")]
    NoStamp,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `node=` (the host, when auditd's `name_format` adds it).
    pub node: Option<String>,
    /// `type=` (SYSCALL, PATH, USER_LOGIN, …).
    pub kind: String,
    /// Seconds since the epoch.
    pub secs: i64,
    /// Milliseconds.
    pub millis: u32,
    /// The serial number: records of one event share it (and the time).
    pub serial: u64,
    /// The fields, in order, decoded (`key=value`; a user-space record's
    /// `msg='…'` fields flattened in).
    pub fields: Vec<(String, String)>,
    /// The `ENRICHED` format's translations (`AUID="alice"`), if any.
    pub enriched: Vec<(String, String)>,
}

impl Record {
    /// The first value of field `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The enriched (translated) value of `key` (`AUID`, `UID`, `SYSCALL`).
    pub fn enriched(&self, key: &str) -> Option<&str> {
        self.enriched
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Fields the kernel and the audit tools hex-encode when their value holds
/// a space, a quote, a control character or a byte above 0x7e (then the
/// value is written bare, as hex; else in double quotes).
const ENCODED: &[&str] = &[
    "name",
    "cwd",
    "exe",
    "comm",
    "cmd",
    "proctitle",
    "path",
    "key",
    "acct",
    "data",
    "old-chardev",
    "new-chardev",
    "root_dir",
    "ocomm",
    "watch",
    "dir",
    "file",
    "sw",
    "vm",
    "grp",
    "new_group",
];

/// Parses one line.
///
/// # Errors
/// A line that is not an audit record (see [`RecordError`]).
pub fn parse(line: &str) -> Result<Record, RecordError> {
    let line = line.trim_end_matches(['\n', '\r']);
    // The enriched part, if any, comes after a 0x1d byte.
    let (main, enriched) = match line.split_once('\u{1d}') {
        Some((m, e)) => (m, Some(e)),
        None => (line, None),
    };
    let mut rest = main.trim_start();
    let mut node = None;
    if let Some(r) = rest.strip_prefix("node=") {
        let end = r.find(' ').unwrap_or(r.len());
        node = Some(r[..end].to_owned());
        rest = r[end..].trim_start();
    }
    let r = rest.strip_prefix("type=").ok_or(RecordError::NoType)?;
    let end = r.find(' ').ok_or(RecordError::NoStamp)?;
    let kind = r[..end].to_owned();
    let r = r[end..].trim_start();
    let r = r.strip_prefix("msg=audit(").ok_or(RecordError::NoStamp)?;
    let close = r.find(')').ok_or(RecordError::NoStamp)?;
    let (stamp, after) = (&r[..close], &r[close + 1..]);
    let after = after.strip_prefix(':').ok_or(RecordError::NoStamp)?;
    let (time, serial) = stamp.split_once(':').ok_or(RecordError::NoStamp)?;
    let (secs, millis) = time.split_once('.').ok_or(RecordError::NoStamp)?;
    let secs: i64 = secs.parse().map_err(|_| RecordError::NoStamp)?;
    let millis: u32 = millis.parse().map_err(|_| RecordError::NoStamp)?;
    let serial: u64 = serial.parse().map_err(|_| RecordError::NoStamp)?;
    if kind.is_empty() || millis > 999 {
        return Err(RecordError::NoStamp);
    }
    let mut fields = Vec::new();
    split_fields(&kind, after, &mut fields, true);
    let mut translated = Vec::new();
    if let Some(e) = enriched {
        split_fields(&kind, e, &mut translated, false);
    }
    Ok(Record {
        node,
        kind,
        secs,
        millis,
        serial,
        fields,
        enriched: translated,
    })
}

/// Splits `k=v k2="v 2" msg='k3=v3 …'` into decoded pairs (`msg='…'`
/// flattened in when `nested`).
fn split_fields(kind: &str, mut s: &str, out: &mut Vec<(String, String)>, nested: bool) {
    loop {
        s = s.trim_start_matches([' ', '\u{1d}']);
        if s.is_empty() {
            return;
        }
        let Some(eq) = s.find('=') else {
            // A word without a value (seen in some records): kept as is.
            let end = s.find(' ').unwrap_or(s.len());
            out.push((s[..end].to_owned(), String::new()));
            s = &s[end..];
            continue;
        };
        let space = s.find(' ').unwrap_or(s.len());
        if space < eq {
            out.push((s[..space].to_owned(), String::new()));
            s = &s[space..];
            continue;
        }
        let key = &s[..eq];
        let v = &s[eq + 1..];
        let (value, quoted, rest) = match v.as_bytes().first() {
            Some(b'"') => match v[1..].find('"') {
                Some(i) => (&v[1..1 + i], true, &v[2 + i..]),
                None => (&v[1..], true, ""),
            },
            Some(b'\'') => match v[1..].find('\'') {
                Some(i) => (&v[1..1 + i], true, &v[2 + i..]),
                None => (&v[1..], true, ""),
            },
            _ => {
                let end = v.find(' ').unwrap_or(v.len());
                (&v[..end], false, &v[end..])
            }
        };
        if nested && key == "msg" && v.starts_with('\'') {
            split_fields(kind, value, out, false);
        } else {
            out.push((key.to_owned(), decode(kind, key, value, quoted)));
        }
        s = rest;
    }
}

/// A value as it was meant: a bare hex value of an encoded field decoded
/// (NUL bytes, which separate a command line's arguments, as spaces).
fn decode(kind: &str, key: &str, value: &str, quoted: bool) -> String {
    let encoded = ENCODED.contains(&key) || (kind == "EXECVE" && is_execve_arg(key));
    if quoted || !encoded || value.len() < 2 || value.len() % 2 != 0 || value == "(null)" {
        return value.to_owned();
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    {
        return value.to_owned();
    }
    let bytes: Vec<u8> = (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&value[i..i + 2], 16).expect("hex digits"))
        .collect();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if key == "key" {
        // Several keys are joined with 0x01.
        return text.replace('\u{1}', ",");
    }
    text.trim_end_matches('\0').replace('\0', " ")
}

/// `a0`, `a1`, … of an EXECVE record (and `a0[0]` for long arguments).
fn is_execve_arg(key: &str) -> bool {
    key.strip_prefix('a')
        .map(|r| r.split('[').next().unwrap_or(""))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syscall_record_with_quoted_and_bare_values() {
        let r = parse(r#"type=SYSCALL msg=audit(1764669600.123:4242): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55d0c1e2b2a0 a2=241 a3=1b6 items=2 ppid=811 pid=2990 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="vi" exe="/usr/bin/vim.basic" subj=unconfined key="identity""#).unwrap();
        assert_eq!(
            (r.kind.as_str(), r.secs, r.millis, r.serial),
            ("SYSCALL", 1_764_669_600, 123, 4242)
        );
        assert_eq!(r.get("syscall"), Some("257"));
        assert_eq!(r.get("exe"), Some("/usr/bin/vim.basic"));
        assert_eq!(r.get("key"), Some("identity"));
        assert_eq!(r.get("auid"), Some("1000"));
        // SYSCALL's a0..a3 are registers, not EXECVE arguments: numbers
        // stay as they are.
        assert_eq!(r.get("a0"), Some("ffffff9c"));
    }

    #[test]
    fn hex_encoded_values_are_decoded() {
        // PROCTITLE: argv joined by NUL, hex.
        let r = parse(
            "type=PROCTITLE msg=audit(1764669600.123:4242): proctitle=7669002F6574632F706173737764",
        )
        .unwrap();
        assert_eq!(r.get("proctitle"), Some("vi /etc/passwd"));
        // A path with a space.
        let r = parse("type=PATH msg=audit(1764669600.123:4242): item=1 name=2F746D702F6D792066696C65 inode=1234 dev=fd:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0").unwrap();
        assert_eq!(r.get("name"), Some("/tmp/my file"));
        assert_eq!(r.get("nametype"), Some("CREATE"));
        // EXECVE arguments, one bare hex, one quoted.
        let r = parse(r#"type=EXECVE msg=audit(1764669601.000:4250): argc=3 a0="grep" a1=2D6520782079 a2="/etc/shadow""#).unwrap();
        assert_eq!(
            (r.get("a0"), r.get("a1"), r.get("a2")),
            (Some("grep"), Some("-e x y"), Some("/etc/shadow"))
        );
        // Several keys.
        let r = parse("type=SYSCALL msg=audit(1.000:1): key=6964656E74697479017065726D73").unwrap();
        assert_eq!(r.get("key"), Some("identity,perms"));
        // (null) and ? stay.
        let r = parse("type=SYSCALL msg=audit(1.000:1): key=(null) exe=?").unwrap();
        assert_eq!((r.get("key"), r.get("exe")), (Some("(null)"), Some("?")));
    }

    #[test]
    fn user_space_records_nest_their_fields_in_msg() {
        let r = parse("type=USER_LOGIN msg=audit(1764669700.500:512): pid=4011 uid=0 auid=1000 ses=7 subj=unconfined msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=192.0.2.7 addr=192.0.2.7 terminal=/dev/pts/1 res=success'").unwrap();
        assert_eq!(r.get("op"), Some("login"));
        assert_eq!(r.get("exe"), Some("/usr/sbin/sshd"));
        assert_eq!(r.get("addr"), Some("192.0.2.7"));
        assert_eq!(r.get("res"), Some("success"));
        assert_eq!(r.get("id"), Some("1000"));
        // USER_CMD: the command hex-encoded.
        let r = parse("type=USER_CMD msg=audit(1764669800.000:600): pid=5000 uid=1000 auid=1000 ses=7 msg='cwd=\"/home/alice\" cmd=7461696C202D6E2035202F7661722F6C6F672F61757468 exe=\"/usr/bin/sudo\" terminal=pts/1 res=success'").unwrap();
        assert_eq!(r.get("cmd"), Some("tail -n 5 /var/log/auth"));
    }

    #[test]
    fn node_prefix_and_enriched_fields() {
        let r = parse("node=web-1 type=USER_AUTH msg=audit(1764669700.400:511): pid=4011 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"mallory\" exe=\"/usr/sbin/sshd\" hostname=198.51.100.4 addr=198.51.100.4 terminal=ssh res=failed'\u{1d}UID=\"root\" AUID=\"unset\"").unwrap();
        assert_eq!(r.node.as_deref(), Some("web-1"));
        assert_eq!(r.get("acct"), Some("mallory"));
        assert_eq!(r.get("res"), Some("failed"));
        assert_eq!(r.enriched("UID"), Some("root"));
        assert_eq!(r.enriched("AUID"), Some("unset"));
    }

    #[test]
    fn lines_that_are_not_records() {
        assert_eq!(parse("hello"), Err(RecordError::NoType));
        assert_eq!(
            parse("type=SYSCALL msg=audit(x): a=b"),
            Err(RecordError::NoStamp)
        );
        assert_eq!(
            parse("type=SYSCALL msg=audit(1.5000:1): a=b"),
            Err(RecordError::NoStamp)
        );
        assert_eq!(parse("type=SYSCALL"), Err(RecordError::NoStamp));
    }
}
