//! The rule engine: events in, alerts out.
//!
//! [`Engine::observe`] takes each stored event of each log, in index order,
//! and returns the alerts it completes; [`Engine::tick`] takes "now" on the
//! log's clock and the health of the logs ([`Health`]) and returns what
//! silence and ill health complete (`absence`, `integrity`). Rule time is
//! the event's `received_at`; time windows can look at the event's own
//! `time` instead.
//!
//! One incident, one alert: a rule that fires for a group is quiet for that
//! group for its cool-down, counting what it kept quiet about
//! ([`Alert::suppressed`] of the next alert). A `threshold` window and a
//! `sequence` are cleared when they complete, alerted or not, so the
//! windows depend on the events alone.
//!
//! After a restart: [`Engine::restore`] takes back what [`Engine::save`]
//! gave (cool-downs, remembered values, silences), and the windows are
//! rebuilt by [`Engine::replay`] of each log from [`Engine::rebuild_from`]
//! up to the saved position — replay changes windows only and alerts
//! nothing, so nothing fires twice and nothing is missed.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use veritrail_core::json::Json;
use veritrail_core::Timestamp;

use crate::duration::display;
use crate::file::{Action, Check, Kind, Rule, RuleSet, Severity};
use crate::matcher::{Fields, Matcher, PathId, Paths, Reader, Spans};

/// Most triggering events an alert lists (it says how many there were).
pub const MAX_TRIGGERS: usize = 1000;

/// One stored event, as the engine sees it.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// Its log.
    pub log: &'a str,
    /// Its index in the log.
    pub index: u64,
    /// Its leaf hash (RFC 9162 `SHA-256(0x00 || entry)`).
    pub leaf_hash: [u8; 32],
    /// The stored bytes (canonical JSON).
    pub entry: &'a [u8],
}

/// An event that made an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Its log.
    pub log: String,
    /// Its index.
    pub index: u64,
    /// Its leaf hash, base64 (as the API writes leaf hashes).
    pub leaf_hash: String,
}

/// An event a threshold window or a sequence holds: a [`Trigger`] once
/// it alerts (most never do, so the text of one is made only then).
#[derive(Clone, Debug)]
struct Hit {
    event: SeenAt,
    /// Its `received_at`, Unix nanoseconds.
    at_ns: i128,
    /// The value a `distinct` threshold counts.
    value: Option<Box<str>>,
}

/// The triggers of an alert `hits` made: the newest [`MAX_TRIGGERS`]
/// (only those are listed), and how many there were.
fn triggers(hits: &[Hit]) -> (Vec<Trigger>, u64) {
    let listed = &hits[hits.len().saturating_sub(MAX_TRIGGERS)..];
    (
        listed.iter().map(|h| h.event.trigger()).collect(),
        hits.len() as u64,
    )
}

/// A rule fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The rule.
    pub rule: String,
    /// Its kind.
    pub kind: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// The rules file's version (SHA-256).
    pub version: String,
    /// The rule's description.
    pub description: String,
    /// The group (`group_by` field → value; for integrity rules `log`).
    pub group: BTreeMap<String, String>,
    /// When, on the log's clock (Unix nanoseconds).
    pub fired_at_ns: i128,
    /// What happened, for people.
    pub summary: String,
    /// The events that made it (at most [`MAX_TRIGGERS`], oldest first).
    pub triggers: Vec<Trigger>,
    /// How many triggering events there were in all.
    pub trigger_count: u64,
    /// Alerts the cool-down kept quiet since the last one for this group.
    pub suppressed: u64,
    /// Where it goes besides `_system`.
    pub actions: Vec<Action>,
}

impl Alert {
    /// The last triggering event: with the rule and group, what names an
    /// alert (the same alert computed twice has the same key).
    pub fn key(&self) -> (String, Vec<String>, Option<(String, u64)>) {
        (
            self.rule.clone(),
            self.group.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            self.triggers.last().map(|t| (t.log.clone(), t.index)),
        )
    }
}

/// One log's health, for `integrity` rules.
#[derive(Clone, Debug, Default)]
pub struct LogHealth {
    /// Its name.
    pub name: String,
    /// Durable entries.
    pub durable: u64,
    /// Entries the latest checkpoint covers.
    pub published: u64,
    /// Why it stopped on a storage error.
    pub storage_error: Option<String>,
    /// Why it was found damaged (an entry failed its check, or it was
    /// refused at start).
    pub damaged: Option<String>,
    /// What is wrong with its copy in object storage.
    pub object_storage: Option<String>,
    /// Entries the witnesses' quorum has cosigned (`None`: no witnesses).
    pub witnessed: Option<u64>,
    /// Its last review: entries reviewed up to, and when (Unix ns; the
    /// server's start when never reviewed). `None`: not known.
    pub reviewed: Option<(u64, i128)>,
}

/// The health of the service at one instant.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Each log.
    pub logs: Vec<LogHealth>,
    /// Free bytes where the data directory is.
    pub disk_free: Option<u64>,
}

type Group = Vec<String>;

/// A group as the engine keys its state: each value's length (u32, little
/// endian) and bytes, one after another — equal groups give equal keys and
/// different groups different ones, and a lookup needs no allocation. Kept
/// inline when short (most are), so a lookup reads no other memory.
type Key = smallvec::SmallVec<[u8; 32]>;

fn push_value(out: &mut Vec<u8>, v: &str) {
    let n = u32::try_from(v.len()).expect("a value under 4 GiB");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(v.as_bytes());
}

fn key_of(g: &[String]) -> Key {
    let mut out = Vec::new();
    for v in g {
        push_value(&mut out, v);
    }
    Key::from_vec(out)
}

/// The values of a key made by [`push_value`].
fn values_of(mut key: &[u8]) -> Group {
    let mut out = Vec::new();
    while key.len() >= 4 {
        let n = u32::from_le_bytes(key[..4].try_into().expect("4 bytes")) as usize;
        out.push(String::from_utf8_lossy(&key[4..4 + n]).into_owned());
        key = &key[4 + n..];
    }
    out
}

/// One event's group keys, made once per distinct `group_by` however many
/// rules group by it.
#[derive(Debug, Default)]
struct EventKeys {
    /// The distinct groups.
    groups: Vec<Vec<PathId>>,
    buf: Vec<u8>,
    slots: Vec<Slot>,
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Unmade,
    /// A field of the group is missing from the event.
    Absent,
    At(usize, usize),
}

impl EventKeys {
    fn reset(&mut self) {
        self.buf.clear();
        self.slots.clear();
        self.slots.resize(self.groups.len(), Slot::Unmade);
    }

    /// The key of group `id`, `None` when a field is missing.
    fn get(&mut self, id: usize, fields: &Fields<'_>) -> Option<&[u8]> {
        if let Slot::Unmade = self.slots[id] {
            let start = self.buf.len();
            let buf = &mut self.buf;
            let whole = self.groups[id]
                .iter()
                .all(|p| fields.get(*p).map(|v| push_value(buf, v)).is_some());
            self.slots[id] = if whole {
                Slot::At(start, self.buf.len())
            } else {
                self.buf.truncate(start);
                Slot::Absent
            };
        }
        match self.slots[id] {
            Slot::At(a, b) => Some(&self.buf[a..b]),
            _ => None,
        }
    }
}

