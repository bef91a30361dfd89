//! File-integrity watching's pure part (`veritrail watch`): what a file
//! looks like ([`FileState`]), how two scans differ ([`diff`], with
//! renames found by inode and content), how a burst of notifications
//! becomes one change ([`Coalescer`], with an injected clock), and the
//! audit event for a change ([`to_event`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What is known of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Size in bytes.
    pub size: u64,
    /// Permission bits and type (`st_mode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Inode number (renames are found by it).
    pub inode: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// SHA-256 of the content (hex); `None` when the file is larger than
    /// the cap, or could not be read.
    pub sha256: Option<String>,
}

impl FileState {
    /// Whether the content differs (by hash when both have one, else by
    /// size and modification time).
    pub fn content_differs(&self, other: &FileState) -> bool {
        match (&self.sha256, &other.sha256) {
            (Some(a), Some(b)) => a != b,
            _ => self.size != other.size || self.mtime_ns != other.mtime_ns,
        }
    }

    /// Whether owner, group or mode differ.
    pub fn attributes_differ(&self, other: &FileState) -> bool {
        self.mode != other.mode || self.uid != other.uid || self.gid != other.gid
    }
}

/// Every file under the watched paths, by path.
pub type Snapshot = BTreeMap<String, FileState>;

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Recorded at the first start: the file as it was.
    Baseline,
    /// It appeared.
    Create,
    /// Its content changed.
    Modify,
    /// Only its owner, group or mode changed.
    Attribute,
    /// It went away.
    Delete,
    /// It moved (`from` names where it was).
    Rename,
}

impl Kind {
    /// The event's action.
    pub fn action(self) -> &'static str {
        match self {
            Kind::Baseline => "file.baseline",
            Kind::Create => "file.create",
            Kind::Modify => "file.modify",
            Kind::Attribute => "file.attribute",
            Kind::Delete => "file.delete",
            Kind::Rename => "file.rename",
        }
    }
}

/// One change to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub kind: Kind,
    /// The file's path (its new path for a rename).
    pub path: String,
    /// Its old path (a rename).
    pub from: Option<String>,
    /// What it was, if known.
    pub before: Option<FileState>,
    /// What it is (none once deleted).
    pub after: Option<FileState>,
    /// Notifications coalesced into this change.
    pub count: u64,
    /// Found by comparing with the last scan: it happened while no
    /// watcher ran.
    pub while_stopped: bool,
}

