//! Leases: which node writes a log now. Several nodes share a bucket; each
//! log has one writer at a time, the holder of the lease object
//! `PREFIX/<log>/lease`, written only by conditional put (create-only, or
//! `If-Match` on the version read), so two nodes can never both take it.
//!
//! A lease names its owner, the URL writes for the log go to, a fencing
//! epoch (one more at every change of owner) and when it expires (wall
//! clock, Unix milliseconds: nodes' clocks must agree to well within the
//! TTL). The owner renews it every third of the TTL and writes how many
//! entries it holds durably, so a node that takes over after the owner died
//! can say which acknowledged entries the bucket does not have.
//!
//! The owner counts its lease from the instant *before* its write was sent,
//! minus a fifth of the TTL, so it stops writing before anyone else may
//! start; the drainer checks [`Leases::epoch`] right before every
//! checkpoint swap (the fence).
//!
//! [`decide`] is the pure rule, tested with an injected clock; [`Leases`]
//! does the I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, Swapped, Version};
use crate::error::BucketError;

/// The lease object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The node holding it.
    pub owner: String,
    /// Where that node takes writes (for redirects).
    pub url: String,
    /// Fencing epoch: one more at every change of owner.
    pub epoch: u64,
    /// When it expires, Unix milliseconds.
    pub expires_unix_ms: u64,
    /// Entries the owner held durably at its last renewal.
    pub durable: u64,
}

/// The node that holds `log`'s lease in `bucket` now (an unexpired lease),
/// as a node that takes no part in leases sees it (a read replica
/// redirecting a writer).
///
/// # Errors
/// The store's errors; `BadAnswer` for an object that is not a lease.
pub fn holder(bucket: &Bucket, log: &str) -> Result<Option<Lease>, BucketError> {
    let key = bucket.location().log(log).key("lease");
    let Some((b, _)) = bucket.get(&key)? else {
        return Ok(None);
    };
    let lease = serde_json::from_slice::<Lease>(&b).map_err(|e| BucketError::BadAnswer {
        what: key,
        why: format!("not a lease: {e}"),
    })?;
    Ok((lease.expires_unix_ms > unix_ms()).then_some(lease))
}

/// What a node should do about a log's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It is ours: renew it (same epoch).
    Renew,
    /// It is free (absent, or expired): take it with this epoch.
    Take {
        /// the new epoch
        epoch: u64,
    },
    /// Another node holds it and it has not expired.
    Wait,
}

/// The rule: renew our own lease, take one that is absent or expired, and
/// leave another node's live lease alone.
pub fn decide(me: &str, now_unix_ms: u64, current: Option<&Lease>) -> Decision {
    match current {
        None => Decision::Take { epoch: 1 },
        Some(l) if l.owner == me && l.expires_unix_ms > now_unix_ms => Decision::Renew,
        Some(l) if l.expires_unix_ms <= now_unix_ms => Decision::Take { epoch: l.epoch + 1 },
        Some(_) => Decision::Wait,
    }
}

/// What one round of [`Leases::tick`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// We held it and still do.
    Kept,
    /// We took it; the lease it replaced, if any (the previous owner's
    /// last word about what it held).
    Took {
        /// the new epoch
        epoch: u64,
        /// the lease replaced
        previous: Option<Lease>,
    },
    /// We held it and no longer do.
    Lost,
    /// Another node holds it.
    Other(Lease),
}

#[derive(Default)]
struct Slot {
    /// Ours: epoch, valid until, version of the object we wrote.
    ours: Option<(u64, Instant, Version)>,
    /// The last lease read that is not ours.
    other: Option<Lease>,
}

/// This node's leases on the logs of one bucket prefix.
pub struct Leases {
    bucket: Arc<Bucket>,
    me: String,
    url: String,
    ttl: Duration,
    slots: Mutex<BTreeMap<String, Slot>>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Leases {
    /// Leases of node `me`, which takes writes at `url`, lasting `ttl`.
    pub fn new(bucket: Arc<Bucket>, me: &str, url: &str, ttl: Duration) -> Leases {
        Leases {
            bucket,
            me: me.to_owned(),
            url: url.to_owned(),
            ttl,
            slots: Mutex::new(BTreeMap::new()),
        }
    }

    /// This node's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn key(&self, log: &str) -> String {
        self.bucket.location().log(log).key("lease")
    }

