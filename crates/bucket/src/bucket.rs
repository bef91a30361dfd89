//! The S3 client of the tier: create-only objects, replaceable objects, the
//! checkpoint by compare-and-swap on its ETag, and the bucket-level reads
//! the WORM checks need. Blocking calls on a small runtime of its own,
//! driven by the calling thread, so the drainer, the lease thread, `doctor`
//! and tests call it from plain threads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use crate::error::{classify, BucketError};
use crate::location::{Location, Settings};
use crate::signed::Signed;
use crate::worm::{LockConfig, ObjectVersion};

/// What a create-only upload found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object is new.
    New,
    /// The object was already there with the same bytes (an upload
    /// repeated after a restart).
    Existed,
}

/// The outcome of a compare-and-swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Swapped {
    /// Stored; the new version.
    Done(Version),
    /// Someone else changed (or created) the object first.
    Lost,
}

/// Identifies one stored version of an object (ETag, and the version ID
/// on a versioned bucket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The ETag.
    pub e_tag: Option<String>,
    /// The version ID.
    pub version: Option<String>,
}

impl From<&Version> for UpdateVersion {
    fn from(v: &Version) -> UpdateVersion {
        UpdateVersion {
            e_tag: v.e_tag.clone(),
            version: v.version.clone(),
        }
    }
}

/// An S3 bucket at a prefix.
pub struct Bucket {
    loc: Location,
    s3: Arc<AmazonS3>,
    signed: Signed,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.loc)
    }
}

/// Uploads in flight at once.
const PARALLEL: usize = 16;

