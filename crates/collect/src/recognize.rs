//! Recognizers: the security events that matter most, read out of the
//! message text that hosts emit — sshd, sudo, su, PAM, the shadow-utils
//! account tools (useradd, userdel, usermod, groupadd, groupdel, passwd,
//! chpasswd), login and systemd-logind. One table ([`RULES`]), each row a
//! program (or any), a pattern and what a match means; each row is tested
//! against real sample lines below.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What a recognized message is, as an audit event's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recognized {
    /// Dotted action, e.g. `auth.login`.
    pub action: &'static str,
    /// `success`, `failure` or `unknown`.
    pub outcome: &'static str,
    /// Who acted (a user name), if the message says.
    pub actor: Option<String>,
    /// From where (an IP address or host name), if the message says.
    pub remote: Option<String>,
    /// What was acted on: (type, id).
    pub target: Option<(&'static str, String)>,
    /// Other fields the message carries (reason, method, run_as, …).
    pub details: Vec<(&'static str, String)>,
    /// The rule that matched.
    pub rule: &'static str,
}

/// One row of the table.
pub struct Rule {
    /// Its name (`sshd.accepted`), recorded with what it recognized.
    pub name: &'static str,
    /// The programs whose messages it reads (empty: any).
    pub apps: &'static [&'static str],
    /// The pattern, matched against the message text.
    pub pattern: &'static str,
    /// What a match means.
    pub make: fn(&Captures<'_>) -> Recognized,
}

fn s(c: &Captures<'_>, name: &str) -> Option<String> {
    c.name(name)
        .map(|m| m.as_str().to_owned())
        .filter(|v| !v.is_empty())
}

fn event(action: &'static str, outcome: &'static str, c: &Captures<'_>) -> Recognized {
    Recognized {
        action,
        outcome,
        actor: s(c, "user"),
        remote: s(c, "ip"),
        ..Recognized::default()
    }
}

fn with(mut r: Recognized, k: &'static str, v: Option<String>) -> Recognized {
    if let Some(v) = v {
        r.details.push((k, v));
    }
    r
}

fn target(mut r: Recognized, ty: &'static str, id: Option<String>) -> Recognized {
    r.target = id.map(|id| (ty, id));
    r
}

const SSHD: &[&str] = &["sshd", "sshd-session", "sshd-auth"];
const ACCOUNT: &[&str] = &[
    "useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "passwd", "chpasswd",
    "chage", "gpasswd",
];

/// The table, first match wins (rows for a program before rows for any).
pub static RULES: &[Rule] = &[
    Rule {
        name: "sshd.accepted",
        apps: SSHD,
        pattern: r"^Accepted (?P<method>\S+) for (?P<user>\S+) from (?P<ip>\S+) port (?P<port>\d+)",
        make: |c| {
            with(
                with(event("auth.login", "success", c), "method", s(c, "method")),
                "port",
                s(c, "port"),
            )
        },
    },
    Rule {
        name: "sshd.failed",
        apps: SSHD,
        pattern: r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>\S*) from (?P<ip>\S+) port (?P<port>\d+)",
        make: |c| {
            let r = with(
                with(event("auth.login", "failure", c), "method", s(c, "method")),
                "port",
                s(c, "port"),
            );
            with(
                r,
                "reason",
                c.name("invalid").map(|_| "invalid_user".to_owned()),
            )
        },
    },
    Rule {
        name: "sshd.invalid_user",
        apps: SSHD,
        pattern: r"^Invalid user (?P<user>\S*) from (?P<ip>\S+)(?: port (?P<port>\d+))?",
        make: |c| {
            with(
                with(
                    event("auth.login", "failure", c),
                    "reason",
                    Some("invalid_user".into()),
                ),
                "port",
                s(c, "port"),
            )
        },
    },
    Rule {
        name: "sshd.too_many_failures",
        apps: SSHD,
        pattern: r"(?:maximum authentication attempts exceeded for|Disconnecting (?:authenticating|invalid) user)(?: invalid user)? (?P<user>\S+)(?: from)? (?P<ip>\S+) port (?P<port>\d+)",
        make: |c| {
            with(
                event("auth.login", "failure", c),
                "reason",
                Some("too_many_authentication_failures".into()),
            )
        },
    },
    Rule {
        name: "sshd.disconnected",
        apps: SSHD,
        pattern: r"^Disconnected from user (?P<user>\S+) (?P<ip>\S+) port (?P<port>\d+)",
        make: |c| event("auth.logout", "success", c),
    },
    Rule {
        name: "sshd.received_disconnect",
        apps: SSHD,
        pattern: r"^Received disconnect from (?P<ip>\S+?)(?: port (?P<port>\d+))?:(?P<code>\d+): (?P<reason>.*?)(?: \[preauth\])?$",
        make: |c| {
            with(
                event("auth.disconnect", "unknown", c),
                "reason",
                s(c, "reason"),
            )
        },
    },
    Rule {
        name: "sudo.denied",
        apps: &["sudo"],
        pattern: r"^\s*(?P<user>\S+) : (?P<why>user NOT in sudoers|command not allowed|\d+ incorrect password attempts?|a password is required) ; TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; USER=(?P<runas>\S+) ; (?:.*?; )?COMMAND=(?P<command>.*)$",
        make: |c| {
            let why = c.name("why").map_or("", |m| m.as_str());
            let reason = if why.starts_with("user NOT") {
                "not_in_sudoers"
            } else if why.contains("incorrect password") {
                "incorrect_password"
            } else if why.starts_with("command not allowed") {
                "command_not_allowed"
            } else {
                "password_required"
            };
            let r = target(
                event("privilege.sudo", "failure", c),
                "command",
                s(c, "command"),
            );
            with(
                with(
                    with(r, "reason", Some(reason.into())),
                    "run_as",
                    s(c, "runas"),
                ),
                "tty",
                s(c, "tty"),
            )
        },
    },
    Rule {
        name: "sudo.command",
        apps: &["sudo"],
        pattern: r"^\s*(?P<user>\S+) : TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; USER=(?P<runas>\S+) ; (?:.*?; )?COMMAND=(?P<command>.*)$",
        make: |c| {
            let r = target(
                event("privilege.sudo", "success", c),
                "command",
                s(c, "command"),
            );
            with(
                with(with(r, "run_as", s(c, "runas")), "tty", s(c, "tty")),
                "pwd",
                s(c, "pwd"),
            )
        },
    },
    Rule {
        name: "su.failed",
        apps: &["su"],
        pattern: r"^FAILED (?:SU|su) (?:\(to (?P<to>\S+)\) (?P<user>\S+)|for (?P<to2>\S+) by (?P<user2>\S+))(?: on (?P<tty>\S+))?",
        make: |c| {
            let mut r = event("privilege.su", "failure", c);
            r.actor = s(c, "user").or_else(|| s(c, "user2"));
            target(
                with(r, "tty", s(c, "tty")),
                "user",
                s(c, "to").or_else(|| s(c, "to2")),
            )
        },
    },
    Rule {
        name: "su.succeeded",
        apps: &["su"],
        pattern: r"^(?:\+ \S+ )?(?:\(to (?P<to>\S+)\) (?P<user>\S+)|Successful su for (?P<to2>\S+) by (?P<user2>\S+))(?: on (?P<tty>\S+))?",
        make: |c| {
            let mut r = event("privilege.su", "success", c);
            r.actor = s(c, "user").or_else(|| s(c, "user2"));
            target(
                with(r, "tty", s(c, "tty")),
                "user",
                s(c, "to").or_else(|| s(c, "to2")),
            )
        },
    },
    Rule {
        name: "account.useradd",
        apps: ACCOUNT,
        pattern: r"^new user: name=(?P<name>[^,\s]+), UID=(?P<uid>\d+)",
        make: |c| {
            with(
                target(
                    Recognized {
                        action: "account.create",
                        outcome: "success",
                        ..Recognized::default()
                    },
                    "user",
                    s(c, "name"),
                ),
                "uid",
                s(c, "uid"),
            )
        },
    },
    Rule {
        name: "account.groupadd",
        apps: ACCOUNT,
        pattern: r"^(?:new group|group added to /etc/group): name=(?P<name>[^,\s]+), GID=(?P<gid>\d+)",
        make: |c| {
            with(
                target(
                    Recognized {
                        action: "group.create",
                        outcome: "success",
                        ..Recognized::default()
                    },
                    "group",
                    s(c, "name"),
                ),
                "gid",
                s(c, "gid"),
            )
        },
    },
    Rule {
        name: "account.userdel",
        apps: ACCOUNT,
        pattern: r"^delete user '(?P<name>[^']+)'",
        make: |c| {
            target(
                Recognized {
                    action: "account.delete",
                    outcome: "success",
                    ..Recognized::default()
                },
                "user",
                s(c, "name"),
            )
        },
    },
    Rule {
        name: "account.groupdel",
        apps: ACCOUNT,
        pattern: r"^(?:removed group|group '(?P<name2>[^']+)' removed)(?: '(?P<name>[^']+)')?",
        make: |c| {
            target(
                Recognized {
                    action: "group.delete",
                    outcome: "success",
                    ..Recognized::default()
                },
                "group",
                s(c, "name").or_else(|| s(c, "name2")),
            )
        },
    },
    Rule {
        name: "account.usermod_group",
        apps: ACCOUNT,
        pattern: r"^add '(?P<name>[^']+)' to (?:shadow )?group '(?P<group>[^']+)'",
        make: |c| {
            with(
                with(
                    target(
                        Recognized {
                            action: "account.modify",
                            outcome: "success",
                            ..Recognized::default()
                        },
                        "user",
                        s(c, "name"),
                    ),
                    "change",
                    Some("group_add".into()),
                ),
                "group",
                s(c, "group"),
            )
        },
    },
    Rule {
        name: "account.usermod",
        apps: ACCOUNT,
        pattern: r"^change user '(?P<name>[^']+)' (?P<what>\S+)",
        make: |c| {
            with(
                target(
                    Recognized {
                        action: "account.modify",
                        outcome: "success",
                        ..Recognized::default()
                    },
                    "user",
                    s(c, "name"),
                ),
                "change",
                s(c, "what"),
            )
        },
    },
    Rule {
        name: "pam.password_changed",
        apps: &[],
        pattern: r"^pam_unix\((?P<service>[^:]+):chauthtok\): password changed for (?P<name>\S+)",
        make: |c| {
            with(
                with(
                    target(
                        Recognized {
                            action: "account.modify",
                            outcome: "success",
                            ..Recognized::default()
                        },
                        "user",
                        s(c, "name"),
                    ),
                    "change",
                    Some("password".into()),
                ),
                "service",
                s(c, "service"),
            )
        },
    },
    Rule {
        name: "pam.auth_failure",
        apps: &[],
        pattern: r"^pam_unix\((?P<service>[^:]+):auth\): authentication failure; logname=(?P<logname>\S*) uid=(?P<uid>\d*) euid=\d* tty=(?P<tty>\S*) ruser=(?P<ruser>\S*) rhost=(?P<ip>\S*)(?:\s+user=(?P<user>\S+))?",
        make: |c| {
            let mut r = event("auth.login", "failure", c);
            r.actor = s(c, "user")
                .or_else(|| s(c, "ruser"))
                .or_else(|| s(c, "logname"));
            with(with(r, "service", s(c, "service")), "tty", s(c, "tty"))
        },
    },
    Rule {
        name: "pam.su_session",
        apps: &["su"],
        pattern: r"^pam_unix\(su(?:-l)?:session\): session opened for user (?P<to>[^(\s]+)(?:\(uid=\d+\))? by (?P<user>[^(\s]*)",
        make: |c| target(event("privilege.su", "success", c), "user", s(c, "to")),
    },
    Rule {
        name: "pam.session_opened",
        apps: &[],
        pattern: r"^pam_unix\((?P<service>[^:]+):session\): session opened for user (?P<user>[^(\s]+)",
        make: |c| {
            with(
                event("auth.session.open", "success", c),
                "service",
                s(c, "service"),
            )
        },
    },
    Rule {
        name: "pam.session_closed",
        apps: &[],
        pattern: r"^pam_unix\((?P<service>[^:]+):session\): session closed for user (?P<user>\S+)",
        make: |c| {
            with(
                event("auth.logout", "success", c),
                "service",
                s(c, "service"),
            )
        },
    },
    Rule {
        name: "login.failed",
        apps: &["login"],
        pattern: r"^FAILED LOGIN \(?(?P<n>\d+)\)? (?:on '(?P<tty>[^']*)' )?(?:FROM '?(?P<ip>[^' ,]*)'? )?FOR '?(?P<user>[^' ,]+)'?,? ?(?P<why>.*)$",
        make: |c| {
            with(
                with(event("auth.login", "failure", c), "tty", s(c, "tty")),
                "reason",
                s(c, "why"),
            )
        },
    },
    Rule {
        name: "login.succeeded",
        apps: &["login"],
        pattern: r"^(?:LOGIN ON (?P<tty>\S+) BY (?P<user>\S+)(?: FROM (?P<ip>\S+))?|ROOT LOGIN\s+on '(?P<tty2>[^']+)')",
        make: |c| {
            let mut r = with(
                event("auth.login", "success", c),
                "tty",
                s(c, "tty").or_else(|| s(c, "tty2")),
            );
            if c.name("tty2").is_some() {
                r.actor = Some("root".into());
            }
            r
        },
    },
    Rule {
        name: "logind.new_session",
        apps: &["systemd-logind"],
        pattern: r"^New session (?P<session>\S+) of user (?P<user>[^.\s]+)\.?",
        make: |c| {
            with(
                event("auth.session.open", "success", c),
                "session",
                s(c, "session"),
            )
        },
    },
];

