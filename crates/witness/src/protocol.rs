//! C2SP `tlog-witness` `add-checkpoint`: the request body and the checks.
//!
//! The body: `old <size>\n`, at most 63 base64 consistency-proof hash
//! lines, an empty line, and a signed checkpoint note. The checks, in the
//! spec's order, each with its status: an unknown origin 404; no signature
//! from a key trusted for the origin 403; old size above the checkpoint's
//! 400; old size not the size last cosigned 409 (with that size, as
//! `text/x.tlog.size`); the same size with another root 409; a proof that
//! does not verify 422. A malformed body is 400.

use veritrail_core::checkpoint::Checkpoint;
use veritrail_core::note::{open_note, Verifier};
use veritrail_core::proof::verify_consistency;
use veritrail_core::tree::TreeSize;
use veritrail_core::Hash;

/// Largest request body accepted (a note is at most 1 MiB in the core;
/// checkpoints are far smaller).
pub const MAX_BODY: usize = 64 * 1024;
/// Most consistency-proof lines (the spec's limit).
pub const MAX_PROOF: usize = 63;

/// A parsed `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the client says the witness last cosigned.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub note: String,
}

/// Why a request is refused: the HTTP status, the body, and whether the
/// request is evidence of a log misbehaving (kept by the witness).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: String,
    /// `text/x.tlog.size` for the 409 naming the witness's size.
    pub size_body: bool,
    /// A validly signed checkpoint that contradicts what was cosigned.
    pub evidence: bool,
}

fn refuse(status: u16, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        body: format!("{}\n", why.into()),
        size_body: false,
        evidence: false,
    }
}

impl AddCheckpoint {
    /// Parses a request body.
    ///
    /// # Errors
    /// 400 (413 for a body over [`MAX_BODY`]) naming what is wrong.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        if body.len() > MAX_BODY {
            return Err(refuse(413, format!("the body exceeds {MAX_BODY} bytes")));
        }
        let text = std::str::from_utf8(body).map_err(|_| refuse(400, "the body is not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or_else(|| refuse(400, "no empty line between the proof and the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_line = lines.next().unwrap_or("");
        let old_s = old_line
            .strip_prefix("old ")
            .ok_or_else(|| refuse(400, "the first line is not `old <size>`"))?;
        if old_s.is_empty()
            || old_s.len() > 20
            || !old_s.bytes().all(|b| b.is_ascii_digit())
            || (old_s.len() > 1 && old_s.starts_with('0'))
        {
            return Err(refuse(
                400,
                "the old size is not a decimal without leading zeros",
            ));
        }
        let old: u64 = old_s
            .parse()
            .map_err(|_| refuse(400, "the old size is too large"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() == MAX_PROOF {
                return Err(refuse(
                    400,
                    format!("more than {MAX_PROOF} consistency proof lines"),
                ));
            }
            proof.push(
                Hash::from_base64(l)
                    .ok_or_else(|| refuse(400, "a proof line is not a base64 hash"))?,
            );
        }
        Ok(AddCheckpoint {
            old,
            proof,
            note: note.to_owned(),
        })
    }

    /// The request body.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }
}

/// What the witness last cosigned for an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// A request that passed every check: the checkpoint to cosign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The checkpoint text (what the cosignature signs).
    pub text: String,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// Decides a request against the keys trusted for its origin (`trusted`:
/// every configured log key) and what was last cosigned for it (`latest`,
/// `None` if never).
///
/// # Errors
/// The [`Refusal`] the spec prescribes.
pub fn decide(
    req: &AddCheckpoint,
    trusted: &[Verifier],
    latest: impl Fn(&str) -> Option<Latest>,
) -> Result<Accepted, Refusal> {
    // The origin is the note text's first line.
    let origin = req.note.split('\n').next().unwrap_or("");
    let keys: Vec<Verifier> = trusted
        .iter()
        .filter(|v| v.name() == origin)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Err(refuse(404, format!("unknown log origin {origin:?}")));
    }
    let opened = match open_note(req.note.as_bytes(), &keys) {
        Ok(o) => o,
        Err(
            veritrail_core::note::NoteError::NoKnownSignature
            | veritrail_core::note::NoteError::InvalidSignature { .. },
        ) => {
            return Err(refuse(
                403,
                "no signature from a key trusted for this log verifies",
            ))
        }
        Err(e) => {
            return Err(refuse(
                400,
                format!("the checkpoint is not a signed note: {e}"),
            ))
        }
    };
    let checkpoint = Checkpoint::parse_text(&opened.text)
        .map_err(|e| refuse(400, format!("the note is not a checkpoint: {e}")))?;
    let size = checkpoint.size.0;
    if req.old > size {
        return Err(refuse(
            400,
            format!("old size {} is above the checkpoint's size {size}", req.old),
        ));
    }
    let last = latest(origin);
    let last_size = last.as_ref().map_or(0, |l| l.size);
    if req.old != last_size {
        return Err(Refusal {
            status: 409,
            body: format!("{last_size}\n"),
            size_body: true,
            evidence: false,
        });
    }
    let evidence = |status: u16, why: String| Refusal {
        status,
        body: format!("{why}\n"),
        size_body: false,
        evidence: true,
    };
    match &last {
        Some(l) if l.size == size => {
            if l.root != checkpoint.root {
                return Err(evidence(
                    409,
                    format!(
                        "size {size} was cosigned with another root hash: the log shows two trees"
                    ),
                ));
            }
            if !req.proof.is_empty() {
                return Err(refuse(422, "a proof between equal sizes must be empty"));
            }
        }
        Some(l) if l.size == 0 => {
            if !req.proof.is_empty() {
                return Err(refuse(422, "a proof from the empty tree must be empty"));
            }
        }
        Some(l) => {
            verify_consistency(
                TreeSize(l.size),
                TreeSize(size),
                &req.proof,
                &l.root,
                &checkpoint.root,
            )
            .map_err(|e| {
                evidence(
                    422,
                    format!(
                        "the consistency proof from size {} to {size} does not verify: {e}",
                        l.size
                    ),
                )
            })?;
        }
        None => {
            if !req.proof.is_empty() {
                return Err(refuse(
                    422,
                    "the proof must be empty when the old size is 0",
                ));
            }
        }
    }
    Ok(Accepted {
        text: opened.text,
        checkpoint,
    })
}