impl Bucket {
    /// A client for `loc`, reached with `settings` (unset fields from the
    /// environment).
    ///
    /// # Errors
    /// [`BucketError::Config`] for unusable settings.
    pub fn open(loc: &Location, settings: &Settings) -> Result<Arc<Bucket>, BucketError> {
        let s = settings.resolved();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&loc.bucket)
            .with_region(s.region.clone().unwrap_or_default())
            .with_checksum_algorithm(Checksum::SHA256)
            // The body's SHA-256 travels in x-amz-checksum-sha256 (checked
            // by the store); signing it again would hash every object twice.
            .with_unsigned_payload(true)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_http_connector(crate::checksum::Md5Connector)
            // A few quick retries of 5xx and lost connections inside the
            // client; past that the drainer's own backoff takes over, so an
            // outage shows in `status` and /metrics within seconds.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(5),
                ..Default::default()
            });
        if let Some(e) = &s.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        match (&s.access_key_id, &s.secret_access_key) {
            (Some(id), Some(secret)) => {
                b = b.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(t) = &s.session_token {
                    b = b.with_token(t);
                }
            }
            (None, None) => b = b.with_skip_signature(true),
            _ => return Err(BucketError::Config(
                "object storage credentials need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .into(),
            )),
        }
        let s3 = b
            .build()
            .map_err(|e| BucketError::Config(format!("{loc}: {e}")))?;
        // Requests run on the calling thread (whose priority they take: the
        // drainer's is below the ack path's).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BucketError::Config(format!("starting the S3 client: {e}")))?;
        Ok(Arc::new(Bucket {
            loc: loc.clone(),
            s3: Arc::new(s3),
            signed: Signed::new(&loc.bucket, &s)?,
            rt,
        }))
    }

    /// Where it is.
    pub fn location(&self) -> &Location {
        &self.loc
    }

    fn path(&self, key: &str) -> Path {
        Path::from(key)
    }

    /// Creates `key` with `bytes` unless it exists (`If-None-Match: *`); an
    /// existing object with the same bytes is fine.
    ///
    /// # Errors
    /// [`BucketError::Changed`] when it exists with other bytes; the
    /// store's errors.
    pub fn create(&self, key: &str, bytes: Bytes) -> Result<Created, BucketError> {
        self.rt.block_on(self.create_async(key, bytes))
    }

    async fn create_async(&self, key: &str, bytes: Bytes) -> Result<Created, BucketError> {
        let p = self.path(key);
        match self
            .s3
            .put_opts(
                &p,
                PutPayload::from(bytes.clone()),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(Created::New),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => match self.get_async(key).await? {
                Some((have, _)) if have == bytes => Ok(Created::Existed),
                _ => Err(BucketError::Changed {
                    key: key.to_owned(),
                }),
            },
            Err(e) => Err(classify(key, &e)),
        }
    }

    /// Creates each of `objects` (see [`Bucket::create`]), up to 16 at once;
    /// returns how many were new.
    ///
    /// # Errors
    /// The first failure.
    pub fn create_all(&self, objects: Vec<(String, Bytes)>) -> Result<usize, BucketError> {
        self.rt.block_on(async {
            let results: Vec<Created> = futures_util::stream::iter(objects)
                .map(|(k, b)| async move { self.create_async(&k, b).await })
                .buffer_unordered(PARALLEL)
                .try_collect()
                .await?;
            Ok(results.iter().filter(|c| **c == Created::New).count())
        })
    }

    /// Stores `bytes` at `key`, replacing what is there.
    ///
    /// # Errors
    /// The store's errors.
    pub fn replace(&self, key: &str, bytes: Bytes) -> Result<Version, BucketError> {
        self.rt.block_on(async {
            let r = self
                .s3
                .put_opts(
                    &self.path(key),
                    PutPayload::from(bytes),
                    PutOptions::from(PutMode::Overwrite),
                )
                .await
                .map_err(|e| classify(key, &e))?;
            Ok(Version {
                e_tag: r.e_tag,
                version: r.version,
            })
        })
    }

    /// Stores `bytes` at `key` only if the object is still `expected`
    /// (`If-Match`), or, with `None`, does not exist yet.
    ///
    /// # Errors
    /// The store's errors.
    pub fn swap(
        &self,
        key: &str,
        bytes: Bytes,
        expected: Option<&Version>,
    ) -> Result<Swapped, BucketError> {
        let mode = match expected {
            Some(v) => PutMode::Update(v.into()),
            None => PutMode::Create,
        };
        self.rt.block_on(async {
            match self
                .s3
                .put_opts(
                    &self.path(key),
                    PutPayload::from(bytes),
                    PutOptions::from(mode),
                )
                .await
            {
                Ok(r) => Ok(Swapped::Done(Version {
                    e_tag: r.e_tag,
                    version: r.version,
                })),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::NotFound { .. },
                ) => Ok(Swapped::Lost),
                Err(e) => Err(classify(key, &e)),
            }
        })
    }

    /// The object at `key` and its version, or `None`.
    ///
    /// # Errors
    /// The store's errors.
    pub fn get(&self, key: &str) -> Result<Option<(Bytes, Version)>, BucketError> {
        self.rt.block_on(self.get_async(key))
    }

    /// The objects at `keys` (`None` for absent ones), up to 16 fetched at
    /// once, in order.
    ///
    /// # Errors
    /// The first failure.
    pub fn get_all(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, BucketError> {
        self.rt.block_on(async {
            futures_util::stream::iter(keys)
                .map(|k| async move { self.get_async(k).await.map(|o| o.map(|(b, _)| b)) })
                .buffered(PARALLEL)
                .try_collect()
                .await
        })
    }

    async fn get_async(&self, key: &str) -> Result<Option<(Bytes, Version)>, BucketError> {
        match self.s3.get(&self.path(key)).await {
            Ok(r) => {
                let v = Version {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let b = r.bytes().await.map_err(|e| classify(key, &e))?;
                Ok(Some((b, v)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(classify(key, &e)),
        }
    }

    /// One stored version of `key` (by its version ID), or `None`.
    ///
    /// # Errors
    /// The store's errors.
    pub fn get_version(&self, key: &str, version: &str) -> Result<Option<Bytes>, BucketError> {
        self.rt.block_on(async {
            let opts = object_store::GetOptions {
                version: Some(version.to_owned()),
                ..Default::default()
            };
            match self.s3.get_opts(&self.path(key), opts).await {
                Ok(r) => r.bytes().await.map(Some).map_err(|e| classify(key, &e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(classify(key, &e)),
            }
        })
    }

    /// The bucket's versioning status (`Enabled`, `Suspended`, or empty
    /// when never enabled).
    ///
    /// # Errors
    /// The store's errors.
    pub fn versioning(&self) -> Result<String, BucketError> {
        let body = self.rt.block_on(self.signed.get(&[("versioning", "")]))?;
        crate::worm::parse_versioning(&body)
    }

    /// The bucket's Object Lock configuration (`None` when it has none).
    ///
    /// # Errors
    /// The store's errors.
    pub fn object_lock(&self) -> Result<Option<LockConfig>, BucketError> {
        match self.rt.block_on(self.signed.get(&[("object-lock", "")])) {
            Ok(body) => crate::worm::parse_lock(&body).map(Some),
            Err(BucketError::Refused { why, .. })
                if why.contains("ObjectLockConfigurationNotFound") || why.starts_with("404") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every version and delete marker under `prefix` (all pages).
    ///
    /// # Errors
    /// The store's errors.
    pub fn versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, BucketError> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut q = vec![("versions", ""), ("prefix", prefix)];
            if let Some((k, v)) = &markers {
                q.push(("key-marker", k));
                q.push(("version-id-marker", v));
            }
            let body = self.rt.block_on(self.signed.get(&q))?;
            let page = crate::worm::parse_versions(&body)?;
            out.extend(page.versions);
            match page.next {
                Some(n) => markers = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Every key under `prefix` (latest versions), for rebuilding.
    ///
    /// # Errors
    /// The store's errors.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, BucketError> {
        self.rt.block_on(async {
            let p = Path::from(prefix);
            self.s3
                .list(Some(&p))
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .map_err(|e| classify(prefix, &e))
        })
    }
}
