//! The rules file: TOML, checked whole before anything runs. A file with
//! any error is refused with the file, the line, the rule and what is
//! wrong ([`RuleError`]); a server that reloads a bad file keeps its old
//! rules. The file's SHA-256 is the rules' version, recorded with every
//! alert. docs/ALERTS.md describes every key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::duration::parse_nanos;
use crate::matcher::{Matcher, PathId, Paths, Pattern};
use crate::when::{parse_hours, parse_offset, parse_weekdays, Window};

/// A rules file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file, as named by the caller.
    pub file: String,
    /// 1-based line (0 when the whole file is meant).
    pub line: usize,
    /// The rule, when the error is inside one.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(r) = &self.rule {
            write!(f, ": rule {r:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Look when convenient.
    Low,
    /// Look today.
    Medium,
    /// Look now.
    High,
    /// Wake someone up.
    Critical,
}

impl Severity {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert goes besides `_system` (where every alert goes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// One line on the server's standard error.
    Stderr,
    /// A webhook from the file's `[webhooks.NAME]`.
    Webhook(String),
}

/// The body a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The alert as JSON (docs/ALERTS.md "Webhooks").
    Json,
    /// `{"text": "…"}`, which Slack and Microsoft Teams incoming webhooks take.
    Slack,
}

/// A webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// Its name in the file.
    pub name: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// The HMAC-SHA256 key of `X-Veritrail-Signature` (empty: unsigned).
    pub secret: Vec<u8>,
    /// The body.
    pub format: WebhookFormat,
    /// Per-attempt timeout.
    pub timeout_ns: i64,
    /// Attempts before the alert is recorded as undelivered.
    pub max_attempts: u32,
}

/// Which health signal an `integrity` rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A log holds entries that no checkpoint covers, for `after`.
    CheckpointStalled,
    /// A log stopped on a storage error (it refuses writes).
    StorageError,
    /// A stored entry failed its check, or a log was refused at start.
    VerifyFailed,
    /// Free space of the data directory below `min_free`.
    DiskLow,
    /// Object storage refuses a log's uploads, found another writer or a
    /// changed object, or shows deleted or rewritten objects.
    ObjectStorage,
    /// The log's checkpoints have gone beyond what its witnesses' quorum
    /// cosigned, and the witnessed size has not moved for `after`.
    WitnessLag,
    /// The log holds entries no review covers, and its last review (or
    /// the server's start) is older than `after` (review cycles).
    NotReviewed,
}

/// What a rule looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every matching event (within the time windows).
    Match,
    /// At least `count` matching events per group within `window`.
    Threshold {
        /// Events needed (with `distinct`: distinct values needed).
        count: u32,
        /// Sliding window (rule time).
        window_ns: i64,
        /// Count distinct values of this field instead of events (many
        /// actors from one address: password spraying).
        distinct: Option<PathId>,
    },
    /// Steps in order per group, all within `within`.
    Sequence {
        /// Each step's filter and how many events it needs.
        steps: Vec<(Matcher, u32)>,
        /// From the first event of the first step to the last step.
        within_ns: i64,
    },
    /// A value of `field` not seen before for the group.
    NewValue {
        /// The field whose values are remembered.
        field: PathId,
        /// Most values remembered by the rule (oldest forgotten first).
        memory: usize,
        /// Whether a group's first value is news too (otherwise learned).
        first_is_new: bool,
    },
    /// No matching event for `after`, per group.
    Absence {
        /// Silence that fires.
        after_ns: i64,
        /// Groups expected from the start (values of the first `group_by`).
        expect: Vec<String>,
    },
    /// The health of the logs and the disk.
    Integrity {
        /// The signal.
        check: Check,
        /// How long a stall must last (`checkpoint_stalled`).
        after_ns: i64,
        /// Bytes free below which `disk_low` fires.
        min_free: u64,
    },
}

impl Kind {
    /// The name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Match => "match",
            Kind::Threshold { .. } => "threshold",
            Kind::Sequence { .. } => "sequence",
            Kind::NewValue { .. } => "new_value",
            Kind::Absence { .. } => "absence",
            Kind::Integrity { .. } => "integrity",
        }
    }
}