/// Where a rule's filters and group are in [`Shared`].
#[derive(Clone, Debug, Default)]
struct RuleIds {
    group: usize,
    matcher: usize,
    /// A sequence's steps' filters.
    steps: Vec<usize>,
    /// Where its shared state is in [`Engine::classes`] (`sequence`,
    /// `new_value` and `absence` rules; [`NO_CLASS`] for the others).
    class: usize,
}

const NO_CLASS: usize = usize::MAX;

/// What one class's shared state made of the event, for every rule of the
/// class. Kept per class and event, so small and without a destructor (an
/// outcome that owned the completed events cost ~15 % per event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Outcome {
    #[default]
    Unasked,
    Nothing,
    /// A sequence completed; its events are in [`Shared::completed`].
    Completed,
    /// A value new for the group; `first`: the group had none before.
    New {
        first: bool,
    },
}

/// What the evaluation of one event shares between rules: each distinct
/// filter's answer and each distinct group's key, worked out once however
/// many rules have them.
#[derive(Debug, Default)]
struct Shared {
    answers: Answers,
    keys: EventKeys,
    /// Per class: what its state made of the event, and a completed
    /// sequence's events.
    outcomes: Vec<Outcome>,
    completed: Vec<Vec<Hit>>,
    /// The classes asked about the event (only they need a reset).
    asked: Vec<usize>,
}

/// The distinct filters, and the event's answer to each.
#[derive(Debug, Default)]
struct Answers {
    matchers: Vec<Matcher>,
    /// Per matcher: 0 not asked yet, 1 matches, 2 does not.
    answers: Vec<u8>,
}

impl Answers {
    fn matches(&mut self, id: usize, fields: &Fields<'_>) -> bool {
        match self.answers[id] {
            0 => {
                let yes = self.matchers[id].matches(fields);
                self.answers[id] = if yes { 1 } else { 2 };
                yes
            }
            a => a == 1,
        }
    }
}

impl Shared {
    /// For `set`: the distinct filters and groups, and each rule's; and
    /// the state keys of its classes (rules that share a state).
    fn of(set: &RuleSet) -> (Shared, Vec<RuleIds>, Vec<String>) {
        fn id_of<T: PartialEq + Clone>(all: &mut Vec<T>, x: &T) -> usize {
            all.iter().position(|y| y == x).unwrap_or_else(|| {
                all.push(x.clone());
                all.len() - 1
            })
        }
        let mut shared = Shared::default();
        let mut classes: Vec<String> = Vec::new();
        let ids = set
            .rules
            .iter()
            .map(|r| RuleIds {
                group: id_of(&mut shared.keys.groups, &r.group_by),
                matcher: id_of(&mut shared.answers.matchers, &r.matcher),
                steps: match &r.kind {
                    Kind::Sequence { steps, .. } => steps
                        .iter()
                        .map(|(m, _)| id_of(&mut shared.answers.matchers, m))
                        .collect(),
                    _ => Vec::new(),
                },
                class: match r.kind {
                    Kind::Sequence { .. } | Kind::NewValue { .. } | Kind::Absence { .. } => {
                        id_of(&mut classes, &r.state_key)
                    }
                    _ => NO_CLASS,
                },
            })
            .collect();
        shared.outcomes = vec![Outcome::Unasked; classes.len()];
        shared.completed = vec![Vec::new(); classes.len()];
        (shared, ids, classes)
    }

    fn reset(&mut self) {
        let a = &mut self.answers;
        a.answers.clear();
        a.answers.resize(a.matchers.len(), 0);
        self.keys.reset();
        for c in self.asked.drain(..) {
            if self.outcomes[c] == Outcome::Completed {
                self.completed[c] = Vec::new();
            }
            self.outcomes[c] = Outcome::Unasked;
        }
    }
}

/// The last event seen of a silence: log, index, leaf hash (base64).
type LastSeen = Option<(String, u64, String)>;

#[derive(Clone, Debug)]
struct SeqState {
    step: usize,
    in_step: u32,
    start_ns: i128,
    hits: Vec<Hit>,
}

/// One group's silence, as an `absence` class times it. `seen` counts the
/// events that ended a silence: a rule that alerted at `seen` = n has
/// alerted this silence, and the next event makes a new one.
#[derive(Clone, Debug, Default)]
struct Silence {
    last_ns: i128,
    last: Option<SeenAt>,
    seen: u64,
}

/// An event as the engine keeps it: a silence's last one (it changes with
/// nearly every event; [`LastSeen`] is made only when saved or alerted),
/// and the events a window or sequence holds ([`Hit`]).
#[derive(Clone, Debug)]
struct SeenAt {
    log: Arc<str>,
    index: u64,
    leaf_hash: [u8; 32],
}

impl SeenAt {
    /// As an alert lists it.
    fn trigger(&self) -> Trigger {
        Trigger {
            log: self.log.to_string(),
            index: self.index,
            leaf_hash: b64_of(&self.leaf_hash),
        }
    }

    fn saved(&self) -> (String, u64, String) {
        (self.log.to_string(), self.index, b64_of(&self.leaf_hash))
    }

    fn restored((log, index, leaf): &(String, u64, String)) -> Option<SeenAt> {
        Some(SeenAt {
            log: Arc::from(log.as_str()),
            index: *index,
            leaf_hash: veritrail_core::Hash::from_base64(leaf)?.0,
        })
    }
}

/// A `new_value` rule's memory: (group, value) pairs, least recently seen
/// forgotten first. A pair's key is the group's key followed by the value
/// (as [`push_value`] writes it), kept with the group key's length in a
/// slab that orders its slots by use; `index` finds a key's slot by its
/// hash.
#[derive(Clone, Debug, Default)]
struct Memory {
    slab: lru_slab::LruSlab<(Key, usize)>,
    index: hashbrown::HashTable<u32>,
    groups: HashMap<Key, u32>,
}

