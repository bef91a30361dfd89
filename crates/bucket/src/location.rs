//! Where the object-storage tier is: `s3://BUCKET/PREFIX`, and how to reach
//! it (endpoint, region, credentials). Each log lives under
//! `PREFIX/<log>/` as a C2SP tlog-tiles tree.

use crate::error::BucketError;

/// A bucket and a key prefix, from `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl Location {
    /// Parses `s3://BUCKET[/PREFIX]`.
    ///
    /// # Errors
    /// [`BucketError::Config`] naming what is wrong.
    pub fn parse(url: &str) -> Result<Location, BucketError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            BucketError::Config(format!(
                "{url:?}: object storage is given as s3://BUCKET/PREFIX"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.as_bytes()[0].is_ascii_alphanumeric()
            && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(BucketError::Config(format!(
                "{url:?}: bucket name {bucket:?} is not a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.bytes().any(|b| b < 0x20 || b == 0x7f)
        {
            return Err(BucketError::Config(format!(
                "{url:?}: the prefix {prefix:?} has an empty, `.` or `..` part or a control character"
            )));
        }
        Ok(Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The key of `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The prefix of log `log`: `PREFIX/<log>`.
    pub fn log(&self, log: &str) -> Location {
        Location {
            bucket: self.bucket.clone(),
            prefix: self.key(log),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach the bucket. Unset fields come from the usual AWS
/// environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000` (MinIO, moto, Ceph
    /// RGW); AWS when unset. Addressed path-style.
    pub endpoint: Option<String>,
    /// The region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key ID.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

impl Settings {
    /// These settings with what is unset taken from the environment.
    pub fn resolved(&self) -> Settings {
        Settings {
            endpoint: self
                .endpoint
                .clone()
                .or_else(|| env(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"])),
            region: self
                .region
                .clone()
                .or_else(|| env(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
                .or_else(|| Some("us-east-1".into())),
            access_key_id: self
                .access_key_id
                .clone()
                .or_else(|| env(&["AWS_ACCESS_KEY_ID"])),
            secret_access_key: self
                .secret_access_key
                .clone()
                .or_else(|| env(&["AWS_SECRET_ACCESS_KEY"])),
            session_token: self
                .session_token
                .clone()
                .or_else(|| env(&["AWS_SESSION_TOKEN"])),
        }
    }

    /// The base URL of `bucket` for path-style requests.
    pub fn bucket_url(&self, bucket: &str) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            None => format!(
                "https://s3.{}.amazonaws.com/{bucket}",
                self.region.as_deref().unwrap_or("us-east-1")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = Location::parse("s3://audit-logs/prod/eu").unwrap();
        assert_eq!(l.bucket, "audit-logs");
        assert_eq!(l.prefix, "prod/eu");
        assert_eq!(l.key("checkpoint"), "prod/eu/checkpoint");
        assert_eq!(
            l.log("default").key("tile/0/000"),
            "prod/eu/default/tile/0/000"
        );
        let l = Location::parse("s3://audit-logs/").unwrap();
        assert_eq!(l.prefix, "");
        assert_eq!(l.key("checkpoint"), "checkpoint");
        assert_eq!(Location::parse("s3://abc").unwrap().prefix, "");
        for bad in [
            "http://x/y",
            "s3://",
            "s3://ab",
            "s3://Upper/x",
            "s3://-abc/x",
            "s3://abc/../x",
            "s3://abc/x//y",
            "s3://abc/x/./y",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }
}