/// One rule, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// What it looks for.
    pub kind: Kind,
    /// How bad.
    pub severity: Severity,
    /// For people.
    pub description: String,
    /// Logs it watches (`None`: every log but `_system`).
    pub logs: Option<Vec<String>>,
    /// Filters.
    pub matcher: Matcher,
    /// Time windows (`true`: inside, `false`: outside), all must hold.
    pub windows: Vec<(bool, Window)>,
    /// Windows look at the event's own `time` (else `received_at`).
    pub windows_on_event_time: bool,
    /// Fields that group events.
    pub group_by: Vec<PathId>,
    /// After an alert, none for the same group for this long.
    pub cooldown_ns: i64,
    /// Where its alerts go.
    pub actions: Vec<Action>,
    /// SHA-256 of the rule's definition: a reload keeps the state of a
    /// rule whose definition did not change.
    pub fingerprint: String,
    /// SHA-256 of the parts of the definition that decide how its state
    /// changes with each event (not its name, severity, description,
    /// cool-down, actions, an `absence`'s `after` or a `new_value`'s
    /// `first_is_new`, which only decide what it says and when): rules
    /// with the same key keep one state between them.
    pub state_key: String,
}

impl Rule {
    /// Whether the rule watches `log`.
    pub fn watches(&self, log: &str) -> bool {
        match &self.logs {
            Some(l) => l.iter().any(|x| x == log),
            None => !log.starts_with('_'),
        }
    }
}

/// A checked rules file.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// SHA-256 (hex) of the file's bytes.
    pub version: String,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Webhooks by name.
    pub webhooks: BTreeMap<String, Webhook>,
    /// Field paths the rules read.
    pub paths: Paths,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    webhooks: BTreeMap<String, toml::Spanned<RawWebhook>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    cooldown: Option<String>,
    actions: Option<Vec<String>>,
    severity: Option<Severity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    secret: Option<String>,
    secret_file: Option<String>,
    format: Option<WebhookFormat>,
    timeout: Option<String>,
    max_attempts: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum RawPattern {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    hours: Option<String>,
    weekdays: Option<Vec<String>>,
    utc_offset: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "match", default)]
    matches: BTreeMap<String, RawPattern>,
    #[serde(default)]
    except: BTreeMap<String, RawPattern>,
    count: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    kind: String,
    severity: Option<Severity>,
    #[serde(default)]
    description: String,
    logs: Option<Vec<String>>,
    #[serde(rename = "match", default)]
    matches: BTreeMap<String, RawPattern>,
    #[serde(default)]
    except: BTreeMap<String, RawPattern>,
    during: Option<RawWindow>,
    outside: Option<RawWindow>,
    clock: Option<String>,
    #[serde(default)]
    group_by: Vec<String>,
    cooldown: Option<String>,
    actions: Option<Vec<String>>,
    count: Option<u32>,
    window: Option<String>,
    distinct: Option<String>,
    steps: Option<Vec<RawStep>>,
    within: Option<String>,
    field: Option<String>,
    memory: Option<usize>,
    first_is_new: Option<bool>,
    after: Option<String>,
    expect: Option<Vec<String>>,
    check: Option<String>,
    min_free: Option<String>,
}