fn hash_of(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

impl Memory {
    /// Remembers `value` for `group`; answers whether it was new, and
    /// whether the group had no value before. `scratch` is where the
    /// pair's key is made.
    fn see(
        &mut self,
        group: &[u8],
        value: &str,
        cap: usize,
        scratch: &mut Vec<u8>,
    ) -> (bool, bool) {
        scratch.clear();
        scratch.extend_from_slice(group);
        push_value(scratch, value);
        let h = hash_of(scratch);
        let slab = &mut self.slab;
        if let Some(&slot) = self
            .index
            .find(h, |&s| slab.peek(s).0.as_slice() == scratch.as_slice())
        {
            slab.get_mut(slot);
            return (false, false);
        }
        let slot = slab.insert((Key::from_slice(scratch), group.len()));
        self.index
            .insert_unique(h, slot, |&s| hash_of(&slab.peek(s).0));
        let n = match self.groups.get_mut(group) {
            Some(n) => n,
            None => self.groups.entry(group.into()).or_insert(0),
        };
        *n += 1;
        let first = *n == 1;
        while slab.len() as usize > cap {
            let oldest = slab.lru().expect("not empty");
            let (k, n) = slab.remove(oldest);
            if let Ok(e) = self.index.find_entry(hash_of(&k), |&s| s == oldest) {
                e.remove();
            }
            if let Some(c) = self.groups.get_mut(&k[..n]) {
                *c -= 1;
                if *c == 0 {
                    self.groups.remove(&k[..n]);
                }
            }
        }
        (true, first)
    }

    /// The remembered pairs, oldest first.
    fn oldest_first(&self) -> Vec<(Group, String)> {
        let mut out: Vec<(Group, String)> = self
            .slab
            .iter()
            .map(|(_, (k, n))| {
                let value = values_of(&k[*n..]).pop().unwrap_or_default();
                (values_of(&k[..*n]), value)
            })
            .collect();
        out.reverse();
        out
    }
}

#[derive(Clone, Debug, Default)]
struct Cool {
    until_ns: i128,
    suppressed: u64,
}

/// A threshold's window for one group: its events, and with `distinct`
/// how many of them carry each value.
#[derive(Clone, Debug, Default)]
struct Window {
    hits: VecDeque<Hit>,
    distinct: HashMap<String, u32>,
}

/// The state rules of one class share: the rules whose state changes
/// alike with every event (the same [`Rule::state_key`]) keep one, updated
/// once per event however many rules there are — rules that differ only in
/// a threshold, a severity or their actions cost one.
#[derive(Clone, Debug, Default)]
struct ClassState {
    sequences: HashMap<Key, SeqState>,
    /// Where each group's sequence last started afresh.
    completed: HashMap<Key, Mark>,
    memory: Memory,
    silences: HashMap<Key, Silence>,
    /// An `absence` class's expected groups are being timed.
    started: bool,
}

#[derive(Clone, Debug, Default)]
struct RuleState {
    windows: HashMap<Key, Window>,
    /// Where each group's window last started afresh.
    completed: HashMap<Key, Mark>,
    /// Absence: the silences alerted, by the `seen` they had then.
    fired: HashMap<Key, u64>,
    /// Integrity: per log, (published size, since when it has not moved
    /// while entries waited); and the conditions already alerted.
    stalls: HashMap<String, (u64, i128)>,
    /// Per log: the witnessed size last seen and since when.
    witness_stalls: HashMap<String, (u64, i128)>,
    raised: HashMap<Key, bool>,
    cool: HashMap<Key, Cool>,
}

/// What survives a restart (windows are rebuilt from the log instead).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// Per rule name.
    pub rules: BTreeMap<String, SavedRule>,
}

/// One rule's saved state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SavedRule {
    /// The definition it belongs to.
    pub fingerprint: String,
    /// Cool-downs: group, until (Unix ns), suppressed.
    pub cooldowns: Vec<(Group, i128, u64)>,
    /// Remembered values, oldest first.
    pub values: Vec<(Group, String)>,
    /// Silences being timed.
    pub silences: Vec<(Group, i128, LastSeen, bool)>,
    /// Conditions already alerted.
    pub raised: Vec<Group>,
    /// Where a threshold window or a sequence last started afresh, per
    /// group (it completed, or a sequence ran out of time): log, the first
    /// index after it and the `received_at` (Unix ns) of the event that
    /// did it. Replay leaves out a group's events before its mark, so a
    /// window is rebuilt from what came after — as it was.
    #[serde(default)]
    pub completed: Vec<(Group, String, u64, i128)>,
}

/// Where a group's window or sequence last started afresh: the events
/// before `index` of `log` (of other logs: received before `at_ns`) belong
/// to what came before.
#[derive(Clone, Debug)]
struct Mark {
    log: Arc<str>,
    index: u64,
    at_ns: i128,
}

/// Marks group `g` as started afresh at `index` of `log` (the index after
/// the event that completed its window, the own index of an event that came
/// too late for the old one), received at `at_ns`. The mark is updated in
/// place when it names the same log (nearly always: no allocation).
fn mark(marks: &mut HashMap<Key, Mark>, g: &[u8], log: &str, index: u64, at_ns: i128) {
    match marks.get_mut(g) {
        Some(m) if *m.log == *log => {
            m.index = index;
            m.at_ns = at_ns;
        }
        _ => {
            marks.insert(
                g.into(),
                Mark {
                    log: Arc::from(log),
                    index,
                    at_ns,
                },
            );
        }
    }
}

impl Mark {
    /// Whether the event belongs to what came before the mark.
    fn covers(&self, ev: &Observed<'_>, at_ns: i128) -> bool {
        if *self.log == *ev.log {
            ev.index < self.index
        } else {
            at_ns < self.at_ns
        }
    }
}

/// The marks a restart needs: replay starts at the oldest event a window
/// still holds (`horizon`, its `received_at`), and a mark older than that
/// leaves nothing out.
fn saved_marks(
    marks: &HashMap<Key, Mark>,
    horizon: Option<i128>,
) -> Vec<(Group, String, u64, i128)> {
    let Some(h) = horizon else {
        return Vec::new();
    };
    let mut out: Vec<_> = marks
        .iter()
        .filter(|(_, m)| m.at_ns >= h)
        .map(|(g, m)| (values_of(g), m.log.to_string(), m.index, m.at_ns))
        .collect();
    out.sort();
    out
}

fn restored_marks(saved: &[(Group, String, u64, i128)]) -> HashMap<Key, Mark> {
    saved
        .iter()
        .map(|(g, log, index, at_ns)| {
            (
                key_of(g),
                Mark {
                    log: Arc::from(log.as_str()),
                    index: *index,
                    at_ns: *at_ns,
                },
            )
        })
        .collect()
}

/// How far the `received_at` of logs evaluated side by side may lag one
/// another: what is older than the latest observed by more than this and a
/// window is forgotten.
const CLOCK_SLACK_NS: i128 = 60 * 1_000_000_000;

/// The engine.
pub struct Engine {
    set: Arc<RuleSet>,
    states: Vec<RuleState>,
    /// The shared states, one per class.
    classes: Vec<ClassState>,
    /// Each class's state key.
    class_keys: Vec<String>,
    /// Per rule, where its filters and group are in `shared`.
    ids: Vec<RuleIds>,
    shared: Shared,
    scratch: Vec<u8>,
    read: EntryReader,
    watching: Watching,
    /// Ticks since the marks were last pruned.
    ticks: u32,
    /// The latest `received_at` observed: the rules' clock (see
    /// [`Engine::forget_idle`]).
    frontier_ns: i128,
    /// The last `received_at` parsed, as written and parsed.
    received: Option<(Box<str>, i128)>,
    /// Where the reader puts an event's values.
    spans: Spans,
}

/// Which rules watch the log of the last event (events come in runs of
/// one log), and of those, the ones events are fed to, in rule order.
#[derive(Debug, Default)]
struct Watching {
    log: Option<Arc<str>>,
    any: bool,
    /// Compact, so that the per-event walk over the rules reads a few
    /// bytes per rule instead of each rule's definition.
    fed: Vec<Fed>,
    /// A rule fed has time windows on the event's own `time`.
    event_time: bool,
    /// Per `action` value met: the rules of `fed` (positions, in order)
    /// whose filters may pass an event with it — most rules name an
    /// action, so most events are walked past most rules at once.
    by_action: ByAction,
    /// The same for events without an `action`.
    no_action: Option<Box<[u32]>>,
    /// Every rule of `fed`: the walk past [`MAX_ACTIONS`].
    every: Box<[u32]>,
}

type ByAction = hashbrown::HashMap<Box<str>, Box<[u32]>, rustc_hash::FxBuildHasher>;

/// Most `action` values [`Watching::by_action`] keeps (actions are few;
/// past this, an event with a new one is walked past every rule).
const MAX_ACTIONS: usize = 4096;

