//! Witness policies: which witnesses a verifier trusts, and which sets of
//! them must have cosigned a checkpoint (docs/TRUST.md "Policies").
//!
//! A policy is either "K of these witnesses" (`--witness … --quorum K`) or
//! read from a policy file. C2SP has not settled a policy format; the file
//! follows the Sigsum policy file's shape, with C2SP note verifier keys:
//!
//! ```text
//! # comments and blank lines are ignored
//! log VKEY [URL]                 # a log key the policy accepts (optional)
//! witness NAME VKEY [URL]        # a witness (cosignature/v1 key)
//! group NAME K|any|all MEMBER…   # K of the members (witnesses or groups)
//! quorum NAME|none               # the rule a checkpoint must meet
//! ```
//!
//! Names are local to the file; a group names only witnesses and groups
//! defined above it (so there are no cycles); exactly one `quorum` line.

use std::collections::BTreeMap;

use super::signed::{Note, Verifier};

/// Which witnesses must have cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// Nothing needed (`quorum none`).
    None,
    /// One witness (an index into the policy's witnesses).
    Witness(usize),
    /// At least `k` of the members.
    Group {
        name: String,
        k: usize,
        members: Vec<Rule>,
    },
}

impl Rule {
    fn met(&self, ok: &[bool]) -> bool {
        match self {
            Rule::None => true,
            Rule::Witness(i) => ok[*i],
            Rule::Group { k, members, .. } => members.iter().filter(|m| m.met(ok)).count() >= *k,
        }
    }

    fn describe(&self, names: &[String]) -> String {
        match self {
            Rule::None => "none".into(),
            Rule::Witness(i) => names[*i].clone(),
            Rule::Group { name, k, members } => {
                let inner: Vec<String> = members.iter().map(|m| m.describe(names)).collect();
                let body = format!("{k} of {{{}}}", inner.join(", "));
                if name.is_empty() {
                    body
                } else {
                    format!("{name}: {body}")
                }
            }
        }
    }
}

/// A witness policy: the witnesses a verifier trusts and the rule their
/// valid cosignatures must meet (docs/TRUST.md "Policies").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<Verifier>,
    /// The policy file's name for each witness (its key name otherwise).
    labels: Vec<String>,
    rule: Rule,
    logs: Vec<Verifier>,
}

/// Why a checkpoint does not meet a [`WitnessPolicy`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A cosignature line from a policy witness does not verify.
    #[error("the cosignature of witness {0} does not verify")]
    Invalid(String),
    /// The valid cosignatures do not meet the rule.
    #[error("{} valid cosignature(s) ({}), the policy needs {rule}; missing: {}", have.len(), if have.is_empty() { "none".to_owned() } else { have.join(", ") }, missing.join(", "))]
    TooFew {
        /// Witnesses with a valid cosignature.
        have: Vec<String>,
        /// The rule, written out.
        rule: String,
        /// The policy's witnesses without a valid cosignature.
        missing: Vec<String>,
    },
    /// Not a signed note.
    #[error("not a signed note: {0}")]
    Note(String),
    /// The policy file lists log keys, and the checkpoint's is not one.
    #[error("the log key {0} is not one of the policy's logs")]
    OtherLog(String),
}