/// The default cool-down: one incident, one alert.
pub const DEFAULT_COOLDOWN: &str = "5m";
/// The default memory of a `new_value` rule.
pub const DEFAULT_MEMORY: usize = 100_000;

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The name of the `[[rule]]` a byte offset falls in, read from the text
/// (for errors found before the rules could be read).
fn rule_at(text: &str, offset: usize) -> Option<String> {
    let head = &text[..offset.min(text.len())];
    let start = head.rfind("[[rule]]")?;
    let after_header = start + "[[rule]]".len();
    let end = text[after_header..]
        .find("\n[")
        .map_or(text.len(), |e| after_header + e);
    text[after_header..end].lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "name").then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("size {s:?} does not start with a whole number"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        u => {
            return Err(format!(
                "size {s:?}: unit {u:?} is not B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

fn matcher(
    paths: &mut Paths,
    all: &BTreeMap<String, RawPattern>,
    except: &BTreeMap<String, RawPattern>,
) -> Result<Matcher, String> {
    let conv = |paths: &mut Paths,
                m: &BTreeMap<String, RawPattern>|
     -> Result<Vec<(PathId, Pattern)>, String> {
        m.iter()
            .map(|(k, v)| {
                if k.is_empty() || k.split('.').any(str::is_empty) {
                    return Err(format!(
                        "field path {k:?} is not dotted names (e.g. actor.ip)"
                    ));
                }
                let p = match v {
                    RawPattern::One(s) => Pattern::parse(s),
                    RawPattern::Many(v) if v.is_empty() => {
                        return Err(format!("field {k:?}: an empty list matches nothing"))
                    }
                    RawPattern::Many(v) => {
                        Pattern::AnyOf(v.iter().map(|s| Pattern::parse(s)).collect())
                    }
                };
                Ok((paths.intern(k), p))
            })
            .collect()
    };
    Ok(Matcher {
        all: conv(paths, all)?,
        except: conv(paths, except)?,
    })
}

fn window(w: &RawWindow) -> Result<Window, String> {
    if w.hours.is_none() && w.weekdays.is_none() {
        return Err("a time window needs hours, weekdays or both".into());
    }
    Ok(Window {
        hours: w.hours.as_deref().map(parse_hours).transpose()?,
        weekdays: w.weekdays.as_deref().map(parse_weekdays).transpose()?,
        offset_minutes: w
            .utc_offset
            .as_deref()
            .map(parse_offset)
            .transpose()?
            .unwrap_or(0),
    })
}

impl RuleSet {
    /// Reads and checks a rules file (`name` is how errors call it;
    /// `read_secret` reads a webhook's `secret_file`).
    ///
    /// # Errors
    /// The first problem, with its line and rule.
    pub fn parse(
        name: &str,
        text: &str,
        read_secret: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<RuleSet, RuleError> {
        let err = |line: usize, rule: Option<String>, message: String| RuleError {
            file: name.to_owned(),
            line,
            rule,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let off = e.span().map_or(0, |s| s.start);
            err(
                if e.span().is_some() {
                    line_of(text, off)
                } else {
                    0
                },
                rule_at(text, off),
                e.message().trim().to_owned(),
            )
        })?;
        let mut set = RuleSet {
            version: hex::encode(Sha256::digest(text.as_bytes())),
            ..RuleSet::default()
        };
        for (wname, w) in &raw.webhooks {
            let line = line_of(text, w.span().start);
            let werr = |m: String| err(line, None, format!("webhook {wname:?}: {m}"));
            if wname.is_empty()
                || wname.len() > 40
                || !wname
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            {
                return Err(werr("a webhook name is 1-40 of a-z 0-9 - _".into()));
            }
            let w = w.get_ref();
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(werr(format!("url {:?} is not http:// or https://", w.url)));
            }
            let secret = match (&w.secret, &w.secret_file) {
                (Some(_), Some(_)) => {
                    return Err(werr("give secret or secret_file, not both".into()))
                }
                (Some(s), None) => s.as_bytes().to_vec(),
                (None, Some(f)) => {
                    read_secret(f).map_err(|m| werr(format!("secret_file {f:?}: {m}")))?
                }
                (None, None) => Vec::new(),
            };
            let timeout_ns = parse_nanos(w.timeout.as_deref().unwrap_or("10s")).map_err(werr)?;
            let max_attempts = w.max_attempts.unwrap_or(20);
            if max_attempts == 0 {
                return Err(werr("max_attempts must be at least 1".into()));
            }
            set.webhooks.insert(
                wname.clone(),
                Webhook {
                    name: wname.clone(),
                    url: w.url.clone(),
                    secret,
                    format: w.format.unwrap_or(WebhookFormat::Json),
                    timeout_ns,
                    max_attempts,
                },
            );
        }
        let mut names = BTreeSet::new();
        for spanned in &raw.rule {
            let line = line_of(text, spanned.span().start);
            let r = spanned.get_ref();
            let rerr = |m: String| err(line, Some(r.name.clone()), m);
            if r.name.is_empty()
                || !r
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(rerr(
                    "a name is letters, digits, - _ and . (and not empty)".into(),
                ));
            }
            if !names.insert(r.name.clone()) {
                return Err(rerr("another rule has this name".into()));
            }
            let rule = set.rule(r, &raw.defaults).map_err(rerr)?;
            set.rules.push(rule);
        }
        Ok(set)
    }

    fn rule(&mut self, r: &RawRule, defaults: &RawDefaults) -> Result<Rule, String> {
        let paths = &mut self.paths;
        let m = matcher(paths, &r.matches, &r.except)?;
        let dur = |v: &Option<String>, key: &str| -> Result<Option<i64>, String> {
            v.as_deref()
                .map(|s| {
                    let n = parse_nanos(s).map_err(|e| format!("{key}: {e}"))?;
                    if n <= 0 {
                        return Err(format!("{key} must be longer than 0"));
                    }
                    Ok(n)
                })
                .transpose()
        };
        let need = |v: Option<i64>, key: &str, kind: &str| {
            v.ok_or_else(|| format!("a {kind} rule needs {key}"))
        };
        // Keys that only some kinds take.
        let only = |present: bool, key: &str, kinds: &str| -> Result<(), String> {
            if present && !kinds.split(',').any(|k| k == r.kind) {
                return Err(format!(
                    "{key} is for {} rules, not {}",
                    kinds.replace(',', " and "),
                    r.kind
                ));
            }
            Ok(())
        };
        only(r.count.is_some(), "count", "threshold")?;
        only(r.window.is_some(), "window", "threshold")?;
        only(r.distinct.is_some(), "distinct", "threshold")?;
        only(r.steps.is_some(), "steps", "sequence")?;
        only(r.within.is_some(), "within", "sequence")?;
        only(r.field.is_some(), "field", "new_value")?;
        only(r.memory.is_some(), "memory", "new_value")?;
        only(r.first_is_new.is_some(), "first_is_new", "new_value")?;
        only(r.after.is_some(), "after", "absence,integrity")?;
        only(r.expect.is_some(), "expect", "absence")?;
        only(r.check.is_some(), "check", "integrity")?;
        only(r.min_free.is_some(), "min_free", "integrity")?;
        let kind = match r.kind.as_str() {
            "match" => Kind::Match,
            "threshold" => {
                let count = r.count.ok_or("a threshold rule needs count")?;
                if count == 0 {
                    return Err("count must be at least 1".into());
                }
                Kind::Threshold {
                    count,
                    window_ns: need(dur(&r.window, "window")?, "window", "threshold")?,
                    distinct: r.distinct.as_deref().map(|d| paths.intern(d)),
                }
            }
            "sequence" => {
                let steps = r.steps.as_ref().ok_or("a sequence rule needs steps")?;
                if steps.len() < 2 {
                    return Err("a sequence needs at least two steps".into());
                }
                let steps = steps
                    .iter()
                    .enumerate()
                    .map(|(k, s)| {
                        let count = s.count.unwrap_or(1);
                        if count == 0 {
                            return Err(format!("step {}: count must be at least 1", k + 1));
                        }
                        if s.matches.is_empty() {
                            return Err(format!("step {}: needs a match", k + 1));
                        }
                        Ok((
                            matcher(paths, &s.matches, &s.except)
                                .map_err(|e| format!("step {}: {e}", k + 1))?,
                            count,
                        ))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Kind::Sequence {
                    steps,
                    within_ns: need(dur(&r.within, "within")?, "within", "sequence")?,
                }
            }
            "new_value" => {
                let field = r.field.as_deref().ok_or("a new_value rule needs field")?;
                let memory = r.memory.unwrap_or(DEFAULT_MEMORY);
                if memory == 0 {
                    return Err("memory must be at least 1".into());
                }
                Kind::NewValue {
                    field: paths.intern(field),
                    memory,
                    first_is_new: r.first_is_new.unwrap_or(false),
                }
            }
            "absence" => Kind::Absence {
                after_ns: need(dur(&r.after, "after")?, "after", "absence")?,
                expect: r.expect.clone().unwrap_or_default(),
            },
            "integrity" => {
                let check = match r.check.as_deref() {
                    Some("checkpoint_stalled") => Check::CheckpointStalled,
                    Some("storage_error") => Check::StorageError,
                    Some("verify_failed") => Check::VerifyFailed,
                    Some("disk_low") => Check::DiskLow,
                    Some("object_storage") => Check::ObjectStorage,
                    Some("witness_lag") => Check::WitnessLag,
                    Some("not_reviewed") => Check::NotReviewed,
                    Some(o) => return Err(format!("check {o:?} is not checkpoint_stalled, storage_error, verify_failed, disk_low, object_storage, witness_lag or not_reviewed")),
                    None => return Err("an integrity rule needs check".into()),
                };
                if !r.matches.is_empty() || !r.except.is_empty() || !r.group_by.is_empty() {
                    return Err("an integrity rule takes no match, except or group_by (it watches the logs, not events)".into());
                }
                let after_ns = dur(&r.after, "after")?.unwrap_or(300_000_000_000);
                let min_free = match (&r.min_free, check) {
                    (Some(s), Check::DiskLow) => {
                        parse_size(s).map_err(|e| format!("min_free: {e}"))?
                    }
                    (None, Check::DiskLow) => return Err("a disk_low check needs min_free".into()),
                    (Some(_), _) => return Err("min_free is for the disk_low check".into()),
                    (None, _) => 0,
                };
                Kind::Integrity {
                    check,
                    after_ns,
                    min_free,
                }
            }
            other => {
                return Err(format!(
                "kind {other:?} is not match, threshold, sequence, new_value, absence or integrity"
            ))
            }
        };
        if matches!(
            kind,
            Kind::Absence { .. } | Kind::Match | Kind::Threshold { .. }
        ) && r.matches.is_empty()
            && r.kind != "absence"
        {
            return Err(format!(
                "a {} rule needs match (which events it counts)",
                r.kind
            ));
        }
        if matches!(
            kind,
            Kind::NewValue { .. } | Kind::Sequence { .. } | Kind::Absence { .. }
        ) && r.group_by.is_empty()
            && r.kind != "new_value"
        {
            return Err(format!("a {} rule needs group_by", r.kind));
        }
        let mut windows = Vec::new();
        if let Some(w) = &r.during {
            windows.push((true, window(w).map_err(|e| format!("during: {e}"))?));
        }
        if let Some(w) = &r.outside {
            windows.push((false, window(w).map_err(|e| format!("outside: {e}"))?));
        }
        let windows_on_event_time = match r.clock.as_deref() {
            None | Some("received_at") => false,
            Some("time") => true,
            Some(o) => return Err(format!("clock {o:?} is not received_at or time")),
        };
        if let Some(logs) = &r.logs {
            if logs.is_empty() {
                return Err("logs is empty: the rule would watch nothing".into());
            }
        }
        let cooldown_ns = parse_nanos(
            r.cooldown
                .as_deref()
                .or(defaults.cooldown.as_deref())
                .unwrap_or(DEFAULT_COOLDOWN),
        )
        .map_err(|e| format!("cooldown: {e}"))?;
        if cooldown_ns < 0 {
            return Err("cooldown cannot be negative".into());
        }
        let actions = r
            .actions
            .as_ref()
            .or(defaults.actions.as_ref())
            .map(|a| {
                a.iter()
                    .map(|s| match s.as_str() {
                        "stderr" => Ok(Action::Stderr),
                        w => match w.strip_prefix("webhook:") {
                            Some(n) if self.webhooks.contains_key(n) => {
                                Ok(Action::Webhook(n.to_owned()))
                            }
                            Some(n) => Err(format!("action {s:?}: there is no [webhooks.{n}]")),
                            None => Err(format!("action {s:?} is not stderr or webhook:NAME")),
                        },
                    })
                    .collect::<Result<Vec<_>, String>>()
            })
            .transpose()?
            .unwrap_or_default();
        let group_by = r.group_by.iter().map(|g| self.paths.intern(g)).collect();
        let fingerprint = hex::encode(Sha256::digest(
            serde_json::to_vec(r).expect("a rule serializes"),
        ));
        let state_key = {
            let mut s = r.clone();
            s.name.clear();
            s.severity = None;
            s.description.clear();
            s.cooldown = None;
            s.actions = None;
            s.after = None;
            s.first_is_new = None;
            hex::encode(Sha256::digest(
                serde_json::to_vec(&s).expect("a rule serializes"),
            ))
        };
        Ok(Rule {
            name: r.name.clone(),
            kind,
            severity: r.severity.or(defaults.severity).unwrap_or(Severity::Medium),
            description: r.description.clone(),
            logs: r.logs.clone(),
            matcher: m,
            windows,
            windows_on_event_time,
            group_by,
            cooldown_ns,
            actions,
            fingerprint,
            state_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleSet, RuleError> {
        RuleSet::parse("rules.toml", text, &|_| Err("no files here".into()))
    }

    #[test]
    fn a_good_file() {
        let set = parse(
            r#"
[defaults]
cooldown = "10m"

[webhooks.soc]
url = "http://127.0.0.1:9/hook"
secret = "s3cret"

[[rule]]
name = "ssh-brute-force"
kind = "threshold"
severity = "high"
match = { action = "auth.login", outcome = "failure" }
group_by = ["actor.ip"]
count = 5
window = "60s"
actions = ["webhook:soc", "stderr"]

[[rule]]
name = "off-hours-sudo"
kind = "match"
match = { action = "privilege.*" }
outside = { hours = "08:00-18:00", weekdays = ["mon", "tue", "wed", "thu", "fri"] }
"#,
        )
        .unwrap();
        assert_eq!(set.rules.len(), 2);
        assert_eq!(set.version.len(), 64);
        assert_eq!(set.rules[0].cooldown_ns, 600_000_000_000);
        assert_eq!(
            set.rules[0].actions,
            vec![Action::Webhook("soc".into()), Action::Stderr]
        );
        assert!(matches!(
            set.rules[0].kind,
            Kind::Threshold {
                count: 5,
                window_ns: 60_000_000_000,
                distinct: None
            }
        ));
        assert_eq!(set.webhooks["soc"].secret, b"s3cret");
        assert_eq!(set.rules[1].severity, Severity::Medium);
    }

    /// Each bad file is refused with its line, its rule and the reason.
    #[test]
    fn bad_files_name_line_rule_and_reason() {
        let cases: &[(&str, usize, Option<&str>, &str)] = &[
            ("[[rule]]\nname = \"a\"\nkind = \"threshold\"\nmatch = { action = \"x\" }\nwindow = \"1m\"\n", 1, Some("a"), "needs count"),
            ("[[rule]]\nname = \"a\"\nkind = \"threshold\"\nmatch = { action = \"x\" }\ncount = 0\nwindow = \"1m\"\n", 1, Some("a"), "at least 1"),
            ("[[rule]]\nname = \"a\"\nkind = \"thresold\"\n", 1, Some("a"), "is not match, threshold"),
            ("\n\n[[rule]]\nname = \"b\"\nkind = \"match\"\nmatch = { action = \"x\" }\ncolor = \"red\"\n", 7, Some("b"), "unknown field `color`"),
            ("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\nwindow = \"1m\"\n", 1, Some("a"), "window is for threshold"),
            ("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\nactions = [\"webhook:nope\"]\n", 1, Some("a"), "no [webhooks.nope]"),
            ("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\n[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"y\" }\n", 5, Some("a"), "another rule"),
            ("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\nduring = { hours = \"9-17\" }\n", 1, Some("a"), "during: hours"),
            ("[[rule]]\nname = \"a\"\nkind = \"sequence\"\ngroup_by = [\"actor.id\"]\nwithin = \"5m\"\nsteps = [{ match = { action = \"x\" } }]\n", 1, Some("a"), "at least two steps"),
            ("[[rule]]\nname = \"a\"\nkind = \"integrity\"\ncheck = \"disk_low\"\n", 1, Some("a"), "needs min_free"),
            ("[[rule]]\nname = \"a\"\nkind = \"absence\"\nafter = \"5m\"\n", 1, Some("a"), "needs group_by"),
            ("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\ncooldown = \"5 min\"\n", 1, Some("a"), "cooldown"),
            ("[webhooks.w]\nurl = \"ftp://x\"\n", 1, None, "not http"),
            ("[[rule]\nname = \"a\"\n", 1, None, ""),
        ];
        for (text, line, rule, why) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, *line, "{e} for {text:?}");
            assert_eq!(e.rule.as_deref(), *rule, "{e}");
            assert!(e.message.contains(why), "{e} should say {why:?}");
            assert!(e.to_string().starts_with("rules.toml:"), "{e}");
        }
    }

    #[test]
    fn unchanged_rules_keep_their_fingerprint() {
        let a = parse("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\n")
            .unwrap();
        let b = parse(
            "# a comment\n[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"x\" }\n",
        )
        .unwrap();
        let c = parse("[[rule]]\nname = \"a\"\nkind = \"match\"\nmatch = { action = \"y\" }\n")
            .unwrap();
        assert_ne!(a.version, b.version, "the version is the file's");
        assert_eq!(a.rules[0].fingerprint, b.rules[0].fingerprint);
        assert_ne!(a.rules[0].fingerprint, c.rules[0].fingerprint);
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    }
}