/// The changes between two scans: created, modified (content), attribute
/// (owner, group, mode only), deleted — and a file deleted at one path and
/// created at another with the same inode and content as a rename. In
/// path order.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    let gone: Vec<(&String, &FileState)> =
        old.iter().filter(|(p, _)| !new.contains_key(*p)).collect();
    let mut renamed_from: BTreeMap<&String, &String> = BTreeMap::new();
    for (path, now) in new {
        match old.get(path) {
            None => {
                let from = gone.iter().find(|(p, was)| {
                    was.inode == now.inode
                        && !was.content_differs(now)
                        && !renamed_from.values().any(|f| f == p)
                });
                match from {
                    Some((from, was)) => {
                        renamed_from.insert(path, from);
                        out.push(Change {
                            kind: Kind::Rename,
                            path: path.clone(),
                            from: Some((*from).clone()),
                            before: Some((*was).clone()),
                            after: Some(now.clone()),
                            count: 1,
                            while_stopped: true,
                        });
                    }
                    None => out.push(Change {
                        kind: Kind::Create,
                        path: path.clone(),
                        from: None,
                        before: None,
                        after: Some(now.clone()),
                        count: 1,
                        while_stopped: true,
                    }),
                }
            }
            Some(was) => {
                let kind = if was.content_differs(now) {
                    Kind::Modify
                } else if was.attributes_differ(now) {
                    Kind::Attribute
                } else {
                    continue;
                };
                out.push(Change {
                    kind,
                    path: path.clone(),
                    from: None,
                    before: Some(was.clone()),
                    after: Some(now.clone()),
                    count: 1,
                    while_stopped: true,
                });
            }
        }
    }
    for (path, was) in gone {
        if renamed_from.values().any(|f| *f == path) {
            continue;
        }
        out.push(Change {
            kind: Kind::Delete,
            path: path.clone(),
            from: None,
            before: Some(was.clone()),
            after: None,
            count: 1,
            while_stopped: true,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What a notification said happened to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noticed {
    /// Created, written, truncated, its attributes changed, or deleted —
    /// which of these is decided by looking at the file when the burst
    /// is over.
    Touched,
    /// Moved here from another path.
    MovedFrom,
}

/// Coalesces bursts: a path is due once it has been quiet for `quiet`,
/// or `longest` after its first notification even if writes go on.
#[derive(Debug)]
pub struct Coalescer {
    quiet: Duration,
    longest: Duration,
    /// path → (first, last, count, moved from)
    open: BTreeMap<String, (Duration, Duration, u64, Option<String>)>,
}

impl Coalescer {
    /// A coalescer.
    pub fn new(quiet: Duration, longest: Duration) -> Coalescer {
        Coalescer {
            quiet,
            longest,
            open: BTreeMap::new(),
        }
    }

    /// Notes a notification for `path` at `now` (any monotonic clock).
    /// `from`: the old path of a rename.
    pub fn note(&mut self, path: &str, from: Option<&str>, now: Duration) {
        let e = self
            .open
            .entry(path.to_owned())
            .or_insert((now, now, 0, None));
        e.1 = now;
        e.2 += 1;
        if let Some(f) = from {
            e.3 = Some(f.to_owned());
        }
    }

    /// Paths whose burst is over at `now`: (path, notifications, moved
    /// from), in path order.
    pub fn due(&mut self, now: Duration) -> Vec<(String, u64, Option<String>)> {
        let ready: Vec<String> = self
            .open
            .iter()
            .filter(|(_, (first, last, _, _))| {
                now.saturating_sub(*last) >= self.quiet
                    || now.saturating_sub(*first) >= self.longest
            })
            .map(|(p, _)| p.clone())
            .collect();
        ready
            .into_iter()
            .map(|p| {
                let (_, _, n, from) = self.open.remove(&p).expect("listed");
                (p, n, from)
            })
            .collect()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// Decides what a burst on `path` was, from what the file was and is.
/// `None` when nothing an audit cares about changed (it was only read, or
/// created and deleted again within the burst).
pub fn classify(
    path: &str,
    before: Option<&FileState>,
    after: Option<&FileState>,
    count: u64,
    from: Option<String>,
) -> Option<Change> {
    let kind = match (before, after, &from) {
        (_, Some(_), Some(_)) => Kind::Rename,
        (None, Some(_), None) => Kind::Create,
        (Some(_), None, _) => Kind::Delete,
        (Some(b), Some(a), None) if b.content_differs(a) || b.inode != a.inode => Kind::Modify,
        (Some(b), Some(a), None) if b.attributes_differ(a) => Kind::Attribute,
        _ => return None,
    };
    Some(Change {
        kind,
        path: path.to_owned(),
        from,
        before: before.cloned(),
        after: after.cloned(),
        count,
        while_stopped: false,
    })
}

fn state_json(s: &FileState) -> Value {
    let mut m = Map::new();
    m.insert("size".into(), json!(s.size));
    m.insert("mode".into(), json!(format!("{:o}", s.mode & 0o7777)));
    m.insert("uid".into(), json!(s.uid));
    m.insert("gid".into(), json!(s.gid));
    m.insert("inode".into(), json!(s.inode));
    if let Some(h) = &s.sha256 {
        m.insert("sha256".into(), json!(h));
    }
    Value::Object(m)
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The audit event (JSON bytes) for a change seen on `host`.
pub fn to_event(c: &Change, host: &str) -> Vec<u8> {
    let mut file = Map::new();
    file.insert("path".into(), json!(cut(&c.path, 4096)));
    if let Some(f) = &c.from {
        file.insert("from".into(), json!(cut(f, 4096)));
    }
    if let Some(a) = &c.after {
        file.insert("after".into(), state_json(a));
    }
    if let Some(b) = &c.before {
        file.insert("before".into(), state_json(b));
    }
    if c.count > 1 {
        file.insert("notifications".into(), json!(c.count));
    }
    if c.while_stopped {
        file.insert("while_stopped".into(), json!(true));
    }
    let verb = match c.kind {
        Kind::Baseline => "is",
        Kind::Create => "created",
        Kind::Modify => "modified",
        Kind::Attribute => "attributes changed",
        Kind::Delete => "deleted",
        Kind::Rename => "renamed",
    };
    let when = if c.while_stopped {
        " while the watcher was stopped"
    } else {
        ""
    };
    let message = match &c.from {
        Some(f) => format!("{f} {verb} to {}{when}", c.path),
        None => format!("{} {verb}{when}", c.path),
    };
    let ev = json!({
        "action": c.kind.action(),
        "actor": {"id": cut(host, 256), "type": "host"},
        "outcome": "success",
        "target": {"type": "file", "id": cut(&c.path, 255)},
        "source": {"host": cut(host, 255), "app": "veritrail-watch"},
        "message": cut(&message, 8192),
        "metadata": {"file": file},
    });
    crate::finish(ev, "watch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use veritrail_core::Event;

    fn st(inode: u64, hash: &str, mode: u32) -> FileState {
        FileState {
            size: hash.len() as u64,
            mode: 0o100_000 | mode,
            uid: 0,
            gid: 0,
            inode,
            mtime_ns: 1,
            sha256: Some(hash.into()),
        }
    }

    #[test]
    fn diff_finds_every_kind_of_change_and_renames_by_inode() {
        let old: Snapshot = [
            ("/e/a".to_owned(), st(1, "aa", 0o644)),
            ("/e/b".to_owned(), st(2, "bb", 0o644)),
            ("/e/c".to_owned(), st(3, "cc", 0o644)),
            ("/e/d".to_owned(), st(4, "dd", 0o644)),
            ("/e/same".to_owned(), st(5, "ss", 0o644)),
        ]
        .into();
        let new: Snapshot = [
            ("/e/a".to_owned(), st(1, "AA", 0o644)),  // content
            ("/e/b".to_owned(), st(2, "bb", 0o600)),  // mode
            ("/e/c2".to_owned(), st(3, "cc", 0o644)), // renamed from c
            ("/e/new".to_owned(), st(9, "nn", 0o644)),
            ("/e/same".to_owned(), st(5, "ss", 0o644)),
        ]
        .into();
        let got: Vec<(Kind, String, Option<String>)> = diff(&old, &new)
            .into_iter()
            .map(|c| (c.kind, c.path, c.from))
            .collect();
        let s = |x: &str| x.to_owned();
        assert_eq!(
            got,
            vec![
                (Kind::Modify, s("/e/a"), None),
                (Kind::Attribute, s("/e/b"), None),
                (Kind::Rename, s("/e/c2"), Some(s("/e/c"))),
                (Kind::Delete, s("/e/d"), None),
                (Kind::Create, s("/e/new"), None),
            ]
        );
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn a_burst_is_one_change_with_its_count() {
        let ms = Duration::from_millis;
        let mut c = Coalescer::new(ms(500), ms(5000));
        for t in 0..10 {
            c.note("/e/a", None, ms(t * 100));
        }
        assert!(c.due(ms(1200)).is_empty(), "still writing 300 ms ago");
        assert_eq!(c.due(ms(1400)), vec![("/e/a".to_owned(), 10, None)]);
        // Writes that never stop are reported after `longest` anyway.
        let mut got = Vec::new();
        for t in 0..60 {
            let now = ms(10_000 + t * 100);
            c.note("/e/log", None, now);
            got.extend(c.due(now).into_iter().map(|d| (now, d)));
        }
        assert_eq!(got, vec![(ms(15_000), ("/e/log".to_owned(), 51, None))]);
        // The writes after it are the next burst.
        assert_eq!(c.due(ms(20_000)), vec![("/e/log".to_owned(), 9, None)]);
    }

    #[test]
    fn classify_and_events() {
        let a = st(1, "aa", 0o644);
        let b = st(1, "bb", 0o644);
        let m = st(1, "aa", 0o600);
        assert_eq!(
            classify("/p", None, Some(&a), 1, None).unwrap().kind,
            Kind::Create
        );
        assert_eq!(
            classify("/p", Some(&a), Some(&b), 3, None).unwrap().kind,
            Kind::Modify
        );
        assert_eq!(
            classify("/p", Some(&a), Some(&m), 1, None).unwrap().kind,
            Kind::Attribute
        );
        assert_eq!(
            classify("/p", Some(&a), None, 1, None).unwrap().kind,
            Kind::Delete
        );
        assert_eq!(
            classify("/q", None, Some(&a), 1, Some("/p".into()))
                .unwrap()
                .kind,
            Kind::Rename
        );
        assert_eq!(
            classify("/p", Some(&a), Some(&a), 1, None),
            None,
            "read, not changed"
        );
        assert_eq!(
            classify("/p", None, None, 2, None),
            None,
            "created and gone again"
        );
        let c = classify("/etc/passwd", Some(&a), Some(&b), 3, None).unwrap();
        let bytes = to_event(&c, "web-1");
        Event::parse(&bytes).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["action"], "file.modify");
        assert_eq!(v["target"], json!({"type": "file", "id": "/etc/passwd"}));
        assert_eq!(v["metadata"]["file"]["after"]["sha256"], "bb");
        assert_eq!(v["metadata"]["file"]["before"]["sha256"], "aa");
        assert_eq!(v["metadata"]["file"]["after"]["mode"], "644");
        assert_eq!(v["metadata"]["file"]["notifications"], 3);
    }
}