/// A policy file that cannot be used: where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct PolicyFileError {
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl WitnessPolicy {
    /// "At least `quorum` of `witnesses`".
    ///
    /// # Errors
    /// No witnesses, a quorum of 0 or above their number, or a witness key
    /// listed twice.
    pub fn threshold(witnesses: Vec<Verifier>, quorum: usize) -> Result<Self, String> {
        if witnesses.is_empty() {
            return Err("a policy needs at least one witness".into());
        }
        if quorum == 0 || quorum > witnesses.len() {
            return Err(format!(
                "quorum {quorum}: between 1 and the {} witnesses",
                witnesses.len()
            ));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|v| same_key(v, w)) {
                return Err(format!("witness {} is listed twice", w.name()));
            }
        }
        let labels = witnesses.iter().map(|w| w.name().to_owned()).collect();
        let members = (0..witnesses.len()).map(Rule::Witness).collect();
        Ok(WitnessPolicy {
            witnesses,
            labels,
            rule: Rule::Group {
                name: String::new(),
                k: quorum,
                members,
            },
            logs: Vec::new(),
        })
    }

    /// Reads a policy file (the format in the module documentation).
    ///
    /// # Errors
    /// The first line that is wrong, or a file without a `quorum` line.
    pub fn parse(text: &str) -> Result<Self, PolicyFileError> {
        let mut witnesses: Vec<Verifier> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        let mut logs: Vec<Verifier> = Vec::new();
        let mut named: BTreeMap<String, Rule> = BTreeMap::new();
        let mut quorum: Option<Rule> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let bad = |reason: String| PolicyFileError { line, reason };
            let words: Vec<&str> = raw
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let Some((&kw, rest)) = words.split_first() else {
                continue;
            };
            let key = |k: &str| Verifier::parse(k).map_err(|e| bad(format!("key {k:?}: {e}")));
            match kw {
                "log" => {
                    let [k, ..] = rest else {
                        return Err(bad("log: expected `log VKEY [URL]`".into()));
                    };
                    if rest.len() > 2 {
                        return Err(bad("log: expected `log VKEY [URL]`".into()));
                    }
                    logs.push(key(k)?);
                }
                "witness" => {
                    let [name, k, ..] = rest else {
                        return Err(bad("witness: expected `witness NAME VKEY [URL]`".into()));
                    };
                    if rest.len() > 3 {
                        return Err(bad("witness: expected `witness NAME VKEY [URL]`".into()));
                    }
                    check_name(name).map_err(&bad)?;
                    if named.contains_key(*name) {
                        return Err(bad(format!("the name {name:?} is defined twice")));
                    }
                    let v = key(k)?;
                    if let Some(i) = witnesses.iter().position(|w| same_key(w, &v)) {
                        return Err(bad(format!(
                            "witness {name}: the same key as witness {}",
                            labels[i]
                        )));
                    }
                    named.insert((*name).to_owned(), Rule::Witness(witnesses.len()));
                    witnesses.push(v);
                    labels.push((*name).to_owned());
                }
                "group" => {
                    let [name, k, members @ ..] = rest else {
                        return Err(bad("group: expected `group NAME K|any|all MEMBER…`".into()));
                    };
                    check_name(name).map_err(&bad)?;
                    if named.contains_key(*name) {
                        return Err(bad(format!("the name {name:?} is defined twice")));
                    }
                    if members.is_empty() {
                        return Err(bad(format!("group {name}: no members")));
                    }
                    let mut rules = Vec::new();
                    for (j, m) in members.iter().enumerate() {
                        if members[..j].contains(m) {
                            return Err(bad(format!("group {name}: {m} is listed twice")));
                        }
                        let r = named.get(*m).ok_or_else(|| {
                            bad(format!(
                                "group {name}: {m:?} is not a witness or group defined above"
                            ))
                        })?;
                        rules.push(r.clone());
                    }
                    let k = match *k {
                        "any" => 1,
                        "all" => members.len(),
                        n => n
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=members.len()).contains(n))
                            .ok_or_else(|| {
                                bad(format!(
                                    "group {name}: threshold {n:?}: any, all or a number from 1 to {}",
                                    members.len()
                                ))
                            })?,
                    };
                    named.insert(
                        (*name).to_owned(),
                        Rule::Group {
                            name: (*name).to_owned(),
                            k,
                            members: rules,
                        },
                    );
                }
                "quorum" => {
                    let [name] = rest else {
                        return Err(bad("quorum: expected `quorum NAME|none`".into()));
                    };
                    if quorum.is_some() {
                        return Err(bad("a second quorum line".into()));
                    }
                    quorum = Some(if *name == "none" {
                        Rule::None
                    } else {
                        named.get(*name).cloned().ok_or_else(|| {
                            bad(format!(
                                "quorum: {name:?} is not a witness or group defined above"
                            ))
                        })?
                    });
                }
                other => {
                    return Err(bad(format!(
                        "unknown keyword {other:?} (log, witness, group, quorum)"
                    )))
                }
            }
        }
        let rule = quorum.ok_or(PolicyFileError {
            line: 0,
            reason: "no quorum line".into(),
        })?;
        Ok(WitnessPolicy {
            witnesses,
            labels,
            rule,
            logs,
        })
    }

    /// The witnesses' verifier keys.
    pub fn witnesses(&self) -> &[Verifier] {
        &self.witnesses
    }

    /// The log keys the policy file lists (empty: any).
    pub fn logs(&self) -> &[Verifier] {
        &self.logs
    }

    /// Whether the policy accepts checkpoints signed by `log` (a file that
    /// lists logs accepts only those).
    pub fn accepts_log(&self, log: &Verifier) -> bool {
        self.logs.is_empty() || self.logs.iter().any(|l| same_key(l, log))
    }

    /// The rule, written out (`2 of {w1, w2, w3}`).
    pub fn describe(&self) -> String {
        self.rule.describe(&self.labels)
    }

    /// Checks the cosignatures of a signed checkpoint note (with the log's
    /// own signature and any others, which are ignored): returns the names
    /// (their keys' names) of the witnesses whose cosignatures verify.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] for a cosignature line of a policy witness
    /// that does not verify (never ignored); [`PolicyError::TooFew`].
    pub fn check(&self, signed_note: &[u8]) -> Result<Vec<String>, PolicyError> {
        let ok = self.valid(signed_note)?;
        if !self.rule.met(&ok) {
            return Err(PolicyError::TooFew {
                have: self.named(&ok, true),
                rule: self.describe(),
                missing: self.named(&ok, false),
            });
        }
        Ok(self.named(&ok, true))
    }

    /// [`WitnessPolicy::check`] for a checkpoint of the log whose key is
    /// `log`: a policy file that lists logs must list it.
    ///
    /// # Errors
    /// [`PolicyError::OtherLog`], or those of [`WitnessPolicy::check`].
    pub fn check_log(
        &self,
        log: &Verifier,
        signed_note: &[u8],
    ) -> Result<Vec<String>, PolicyError> {
        if !self.accepts_log(log) {
            return Err(PolicyError::OtherLog(log.to_vkey()));
        }
        self.check(signed_note)
    }

    /// Checks only that every cosignature of a policy witness on the note
    /// verifies (none needed); returns the names of those that do.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`], [`PolicyError::Note`].
    pub fn check_valid(&self, signed_note: &[u8]) -> Result<Vec<String>, PolicyError> {
        let ok = self.valid(signed_note)?;
        Ok(self.named(&ok, true))
    }

    fn named(&self, ok: &[bool], want: bool) -> Vec<String> {
        self.witnesses
            .iter()
            .zip(ok)
            .filter(|(_, o)| **o == want)
            .map(|(w, _)| w.name().to_owned())
            .collect()
    }

    fn valid(&self, signed_note: &[u8]) -> Result<Vec<bool>, PolicyError> {
        let note = Note::parse(signed_note).map_err(|e| PolicyError::Note(e.to_string()))?;
        let mut ok = vec![false; self.witnesses.len()];
        for (i, w) in self.witnesses.iter().enumerate() {
            for s in note
                .signatures
                .iter()
                .filter(|s| s.name == w.name() && s.id == w.key_id())
            {
                if w.verify(&note.text, &s.sig).is_none() {
                    return Err(PolicyError::Invalid(w.name().to_owned()));
                }
                ok[i] = true;
            }
        }
        Ok(ok)
    }
}