/// A rule events are fed to.
#[derive(Clone, Copy, Debug)]
struct Fed {
    rule: usize,
    class: usize,
    matcher: usize,
    /// Replayed events rebuild its state (thresholds and sequences).
    replays: bool,
}

impl Watching {
    fn of(set: &RuleSet, ids: &[RuleIds], log: &str) -> Watching {
        let watches: Vec<bool> = set.rules.iter().map(|r| r.watches(log)).collect();
        let fed: Vec<Fed> = set
            .rules
            .iter()
            .zip(ids)
            .enumerate()
            .filter(|(k, (r, _))| watches[*k] && !matches!(r.kind, Kind::Integrity { .. }))
            .map(|(rule, (r, ids))| Fed {
                rule,
                class: ids.class,
                matcher: ids.matcher,
                replays: matches!(r.kind, Kind::Threshold { .. } | Kind::Sequence { .. }),
            })
            .collect();
        Watching {
            log: Some(log.into()),
            any: watches.iter().any(|w| *w),
            event_time: fed
                .iter()
                .any(|f: &Fed| set.rules[f.rule].windows_on_event_time),
            every: (0..fed.len())
                .map(|k| u32::try_from(k).expect("fewer than 2^32 rules"))
                .collect(),
            fed,
            by_action: ByAction::default(),
            no_action: None,
        }
    }
}

/// The positions in `fed` of the rules whose filters may pass an event
/// whose `action` (path `path`) is `value`, worked out once per value;
/// `None` when there are too many values to keep one more (then every
/// rule is walked).
fn admitting<'w>(
    by_action: &'w mut ByAction,
    no_action: &'w mut Option<Box<[u32]>>,
    fed: &[Fed],
    set: &RuleSet,
    path: Option<PathId>,
    value: Option<&str>,
) -> Option<&'w [u32]> {
    let list = || -> Box<[u32]> {
        (0..fed.len())
            .filter(|&k| {
                let Some(p) = path else { return true };
                let rule = &set.rules[fed[k].rule];
                rule.matcher.admits(p, value)
                    && match &rule.kind {
                        Kind::Sequence { steps, .. } => {
                            steps.iter().any(|(m, _)| m.admits(p, value))
                        }
                        _ => true,
                    }
            })
            .map(|k| u32::try_from(k).expect("fewer than 2^32 rules"))
            .collect()
    };
    match value {
        None => Some(no_action.get_or_insert_with(list)),
        Some(v) if by_action.len() >= MAX_ACTIONS => by_action.get(v).map(|l| &**l),
        Some(v) => Some(by_action.entry_ref(v).or_insert_with(list)),
    }
}

/// How the engine reads an entry: the rule set's paths and `received_at`
/// and `time`, straight from the bytes when it can.
#[derive(Clone, Debug)]
struct EntryReader {
    paths: Paths,
    reader: Reader,
    received: PathId,
    time: PathId,
    /// `action`, when a rule reads it.
    action: Option<PathId>,
}

impl EntryReader {
    fn of(set: &RuleSet) -> EntryReader {
        let mut paths = set.paths.clone();
        let received = paths.intern("received_at");
        let time = paths.intern("time");
        EntryReader {
            action: set.paths.find("action"),
            reader: Reader::new(&paths),
            paths,
            received,
            time,
        }
    }
}

fn unix_ns(text: Option<&str>) -> Option<i128> {
    text.and_then(|t| Timestamp::parse_rfc3339(t).ok())
        .map(|t| t.unix_nanos())
}

fn group_text(set: &RuleSet, rule: &Rule, g: &[u8]) -> BTreeMap<String, String> {
    rule.group_by
        .iter()
        .zip(values_of(g))
        .map(|(p, v)| (set.paths.name(*p), v))
        .collect()
}

fn show_group(m: &BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" for {}", parts.join(", "))
}

impl Engine {
    /// An engine running `set`, with no state.
    pub fn new(set: Arc<RuleSet>) -> Engine {
        let states = vec![RuleState::default(); set.rules.len()];
        let (shared, ids, class_keys) = Shared::of(&set);
        Engine {
            read: EntryReader::of(&set),
            set,
            states,
            classes: vec![ClassState::default(); class_keys.len()],
            class_keys,
            ids,
            shared,
            scratch: Vec::new(),
            watching: Watching::default(),
            ticks: 0,
            frontier_ns: i128::MIN,
            received: None,
            spans: Spans::default(),
        }
    }

    /// The rules running.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Runs `set` from now on. A rule with the same name and definition
    /// keeps its state (windows, cool-downs); others start afresh. A
    /// class's shared state (sequences, memory, silences) stays while
    /// a rule of the same state key runs; a rule that starts afresh in a
    /// class that stays takes the silences timed so far as alerted (it
    /// alerts the silences that begin from now on, as it would alone).
    pub fn reload(&mut self, set: Arc<RuleSet>) {
        let mut old: HashMap<(String, String), RuleState> = self
            .set
            .rules
            .iter()
            .zip(std::mem::take(&mut self.states))
            .map(|(r, s)| ((r.name.clone(), r.fingerprint.clone()), s))
            .collect();
        let mut old_classes: HashMap<String, ClassState> = std::mem::take(&mut self.class_keys)
            .into_iter()
            .zip(std::mem::take(&mut self.classes))
            .collect();
        let class_keys;
        (self.shared, self.ids, class_keys) = Shared::of(&set);
        self.classes = class_keys
            .iter()
            .map(|k| old_classes.remove(k).unwrap_or_default())
            .collect();
        self.class_keys = class_keys;
        self.states = set
            .rules
            .iter()
            .zip(&self.ids)
            .map(|(r, ids)| {
                old.remove(&(r.name.clone(), r.fingerprint.clone()))
                    .unwrap_or_else(|| {
                        let mut fresh = RuleState::default();
                        if let Some(c) = self.classes.get(ids.class) {
                            fresh.fired = c
                                .silences
                                .iter()
                                .map(|(g, s)| (g.clone(), s.seen))
                                .collect();
                        }
                        fresh
                    })
            })
            .collect();
        self.read = EntryReader::of(&set);
        self.watching = Watching::default();
        self.set = set;
    }

    /// Whether any rule watches `log` (if none, its events need not be read).
    pub fn watches(&self, log: &str) -> bool {
        self.set.rules.iter().any(|r| r.watches(log))
    }

    /// Takes one event (in index order per log) and returns the alerts it
    /// completes.
    pub fn observe(&mut self, ev: Observed<'_>) -> Vec<Alert> {
        self.feed(ev, false)
    }

    /// Takes one event already evaluated before a restart: windows and
    /// sequences are rebuilt, nothing is alerted and nothing else changes.
    pub fn replay(&mut self, ev: Observed<'_>) {
        self.feed(ev, true);
    }