/// A rule's pattern compiled, with what every match must start with.
struct Compiled {
    re: Regex,
    /// For a pattern anchored at the start whose first bytes are a known
    /// few: those literals (every match starts with one of them). The
    /// check is a comparison of a few bytes; a search, even one that fails
    /// at once, costs the regex engine a cache and capture slots (most of
    /// the recognizers' time when they were tried row by row).
    starts: Option<Vec<Vec<u8>>>,
}

impl Compiled {
    fn new(rule: &Rule) -> Compiled {
        let re = Regex::new(rule.pattern).unwrap_or_else(|e| panic!("rule {}: {e}", rule.name));
        Compiled {
            re,
            starts: starts_of(rule.pattern),
        }
    }

    /// Whether the pattern may match `message` (`false`: it cannot).
    fn may_match(&self, message: &str) -> bool {
        self.starts
            .as_ref()
            .is_none_or(|starts| starts.iter().any(|p| message.as_bytes().starts_with(p)))
    }
}

/// The literals every match of `pattern` starts with, when it is anchored
/// at the start and they are finite and none is empty (regex-syntax's
/// prefix extraction, the one the regex crate builds its prefilters on).
fn starts_of(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    use regex_syntax::hir::Look;
    let hir = regex_syntax::parse(pattern).ok()?;
    if !hir.properties().look_set_prefix().contains(Look::Start) {
        return None;
    }
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// Each rule's compiled pattern, in table order.
static COMPILED: LazyLock<Vec<Compiled>> =
    LazyLock::new(|| RULES.iter().map(Compiled::new).collect());

/// What `message` from program `app` is, if a rule recognizes it.
pub fn recognize(app: Option<&str>, message: &str) -> Option<Recognized> {
    let app = app.unwrap_or("");
    RULES
        .iter()
        .zip(COMPILED.iter())
        .filter(|(r, c)| (r.apps.is_empty() || r.apps.contains(&app)) && c.may_match(message))
        .find_map(|(r, c)| {
            c.re.captures(message).map(|m| Recognized {
                rule: r.name,
                ..(r.make)(&m)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (program, message as real hosts log it, action, outcome, actor, remote, target id)
    type Sample = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    const SAMPLES: &[Sample] = &[
        ("sshd", "Accepted password for alice from 192.0.2.7 port 52514 ssh2", "auth.login", "success", Some("alice"), Some("192.0.2.7"), None),
        ("sshd", "Accepted publickey for deploy from 2001:db8::5 port 40222 ssh2: ED25519 SHA256:pmq0u0Bk1r0LyZ7q4XK", "auth.login", "success", Some("deploy"), Some("2001:db8::5"), None),
        ("sshd", "Failed password for alice from 192.0.2.7 port 52514 ssh2", "auth.login", "failure", Some("alice"), Some("192.0.2.7"), None),
        ("sshd", "Failed password for invalid user admin from 198.51.100.4 port 40022 ssh2", "auth.login", "failure", Some("admin"), Some("198.51.100.4"), None),
        ("sshd", "Failed publickey for root from 203.0.113.9 port 51234 ssh2: RSA SHA256:abc", "auth.login", "failure", Some("root"), Some("203.0.113.9"), None),
        ("sshd", "Invalid user oracle from 198.51.100.4 port 40022", "auth.login", "failure", Some("oracle"), Some("198.51.100.4"), None),
        ("sshd", "error: maximum authentication attempts exceeded for root from 203.0.113.9 port 51234 ssh2 [preauth]", "auth.login", "failure", Some("root"), Some("203.0.113.9"), None),
        ("sshd", "Disconnecting authenticating user root 203.0.113.9 port 51234: Too many authentication failures [preauth]", "auth.login", "failure", Some("root"), Some("203.0.113.9"), None),
        ("sshd", "Disconnected from user alice 192.0.2.7 port 52514", "auth.logout", "success", Some("alice"), Some("192.0.2.7"), None),
        ("sshd", "Received disconnect from 192.0.2.7 port 52514:11: disconnected by user", "auth.disconnect", "unknown", None, Some("192.0.2.7"), None),
        ("sudo", "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx", "privilege.sudo", "success", Some("alice"), None, Some("/usr/bin/systemctl restart nginx")),
        ("sudo", "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash", "privilege.sudo", "failure", Some("alice"), None, Some("/bin/bash")),
        ("sudo", "mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/cat /etc/shadow", "privilege.sudo", "failure", Some("mallory"), None, Some("/bin/cat /etc/shadow")),
        ("sudo", "pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice", "auth.login", "failure", Some("alice"), None, None),
        ("su", "(to root) alice on pts/0", "privilege.su", "success", Some("alice"), None, Some("root")),
        ("su", "FAILED SU (to root) alice on pts/0", "privilege.su", "failure", Some("alice"), None, Some("root")),
        ("su", "pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)", "privilege.su", "success", Some("alice"), None, Some("root")),
        ("su", "pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root", "auth.login", "failure", Some("root"), None, None),
        ("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root", "auth.login", "failure", Some("root"), Some("203.0.113.9"), None),
        ("sshd", "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)", "auth.session.open", "success", Some("alice"), None, None),
        ("sshd", "pam_unix(sshd:session): session closed for user alice", "auth.logout", "success", Some("alice"), None, None),
        ("useradd", "new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0", "account.create", "success", None, None, Some("bob")),
        ("useradd", "new group: name=bob, GID=1001", "group.create", "success", None, None, Some("bob")),
        ("groupadd", "group added to /etc/group: name=devs, GID=1002", "group.create", "success", None, None, Some("devs")),
        ("userdel", "delete user 'bob'", "account.delete", "success", None, None, Some("bob")),
        ("userdel", "removed group 'bob' owned by 'bob'", "group.delete", "success", None, None, Some("bob")),
        ("usermod", "add 'bob' to group 'sudo'", "account.modify", "success", None, None, Some("bob")),
        ("usermod", "add 'bob' to shadow group 'sudo'", "account.modify", "success", None, None, Some("bob")),
        ("usermod", "change user 'bob' shell from '/bin/sh' to '/bin/bash'", "account.modify", "success", None, None, Some("bob")),
        ("passwd", "pam_unix(passwd:chauthtok): password changed for bob", "account.modify", "success", None, None, Some("bob")),
        ("chpasswd", "pam_unix(chpasswd:chauthtok): password changed for carol", "account.modify", "success", None, None, Some("carol")),
        ("login", "pam_unix(login:session): session closed for user alice", "auth.logout", "success", Some("alice"), None, None),
        ("login", "LOGIN ON tty1 BY alice", "auth.login", "success", Some("alice"), None, None),
        ("login", "ROOT LOGIN  on '/dev/tty1'", "auth.login", "success", Some("root"), None, None),
        ("login", "FAILED LOGIN (1) on '/dev/tty1' FOR 'alice', Authentication failure", "auth.login", "failure", Some("alice"), None, None),
        ("systemd-logind", "New session 12 of user alice.", "auth.session.open", "success", Some("alice"), None, None),
    ];

    #[test]
    fn every_rule_recognizes_its_samples() {
        for (app, msg, action, outcome, actor, remote, target) in SAMPLES {
            let r =
                recognize(Some(app), msg).unwrap_or_else(|| panic!("{app}: not recognized: {msg}"));
            assert_eq!(
                (r.action, r.outcome),
                (*action, *outcome),
                "{app}: {msg} ({})",
                r.rule
            );
            assert_eq!(r.actor.as_deref(), *actor, "{app}: {msg} ({})", r.rule);
            assert_eq!(r.remote.as_deref(), *remote, "{app}: {msg} ({})", r.rule);
            assert_eq!(
                r.target.as_ref().map(|t| t.1.as_str()),
                *target,
                "{app}: {msg} ({})",
                r.rule
            );
        }
        // Every rule has at least one sample.
        for rule in RULES {
            assert!(
                SAMPLES
                    .iter()
                    .any(|(app, msg, ..)| recognize(Some(app), msg)
                        .is_some_and(|r| r.rule == rule.name)),
                "rule {} has no sample",
                rule.name
            );
        }
    }

    #[test]
    fn the_start_check_never_refuses_what_a_pattern_matches() {
        // Every rule's pattern against every sample (and each sample with
        // leading space, which `^\\s*` rows take): a match is never refused.
        let mut checked = 0;
        for c in COMPILED.iter() {
            for (_, msg, ..) in SAMPLES {
                for m in [msg.to_string(), format!("  {msg}")] {
                    if c.re.is_match(&m) {
                        assert!(c.may_match(&m), "{:?} refused {m:?}", c.re.as_str());
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked >= SAMPLES.len());
        // Anchored rows with a literal start are checked by it; the others
        // (unanchored, or starting with `\\s*`) are not.
        let by_name = |n: &str| &COMPILED[RULES.iter().position(|r| r.name == n).unwrap()];
        assert_eq!(
            by_name("sshd.accepted").starts.as_deref(),
            Some(&[b"Accepted ".to_vec()][..])
        );
        assert!(by_name("sshd.too_many_failures").starts.is_none());
        assert!(!by_name("sshd.accepted").may_match("Failed password for x"));
    }

    #[test]
    fn other_programs_and_other_lines_are_not_recognized() {
        assert_eq!(
            recognize(
                Some("cron"),
                "Accepted password for alice from 192.0.2.7 port 1 ssh2"
            ),
            None
        );
        assert_eq!(
            recognize(Some("sshd"), "Server listening on 0.0.0.0 port 22."),
            None
        );
        assert_eq!(recognize(None, "hello world"), None);
    }
}
