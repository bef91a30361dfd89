//! Why an object-storage operation failed.

/// Why an object-storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// A setting is wrong (bad URL, missing credentials).
    #[error("{0}")]
    Config(String),
    /// The object store could not be reached, or answered 5xx, after the
    /// client's retries: worth trying again later.
    #[error("object storage unreachable: {0}")]
    Unreachable(String),
    /// The object store refused the request (403, 400, …): trying again
    /// does not help until someone changes the bucket or the credentials.
    #[error("object storage refused {key}: {why}")]
    Refused {
        /// the key (or bucket operation)
        key: String,
        /// what the store said
        why: String,
    },
    /// A create-only object already holds different bytes.
    #[error("{key} already exists in the bucket with different content")]
    Changed {
        /// the key
        key: String,
    },
    /// An answer we could not read.
    #[error("object storage answered something unreadable for {what}: {why}")]
    BadAnswer {
        /// which request
        what: String,
        /// what is wrong
        why: String,
    },
}

impl BucketError {
    /// Worth retrying without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, BucketError::Unreachable(_))
    }
}

/// The HTTP status an `object_store` error carries in its message
/// (`object_store` does not expose its retry error type).
pub(crate) fn status_in(message: &str) -> Option<u16> {
    let i = message.find("status code: ")? + "status code: ".len();
    message.get(i..i + 3)?.parse().ok()
}

/// Classifies an `object_store` error about `key`.
pub(crate) fn classify(key: &str, e: &object_store::Error) -> BucketError {
    use object_store::Error as E;
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } | E::NotImplemented { .. } => {
            BucketError::Refused {
                key: key.to_owned(),
                why: e.to_string(),
            }
        }
        other => {
            let m = other.to_string();
            match status_in(&m) {
                Some(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                    BucketError::Refused {
                        key: key.to_owned(),
                        why: m,
                    }
                }
                _ => BucketError::Unreachable(format!("{key}: {m}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_messages() {
        assert_eq!(
            status_in(
                "Generic S3 error: Server returned non-2xx status code: 400 Bad Request: <Error>"
            ),
            Some(400)
        );
        assert_eq!(status_in("error sending request"), None);
        assert_eq!(status_in("status code: 5"), None);
    }
}