    fn feed(&mut self, ev: Observed<'_>, replay: bool) -> Vec<Alert> {
        let mut out = Vec::new();
        if self.watching.log.as_deref() != Some(ev.log) {
            self.watching = Watching::of(&self.set, &self.ids, ev.log);
        }
        if !self.watching.any {
            return out;
        }
        let parsed;
        let fields = match self.read.reader.read(ev.entry, &mut self.spans) {
            Some(f) => f,
            None => {
                let Ok(json) = Json::parse(ev.entry) else {
                    return out;
                };
                parsed = json;
                self.read.paths.read(&parsed)
            }
        };
        // The events of one batch share their `received_at`: parsed once.
        let Some(at_text) = fields.get(self.read.received) else {
            return out;
        };
        let at = match &self.received {
            Some((text, at)) if **text == *at_text => *at,
            _ => {
                let Some(at) = unix_ns(Some(at_text)) else {
                    return out;
                };
                self.received = Some((at_text.into(), at));
                at
            }
        };
        self.frontier_ns = self.frontier_ns.max(at);
        // The event's own `time` only for rules whose windows go by it.
        let own_time = if self.watching.event_time {
            unix_ns(fields.get(self.read.time))
        } else {
            None
        };
        let set = Arc::clone(&self.set);
        self.shared.reset();
        let action = self.read.action.and_then(|p| fields.get(p));
        let watching = &mut self.watching;
        let order = admitting(
            &mut watching.by_action,
            &mut watching.no_action,
            &watching.fed,
            &set,
            self.read.action,
            action,
        )
        .unwrap_or(&watching.every);
        let log = watching.log.as_ref().expect("set for this event's log");
        let hit = || Hit {
            event: SeenAt {
                log: Arc::clone(log),
                index: ev.index,
                leaf_hash: ev.leaf_hash,
            },
            at_ns: at,
            value: None,
        };
        let now = Now {
            fields: &fields,
            ev: &ev,
            at,
            own_time,
            hit: &hit,
            replay,
        };
        for fed in order.iter().map(|&k| &watching.fed[k as usize]) {
            if replay && !fed.replays {
                continue;
            }
            // A class's state takes the event once, with its first rule.
            // Most rules have nothing to do with most events: a rule whose
            // class made nothing of it, or whose filter does not match it,
            // is passed by without more work.
            if fed.class != NO_CLASS {
                let c = fed.class;
                if self.shared.outcomes[c] == Outcome::Unasked {
                    let (rule, ids) = (&set.rules[fed.rule], &self.ids[fed.rule]);
                    let mut key = Keys {
                        shared: &mut self.shared,
                        ids,
                        scratch: &mut self.scratch,
                    };
                    let o = advance(rule, &mut self.classes[c], &now, &mut key);
                    self.shared.outcomes[c] = o;
                    self.shared.asked.push(c);
                }
                if self.shared.outcomes[c] == Outcome::Nothing {
                    continue;
                }
            } else if !self.shared.answers.matches(fed.matcher, &fields) {
                continue;
            }
            let (rule, state, ids) = (
                &set.rules[fed.rule],
                &mut self.states[fed.rule],
                &self.ids[fed.rule],
            );
            let mut key = Keys {
                shared: &mut self.shared,
                ids,
                scratch: &mut self.scratch,
            };
            if let Some(a) = step(&set, rule, state, &now, &mut key) {
                out.push(a);
            }
        }
        out
    }