fn same_key(a: &Verifier, b: &Verifier) -> bool {
    a.to_vkey() == b.to_vkey()
}

fn check_name(name: &str) -> Result<(), String> {
    if name == "none" {
        return Err("\"none\" is reserved (quorum none)".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
    {
        return Err(format!("name {name:?}: letters, digits and . _ - / : only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{SigType, Signer};

    #[test]
    fn a_policy_counts_valid_cosignatures_and_names_what_is_missing() {
        let log = Signer::from_seed("example.com/log", SigType::Ed25519, [1; 32]).unwrap();
        let w: Vec<Signer> = (0..3u8)
            .map(|i| {
                Signer::from_seed(
                    &format!("w{i}.example"),
                    SigType::CosignatureV1,
                    [10 + i; 32],
                )
                .unwrap()
            })
            .collect();
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = log.sign_note(text).unwrap();
        let line = |k: usize| format!("{}\n", w[k].sign_line(text, 1_800_000_000).unwrap());
        let policy = WitnessPolicy::threshold(w.iter().map(Signer::verifier).collect(), 2).unwrap();
        let two = format!("{note}{}{}", line(0), line(2));
        assert_eq!(
            policy.check(two.as_bytes()).unwrap(),
            vec!["w0.example", "w2.example"]
        );
        let one = format!("{note}{}", line(1));
        assert_eq!(
            policy.check(one.as_bytes()),
            Err(PolicyError::TooFew {
                have: vec!["w1.example".into()],
                rule: "2 of {w0.example, w1.example, w2.example}".into(),
                missing: vec!["w0.example".into(), "w2.example".into()]
            })
        );
        // A cosignature over another checkpoint does not count: it fails.
        let other = "example.com/log\n6\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let forged = format!("{note}{}{}\n", line(0), w[1].sign_line(other, 1).unwrap());
        assert_eq!(
            policy.check(forged.as_bytes()),
            Err(PolicyError::Invalid("w1.example".into()))
        );
    }

    #[test]
    fn a_policy_file_with_nested_groups() {
        let log = Signer::from_seed("example.com/log", SigType::Ed25519, [1; 32]).unwrap();
        let w: Vec<Signer> = (0..4u8)
            .map(|i| {
                Signer::from_seed(
                    &format!("w{i}.example"),
                    SigType::CosignatureV1,
                    [20 + i; 32],
                )
                .unwrap()
            })
            .collect();
        let vk = |i: usize| w[i].verifier().to_vkey();
        let file = format!(
            "# two operators\nlog {}\nwitness a1 {} https://a1.example/\nwitness a2 {}\n\
             group a any a1 a2   # either of A's\nwitness b1 {}\nwitness b2 {}\n\
             group b 2 b1 b2\ngroup both all a b\nquorum both\n",
            log.verifier().to_vkey(),
            vk(0),
            vk(1),
            vk(2),
            vk(3)
        );
        let p = WitnessPolicy::parse(&file).unwrap();
        assert_eq!(p.witnesses().len(), 4);
        assert!(p.accepts_log(&log.verifier()));
        assert!(!p.accepts_log(&w[0].verifier()));
        assert_eq!(
            p.describe(),
            "both: 2 of {a: 1 of {a1, a2}, b: 2 of {b1, b2}}"
        );
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = log.sign_note(text).unwrap();
        let signed = |ks: &[usize]| {
            let mut n = note.clone();
            for k in ks {
                n.push_str(&format!("{}\n", w[*k].sign_line(text, 7).unwrap()));
            }
            n
        };
        assert!(p.check(signed(&[1, 2, 3]).as_bytes()).is_ok());
        assert!(p.check(signed(&[0, 2, 3]).as_bytes()).is_ok());
        // Both of A's but only one of B's: B's group is not met.
        assert!(matches!(
            p.check(signed(&[0, 1, 2]).as_bytes()),
            Err(PolicyError::TooFew { missing, .. }) if missing == vec!["w3.example".to_owned()]
        ));
        let none = WitnessPolicy::parse("quorum none\n").unwrap();
        assert!(none.check(note.as_bytes()).is_ok());
    }

    #[test]
    fn bad_policy_files_name_the_line() {
        let w = Signer::from_seed("w.example", SigType::CosignatureV1, [9; 32]).unwrap();
        let vk = w.verifier().to_vkey();
        let cases: [(String, usize, &str); 9] = [
            (String::new(), 0, "no quorum line"),
            (
                "witness x\nquorum x\n".into(),
                1,
                "expected `witness NAME VKEY",
            ),
            (
                format!("witness x {vk}\nquorum y\n"),
                2,
                "not a witness or group",
            ),
            (
                format!("witness x {vk}\nwitness y {vk}\nquorum x\n"),
                2,
                "the same key",
            ),
            (
                format!("witness x {vk}\ngroup g 2 x\nquorum g\n"),
                2,
                "threshold \"2\"",
            ),
            (
                format!("witness x {vk}\ngroup g 1 x x\nquorum g\n"),
                2,
                "listed twice",
            ),
            (
                format!("witness x {vk}\nquorum x\nquorum x\n"),
                3,
                "a second quorum",
            ),
            ("frobnicate\n".into(), 1, "unknown keyword"),
            ("witness x notakey\n".into(), 1, "key \"notakey\""),
        ];
        for (text, line, why) in cases {
            let e = WitnessPolicy::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(why), "{text:?}: {e}");
        }
    }
}