    /// One round for `log`: read the lease, renew or take it when the rule
    /// says so, and report what changed. `durable` is what this node holds
    /// of the log (written into the lease).
    ///
    /// # Errors
    /// The store's errors (then the lease counts as ours only until it
    /// would have expired anyway).
    pub fn tick(&self, log: &str, durable: u64) -> Result<Change, BucketError> {
        let key = self.key(log);
        let started = Instant::now();
        let now = unix_ms();
        let current = match self.bucket.get(&key)? {
            Some((b, v)) => Some((
                serde_json::from_slice::<Lease>(&b).map_err(|e| BucketError::BadAnswer {
                    what: key.clone(),
                    why: format!("not a lease: {e}"),
                })?,
                v,
            )),
            None => None,
        };
        let had = self.epoch(log).is_some();
        let decision = decide(&self.me, now, current.as_ref().map(|c| &c.0));
        let epoch = match &decision {
            Decision::Renew => current.as_ref().map_or(1, |c| c.0.epoch),
            Decision::Take { epoch } => *epoch,
            Decision::Wait => {
                let other = current.expect("Wait needs a lease").0;
                let mut s = self.slots.lock().expect("lease lock");
                let slot = s.entry(log.to_owned()).or_default();
                slot.ours = None;
                slot.other = Some(other.clone());
                return Ok(if had {
                    Change::Lost
                } else {
                    Change::Other(other)
                });
            }
        };
        let lease = self.ours(epoch, now + self.ttl.as_millis() as u64, durable);
        let body = Bytes::from(serde_json::to_vec(&lease).expect("a lease serializes"));
        let expected = current.as_ref().map(|c| &c.1);
        match self.bucket.swap(&key, body, expected)? {
            Swapped::Done(v) => {
                let valid = started + self.ttl - self.ttl / 5;
                let mut s = self.slots.lock().expect("lease lock");
                let slot = s.entry(log.to_owned()).or_default();
                slot.ours = Some((epoch, valid, v));
                slot.other = None;
                Ok(match decision {
                    Decision::Renew if had => Change::Kept,
                    _ => Change::Took {
                        epoch,
                        previous: current.map(|c| c.0).filter(|l| l.owner != self.me || !had),
                    },
                })
            }
            Swapped::Lost => {
                // Someone wrote it between our read and our write.
                let mut s = self.slots.lock().expect("lease lock");
                let slot = s.entry(log.to_owned()).or_default();
                slot.ours = None;
                Ok(if had {
                    Change::Lost
                } else {
                    Change::Other(current.map(|c| c.0).unwrap_or(lease))
                })
            }
        }
    }

    /// A lease of this node.
    fn ours(&self, epoch: u64, expires_unix_ms: u64, durable: u64) -> Lease {
        Lease {
            owner: self.me.clone(),
            url: self.url.clone(),
            epoch,
            expires_unix_ms,
            durable,
        }
    }

    /// Our epoch of `log`'s lease, if we hold it and it is still valid.
    pub fn epoch(&self, log: &str) -> Option<u64> {
        let s = self.slots.lock().expect("lease lock");
        s.get(log)
            .and_then(|x| x.ours.as_ref())
            .filter(|(_, valid, _)| Instant::now() < *valid)
            .map(|(e, _, _)| *e)
    }

    /// The other node holding `log`'s lease, as last read.
    pub fn owner(&self, log: &str) -> Option<Lease> {
        let s = self.slots.lock().expect("lease lock");
        s.get(log).and_then(|x| x.other.clone())
    }

    /// Gives up `log`'s lease (on a clean stop), so another node may take
    /// it at once instead of after the TTL.
    ///
    /// # Errors
    /// The store's errors.
    pub fn release(&self, log: &str, durable: u64) -> Result<(), BucketError> {
        let held = {
            let mut s = self.slots.lock().expect("lease lock");
            s.get_mut(log).and_then(|x| x.ours.take())
        };
        let Some((epoch, _, v)) = held else {
            return Ok(());
        };
        let lease = self.ours(epoch, 0, durable);
        let body = Bytes::from(serde_json::to_vec(&lease).expect("a lease serializes"));
        self.bucket.swap(&self.key(log), body, Some(&v)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(owner: &str, epoch: u64, expires: u64) -> Lease {
        Lease {
            owner: owner.into(),
            url: format!("http://{owner}"),
            epoch,
            expires_unix_ms: expires,
            durable: 0,
        }
    }

    #[test]
    fn the_rule() {
        assert_eq!(decide("a", 1000, None), Decision::Take { epoch: 1 });
        assert_eq!(
            decide("a", 1000, Some(&lease("a", 3, 1001))),
            Decision::Renew
        );
        // Our own expired lease is taken anew, with a new epoch: someone
        // else may have written in between.
        assert_eq!(
            decide("a", 1000, Some(&lease("a", 3, 1000))),
            Decision::Take { epoch: 4 }
        );
        assert_eq!(
            decide("a", 1000, Some(&lease("b", 7, 1500))),
            Decision::Wait
        );
        assert_eq!(
            decide("a", 1500, Some(&lease("b", 7, 1500))),
            Decision::Take { epoch: 8 }
        );
        // A released lease (expires 0) is free at once.
        assert_eq!(
            decide("a", 1, Some(&lease("b", 7, 0))),
            Decision::Take { epoch: 8 }
        );
    }
}