    /// The silences and health conditions complete at `now_ns` (the log's
    /// clock). Call it regularly, once the events up to now are observed.
    pub fn tick(&mut self, now_ns: i128, health: &Health) -> Vec<Alert> {
        self.ticks += 1;
        if self.ticks >= 64 {
            self.ticks = 0;
            self.forget_idle();
            self.prune_marks(now_ns);
        }
        let set = Arc::clone(&self.set);
        let mut out = Vec::new();
        for ((rule, state), ids) in set.rules.iter().zip(self.states.iter_mut()).zip(&self.ids) {
            match &rule.kind {
                Kind::Absence { after_ns, expect } => {
                    let class = &mut self.classes[ids.class];
                    if !class.started {
                        class.started = true;
                        for e in expect {
                            let mut g = vec![e.clone()];
                            g.resize(rule.group_by.len(), String::new());
                            class.silences.entry(key_of(&g)).or_insert(Silence {
                                last_ns: now_ns,
                                last: None,
                                seen: 0,
                            });
                        }
                    }
                    let mut due: Vec<Key> = class
                        .silences
                        .iter()
                        .filter(|(g, s)| {
                            state.fired.get(*g) != Some(&s.seen)
                                && now_ns - s.last_ns >= i128::from(*after_ns)
                        })
                        .map(|(g, _)| g.clone())
                        .collect();
                    due.sort();
                    for g in due {
                        let s = &class.silences[&g];
                        state.fired.insert(g.clone(), s.seen);
                        let triggers: Vec<Trigger> = s.last.iter().map(SeenAt::trigger).collect();
                        let gt = group_text(&set, rule, &g);
                        let quiet = display((now_ns - s.last_ns).min(i128::from(i64::MAX)) as i64);
                        let summary = || {
                            format!(
                                "{}: no matching event{} for {quiet}",
                                rule.name,
                                show_group(&gt)
                            )
                        };
                        if let Some(a) =
                            fire(&set, rule, state, &g, now_ns, summary, || (triggers, 0))
                        {
                            out.push(a);
                        }
                    }
                }
                Kind::Integrity {
                    check,
                    after_ns,
                    min_free,
                } => {
                    let mut conditions: Vec<(Group, Option<String>)> = Vec::new();
                    match check {
                        Check::DiskLow => conditions.push((
                            vec!["disk".into()],
                            health
                                .disk_free
                                .filter(|f| f < min_free)
                                .map(|f| format!("{f} bytes free, below {min_free}")),
                        )),
                        _ => {
                            for l in health
                                .logs
                                .iter()
                                .filter(|l| rule.watches(&l.name) || rule.logs.is_none())
                            {
                                let why = match check {
                                    Check::StorageError => l.storage_error.clone(),
                                    Check::VerifyFailed => l.damaged.clone(),
                                    Check::ObjectStorage => l.object_storage.clone(),
                                    Check::NotReviewed => l.reviewed.and_then(|(to, at)| {
                                        (l.published > to && now_ns - at >= i128::from(*after_ns))
                                            .then(|| {
                                                format!(
                                                    "entries {to}..{} have not been reviewed; the last review was {} ago",
                                                    l.published,
                                                    display((now_ns - at).min(i128::from(i64::MAX)) as i64)
                                                )
                                            })
                                    }),
                                    Check::WitnessLag => l.witnessed.and_then(|w| {
                                        let s = state
                                            .witness_stalls
                                            .entry(l.name.clone())
                                            .or_insert((w, now_ns));
                                        if s.0 != w || w >= l.published {
                                            *s = (w, now_ns);
                                            return None;
                                        }
                                        (now_ns - s.1 >= i128::from(*after_ns)).then(|| {
                                            format!(
                                                "the checkpoint covers {} entries but the witnesses' quorum has cosigned only {w}, unchanged for {}",
                                                l.published,
                                                display((now_ns - s.1).min(i128::from(i64::MAX)) as i64)
                                            )
                                        })
                                    }),
                                    Check::CheckpointStalled => {
                                        // Since when entries have waited with the
                                        // checkpoint not moving.
                                        let s = state
                                            .stalls
                                            .entry(l.name.clone())
                                            .or_insert((l.published, now_ns));
                                        if l.published != s.0 || l.durable <= l.published {
                                            *s = (l.published, now_ns);
                                            if l.durable <= l.published {
                                                s.1 = i128::MAX;
                                            }
                                            None
                                        } else if s.1 == i128::MAX {
                                            s.1 = now_ns;
                                            None
                                        } else if now_ns - s.1 >= i128::from(*after_ns) {
                                            Some(format!(
                                                "{} entries wait for a checkpoint, which has covered {} entries for {}",
                                                l.durable - l.published,
                                                l.published,
                                                display((now_ns - s.1).min(i128::from(i64::MAX)) as i64)
                                            ))
                                        } else {
                                            None
                                        }
                                    }
                                    Check::DiskLow => unreachable!("handled above"),
                                };
                                conditions.push((vec![l.name.clone()], why));
                            }
                        }
                    }
                    for (g, why) in conditions {
                        let k = key_of(&g);
                        match why {
                            None => {
                                state.raised.remove(&k);
                            }
                            Some(why) if !state.raised.contains_key(&k) => {
                                state.raised.insert(k.clone(), true);
                                let mut gt = BTreeMap::new();
                                gt.insert(
                                    if g[0] == "disk" && *check == Check::DiskLow {
                                        "disk"
                                    } else {
                                        "log"
                                    }
                                    .to_owned(),
                                    g[0].clone(),
                                );
                                let summary = format!("{}: {}: {why}", rule.name, g[0]);
                                let summary = || summary;
                                if let Some(mut a) =
                                    fire(&set, rule, state, &k, now_ns, summary, || (Vec::new(), 0))
                                {
                                    a.group = gt;
                                    out.push(a);
                                }
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The oldest `received_at` the windows and sequences hold: a replay
    /// reads nothing older (see [`Saved`]'s marks).
    fn horizon(&self) -> Option<i128> {
        self.states
            .iter()
            .flat_map(|s| s.windows.values().flat_map(|w| w.hits.front()))
            .chain(
                self.classes
                    .iter()
                    .flat_map(|c| c.sequences.values().flat_map(|q| q.hits.first())),
            )
            .map(|t| t.at_ns)
            .min()
    }

    /// Forgets the state no later event can use, so that memory and a
    /// restart's replay do not grow with every group ever seen: threshold
    /// windows whose newest event is older than the window, sequences past
    /// their time limit (marked, as when the group's next event drops one),
    /// and cool-downs that are over with nothing suppressed in them. "Older"
    /// is against the latest `received_at` observed less [`CLOCK_SLACK_NS`]:
    /// within a log `received_at` never goes back, so the group's next event
    /// would have slid the window empty or dropped the sequence itself.
    fn forget_idle(&mut self) {
        if self.frontier_ns == i128::MIN {
            return;
        }
        let now = self.frontier_ns - CLOCK_SLACK_NS;
        let set = Arc::clone(&self.set);
        for ((rule, state), ids) in set.rules.iter().zip(self.states.iter_mut()).zip(&self.ids) {
            match &rule.kind {
                Kind::Threshold { window_ns, .. } => {
                    let limit = now - i128::from(*window_ns);
                    state
                        .windows
                        .retain(|_, w| w.hits.back().is_some_and(|t| t.at_ns > limit));
                }
                Kind::Sequence { within_ns, .. } => {
                    if let Some(class) = self.classes.get_mut(ids.class) {
                        let limit = now - i128::from(*within_ns);
                        let completed = &mut class.completed;
                        class.sequences.retain(|g, s| {
                            if s.start_ns >= limit {
                                return true;
                            }
                            if let Some(last) = s.hits.last() {
                                mark(
                                    completed,
                                    g,
                                    &last.event.log,
                                    last.event.index + 1,
                                    last.at_ns,
                                );
                            }
                            false
                        });
                    }
                }
                _ => {}
            }
            state
                .cool
                .retain(|_, c| c.suppressed > 0 || c.until_ns > now);
        }
    }

    /// Forgets the marks no replay can reach: older than what the windows
    /// hold and than a minute before `now_ns` (a window that begins later
    /// begins with a later event; the minute allows for logs whose clocks
    /// lag one another). Without it the marks would grow with every group
    /// that ever completed.
    fn prune_marks(&mut self, now_ns: i128) {
        let limit = self
            .horizon()
            .unwrap_or(now_ns)
            .min(now_ns)
            .saturating_sub(CLOCK_SLACK_NS);
        for m in self
            .states
            .iter_mut()
            .map(|s| &mut s.completed)
            .chain(self.classes.iter_mut().map(|c| &mut c.completed))
        {
            m.retain(|_, k| k.at_ns >= limit);
        }
    }

    /// The first index of `log` that the windows still hold: replaying
    /// from here up to the saved position rebuilds them. `None` when they
    /// hold nothing of it.
    pub fn rebuild_from(&self, log: &str) -> Option<u64> {
        let windows = self.states.iter().flat_map(|s| s.windows.values());
        let sequences = self.classes.iter().flat_map(|c| c.sequences.values());
        windows
            .filter_map(|w| w.hits.iter().find(|t| *t.event.log == *log))
            .chain(sequences.filter_map(|q| q.hits.iter().find(|t| *t.event.log == *log)))
            .map(|t| t.event.index)
            .min()
    }

    /// The state that a restart cannot rebuild from the log.
    pub fn save(&self) -> Saved {
        let mut saved = Saved::default();
        let none = ClassState::default();
        let horizon = self.horizon();
        for ((rule, s), ids) in self.set.rules.iter().zip(&self.states).zip(&self.ids) {
            let class = self.classes.get(ids.class).unwrap_or(&none);
            let completed = match rule.kind {
                Kind::Threshold { .. } => saved_marks(&s.completed, horizon),
                Kind::Sequence { .. } => saved_marks(&class.completed, horizon),
                _ => Vec::new(),
            };
            let values = match rule.kind {
                Kind::NewValue { .. } => class.memory.oldest_first(),
                _ => Vec::new(),
            };
            let silences = match rule.kind {
                Kind::Absence { .. } => &class.silences,
                _ => &none.silences,
            };
            saved.rules.insert(
                rule.name.clone(),
                SavedRule {
                    fingerprint: rule.fingerprint.clone(),
                    cooldowns: s
                        .cool
                        .iter()
                        .map(|(g, c)| (values_of(g), c.until_ns, c.suppressed))
                        .collect(),
                    values,
                    silences: silences
                        .iter()
                        .map(|(g, x)| {
                            (
                                values_of(g),
                                x.last_ns,
                                x.last.as_ref().map(SeenAt::saved),
                                s.fired.get(g) == Some(&x.seen),
                            )
                        })
                        .collect(),
                    raised: s.raised.keys().map(|g| values_of(g)).collect(),
                    completed,
                },
            );
        }
        saved
    }

    /// Takes back what [`Engine::save`] gave, for the rules whose
    /// definition is unchanged.
    pub fn restore(&mut self, saved: &Saved) {
        // Each rule of a class saved the class's state: it is taken back
        // once, from the first rule whose definition is unchanged.
        let mut restored = vec![false; self.classes.len()];
        for ((rule, s), ids) in self
            .set
            .rules
            .iter()
            .zip(self.states.iter_mut())
            .zip(&self.ids)
        {
            let Some(r) = saved.rules.get(&rule.name) else {
                continue;
            };
            if r.fingerprint != rule.fingerprint {
                continue;
            }
            s.cool = r
                .cooldowns
                .iter()
                .map(|(g, u, n)| {
                    (
                        key_of(g),
                        Cool {
                            until_ns: *u,
                            suppressed: *n,
                        },
                    )
                })
                .collect();
            let cap = match rule.kind {
                Kind::NewValue { memory, .. } => memory,
                _ => usize::MAX,
            };
            if let Some(class) = self.classes.get_mut(ids.class) {
                if !restored[ids.class] {
                    restored[ids.class] = true;
                    class.completed = restored_marks(&r.completed);
                    for (g, v) in &r.values {
                        class.memory.see(&key_of(g), v, cap, &mut self.scratch);
                    }
                    if !r.silences.is_empty() {
                        class.started = true;
                    }
                    class.silences = r
                        .silences
                        .iter()
                        .map(|(g, t, l, _)| {
                            (
                                key_of(g),
                                Silence {
                                    last_ns: *t,
                                    last: l.as_ref().and_then(SeenAt::restored),
                                    seen: 0,
                                },
                            )
                        })
                        .collect();
                }
                s.fired = r
                    .silences
                    .iter()
                    .filter(|(_, _, _, fired)| *fired)
                    .filter_map(|(g, ..)| {
                        let k = key_of(g);
                        class.silences.get(&k).map(|x| (k, x.seen))
                    })
                    .collect();
            }
            s.raised = r.raised.iter().map(|g| (key_of(g), true)).collect();
            if let Kind::Threshold { .. } = rule.kind {
                s.completed = restored_marks(&r.completed);
            }
        }
    }
}

fn b64_of(h: &[u8; 32]) -> String {
    veritrail_core::Hash(*h).to_base64()
}

/// The event being evaluated.
struct Now<'a, 'e> {
    fields: &'a Fields<'e>,
    ev: &'a Observed<'a>,
    at: i128,
    own_time: Option<i128>,
    /// The event as a window or sequence holds it.
    hit: &'a dyn Fn() -> Hit,
    replay: bool,
}

/// A rule's way to the event's shared answers (a sequence takes the parts
/// apart: its group key is held while its steps are asked).
struct Keys<'a> {
    shared: &'a mut Shared,
    ids: &'a RuleIds,
    scratch: &'a mut Vec<u8>,
}

impl Keys<'_> {
    fn matches(&mut self, fields: &Fields<'_>) -> bool {
        self.shared.answers.matches(self.ids.matcher, fields)
    }

    /// What the state of the rule's class made of the event (worked out
    /// before the rule is stepped).
    fn outcome(&self) -> Outcome {
        self.shared.outcomes[self.ids.class]
    }
}

/// Whether the event is inside `rule`'s time windows.
fn in_windows(rule: &Rule, now: &Now<'_, '_>) -> bool {
    rule.windows.iter().all(|(inside, w)| {
        let t = if rule.windows_on_event_time {
            now.own_time
        } else {
            Some(now.at)
        };
        t.is_some_and(|t| w.contains(t) == *inside)
    })
}

/// Takes the event into the state `rule`'s class shares (any rule of the
/// class gives the same answer) and says what it made of it.
fn advance(rule: &Rule, class: &mut ClassState, now: &Now<'_, '_>, key: &mut Keys<'_>) -> Outcome {
    let (fields, at, hit) = (now.fields, now.at, now.hit);
    let nothing = Outcome::Nothing;
    match &rule.kind {
        Kind::Sequence { steps, within_ns } => {
            if !rule.matcher.all.is_empty() && !key.matches(fields) || !in_windows(rule, now) {
                return nothing;
            }
            // An event no step matches changes nothing that the group's
            // next matching event would not see first (a sequence past its
            // time limit is dropped then).
            let answers = &mut key.shared.answers;
            let step_ids = &key.ids.steps;
            if !step_ids.iter().any(|i| answers.matches(*i, fields)) {
                return nothing;
            }
            let Some(g) = key.shared.keys.get(key.ids.group, fields) else {
                return nothing;
            };
            if now.replay && class.completed.get(g).is_some_and(|m| m.covers(now.ev, at)) {
                return nothing;
            }
            let mut step_now = 0;
            let mut expired = false;
            if let Some(s) = class.sequences.get(g) {
                expired = at - s.start_ns > i128::from(*within_ns);
                if !expired {
                    step_now = s.step;
                }
            }
            if expired {
                class.sequences.remove(g);
                mark(&mut class.completed, g, now.ev.log, now.ev.index, at);
            }
            if answers.matches(step_ids[step_now], fields) {
                let s = match class.sequences.get_mut(g) {
                    Some(s) => s,
                    None => class.sequences.entry(g.into()).or_insert(SeqState {
                        step: 0,
                        in_step: 0,
                        start_ns: at,
                        hits: Vec::new(),
                    }),
                };
                s.hits.push(hit());
                s.in_step += 1;
                if s.in_step >= steps[s.step].1 {
                    s.step += 1;
                    s.in_step = 0;
                }
                if s.step < steps.len() {
                    return nothing;
                }
                let done = class.sequences.remove(g).expect("present");
                mark(&mut class.completed, g, now.ev.log, now.ev.index + 1, at);
                key.shared.completed[key.ids.class] = done.hits;
                return Outcome::Completed;
            }
            if step_now > 0 && answers.matches(step_ids[step_now - 1], fields) {
                // More of the step already done: part of the sequence.
                if let Some(s) = class.sequences.get_mut(g) {
                    s.hits.push(hit());
                }
            }
            nothing
        }
        Kind::NewValue { field, memory, .. } => {
            if !key.matches(fields) || !in_windows(rule, now) {
                return nothing;
            }
            let Some(g) = key.shared.keys.get(key.ids.group, fields) else {
                return nothing;
            };
            let Some(v) = fields.get(*field) else {
                return nothing;
            };
            match class.memory.see(g, v, *memory, key.scratch) {
                (true, first) => Outcome::New { first },
                (false, _) => nothing,
            }
        }
        Kind::Absence { .. } => {
            if !key.matches(fields) || !in_windows(rule, now) {
                return nothing;
            }
            let Some(g) = key.shared.keys.get(key.ids.group, fields) else {
                return nothing;
            };
            let s = match class.silences.get_mut(g) {
                Some(s) => s,
                None => class.silences.entry(g.into()).or_default(),
            };
            if at >= s.last_ns {
                let ev = now.ev;
                s.last_ns = at;
                s.seen += 1;
                match &mut s.last {
                    // Nearly every time: the same log as before.
                    Some(l) if *l.log == *ev.log => {
                        l.index = ev.index;
                        l.leaf_hash = ev.leaf_hash;
                    }
                    last => *last = Some((now.hit)().event),
                }
            }
            nothing
        }
        _ => nothing,
    }
}

fn step(
    set: &RuleSet,
    rule: &Rule,
    state: &mut RuleState,
    now: &Now<'_, '_>,
    key: &mut Keys<'_>,
) -> Option<Alert> {
    let (fields, at, hit, replay) = (now.fields, now.at, now.hit, now.replay);
    match &rule.kind {
        Kind::Match => {
            if !key.matches(fields) || !in_windows(rule, now) {
                return None;
            }
            let g = key.shared.keys.get(key.ids.group, fields)?;
            let summary = || {
                format!(
                    "{}: {}{}",
                    rule.name,
                    fields_summary(set, fields),
                    show_group(&group_text(set, rule, g))
                )
            };
            fire(set, rule, state, g, at, summary, || {
                (vec![hit().event.trigger()], 1)
            })
        }
        Kind::Threshold {
            count,
            window_ns,
            distinct,
        } => {
            if !key.matches(fields) || !in_windows(rule, now) {
                return None;
            }
            let g = key.shared.keys.get(key.ids.group, fields)?;
            if replay && state.completed.get(g).is_some_and(|m| m.covers(now.ev, at)) {
                return None;
            }
            let mut t = hit();
            if let Some(d) = distinct {
                t.value = Some(fields.get(*d)?.into());
            }
            let w = match state.windows.get_mut(g) {
                Some(w) => w,
                None => state.windows.entry(g.into()).or_insert_with(|| Window {
                    // Room for what completes it (it grows past that only
                    // with `distinct`).
                    hits: VecDeque::with_capacity((*count as usize).min(1024)),
                    distinct: HashMap::default(),
                }),
            };
            if let Some(v) = &t.value {
                match w.distinct.get_mut(&**v) {
                    Some(n) => *n += 1,
                    None => {
                        w.distinct.insert(v.to_string(), 1);
                    }
                }
            }
            w.hits.push_back(t);
            // A sliding window on rule time; received_at never goes back
            // within a log, so the oldest are at the front.
            while w
                .hits
                .front()
                .is_some_and(|t| at - t.at_ns >= i128::from(*window_ns))
            {
                let old = w.hits.pop_front().expect("not empty");
                if let Some(v) = old.value {
                    if let Some(n) = w.distinct.get_mut(&*v) {
                        *n -= 1;
                        if *n == 0 {
                            w.distinct.remove(&*v);
                        }
                    }
                }
            }
            let reached = match distinct {
                None => w.hits.len(),
                Some(_) => w.distinct.len(),
            };
            if reached < *count as usize {
                return None;
            }
            let hits: Vec<Hit> = state.windows.remove(g).expect("present").hits.into();
            mark(&mut state.completed, g, now.ev.log, now.ev.index + 1, at);
            if replay {
                return None;
            }
            let n = hits.len() as u64;
            let summary = || {
                let what = match distinct {
                    None => format!("{n} matching events"),
                    Some(d) => {
                        format!("{reached} distinct {} in {n} events", set.paths.name(*d))
                    }
                };
                format!(
                    "{}: {what} within {}{}",
                    rule.name,
                    display(*window_ns),
                    show_group(&group_text(set, rule, g))
                )
            };
            fire(set, rule, state, g, at, summary, || triggers(&hits))
        }
        Kind::Sequence { steps, within_ns } => {
            if key.outcome() != Outcome::Completed {
                return None;
            }
            if replay {
                return None;
            }
            let g = key.shared.keys.get(key.ids.group, fields)?;
            let hits = &key.shared.completed[key.ids.class];
            let summary = || {
                format!(
                    "{}: {} steps in order within {}{}",
                    rule.name,
                    steps.len(),
                    display(*within_ns),
                    show_group(&group_text(set, rule, g))
                )
            };
            fire(set, rule, state, g, at, summary, || triggers(hits))
        }
        Kind::NewValue {
            field,
            first_is_new,
            ..
        } => {
            let Outcome::New { first } = key.outcome() else {
                return None;
            };
            if first && !first_is_new {
                return None;
            }
            let g = key.shared.keys.get(key.ids.group, fields)?;
            let v = fields.get(*field)?;
            let summary = || {
                format!(
                    "{}: new {} {v:?}{}",
                    rule.name,
                    set.paths.name(*field),
                    show_group(&group_text(set, rule, g))
                )
            };
            fire(set, rule, state, g, at, summary, || {
                (vec![hit().event.trigger()], 1)
            })
        }
        // The class took the event; silences alert in `tick`.
        Kind::Absence { .. } => None,
        Kind::Integrity { .. } => None,
    }
}

fn fields_summary(set: &RuleSet, fields: &Fields<'_>) -> String {
    let mut parts = Vec::new();
    for name in [
        "action",
        "outcome",
        "actor.id",
        "actor.ip",
        "target.id",
        "source.host",
    ] {
        if let Some(v) = set.paths.find(name).and_then(|id| fields.get(id)) {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(" ")
}

/// `rule` fires for group `g` at `at`, unless its cool-down keeps it quiet
/// (then it is counted). `summary` and `triggers` (the events that made
/// it, and how many there were, at least as many) are asked only when the
/// alert is let out.
fn fire(
    set: &RuleSet,
    rule: &Rule,
    state: &mut RuleState,
    g: &[u8],
    at: i128,
    summary: impl FnOnce() -> String,
    triggers: impl FnOnce() -> (Vec<Trigger>, u64),
) -> Option<Alert> {
    let cool = match state.cool.get_mut(g) {
        Some(c) => c,
        None => state.cool.entry(g.into()).or_default(),
    };
    if at < cool.until_ns {
        cool.suppressed += 1;
        return None;
    }
    let suppressed = std::mem::take(&mut cool.suppressed);
    cool.until_ns = at + i128::from(rule.cooldown_ns);
    // Made only now: most firings in a busy group are kept quiet.
    let (mut triggers, count) = triggers();
    let trigger_count = count.max(triggers.len() as u64);
    if triggers.len() > MAX_TRIGGERS {
        triggers.drain(..triggers.len() - MAX_TRIGGERS);
    }
    Some(Alert {
        rule: rule.name.clone(),
        kind: rule.kind.name(),
        severity: rule.severity,
        version: set.version.clone(),
        description: rule.description.clone(),
        group: group_text(set, rule, g),
        fired_at_ns: at,
        summary: summary(),
        triggers,
        trigger_count,
        suppressed,
        actions: rule.actions.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: &[&str]) -> Group {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn group_keys_tell_groups_apart_and_give_them_back() {
        let pairs = [
            (g(&["ab", "c"]), g(&["a", "bc"])),
            (g(&["a\u{1f}b", ""]), g(&["a", "\u{1f}b"])),
            (g(&[""]), g(&[])),
            (g(&["\0\0\0\0"]), g(&["", ""])),
        ];
        for (x, y) in pairs {
            assert_ne!(key_of(&x), key_of(&y), "{x:?} and {y:?}");
            assert_eq!(values_of(&key_of(&x)), x);
            assert_eq!(values_of(&key_of(&y)), y);
        }
    }

    #[test]
    fn memory_forgets_the_least_recently_seen() {
        let mut m = Memory::default();
        let mut scratch = Vec::new();
        let alice = key_of(&g(&["alice"]));
        let bob = key_of(&g(&["bob"]));
        assert_eq!(m.see(&alice, "1", 2, &mut scratch), (true, true));
        assert_eq!(m.see(&alice, "2", 2, &mut scratch), (true, false));
        // Seeing 1 again makes 2 the least recently seen.
        assert_eq!(m.see(&alice, "1", 2, &mut scratch), (false, false));
        assert_eq!(m.see(&bob, "1", 2, &mut scratch), (true, true));
        assert_eq!(
            m.oldest_first(),
            vec![(g(&["alice"]), "1".into()), (g(&["bob"]), "1".into())]
        );
        assert_eq!(
            m.see(&alice, "2", 2, &mut scratch),
            (true, false),
            "2 was forgotten"
        );
        // alice's 1 goes now; alice still has 2, bob nothing left after the next.
        assert_eq!(m.see(&alice, "3", 2, &mut scratch), (true, false));
        assert_eq!(
            m.see(&bob, "1", 2, &mut scratch),
            (true, true),
            "bob was forgotten whole"
        );
        let copy = m.clone();
        assert_eq!(copy.oldest_first(), m.oldest_first());
        assert_eq!(m.index.len(), 2);
        assert_eq!(m.groups.len(), 2);
    }
}
