//! The object-storage tier (docs/SCALE.md): each log as a C2SP tlog-tiles
//! tree in an S3-compatible bucket with Object Lock, written so that the
//! bucket is a valid, verifiable log at every instant and two writers can
//! never both advance it.
//!
//! - [`location`]: `s3://BUCKET/PREFIX`, endpoint, region, credentials;
//! - [`bucket`]: the S3 client (create-only objects, the checkpoint by
//!   compare-and-swap, bucket-level reads), over `object_store`;
//! - [`drain`]: the drainer, a checkpoint publishing step that uploads each
//!   log in order, off the ack path;
//! - [`lease`]: which node writes a log now (conditional puts, a fencing
//!   epoch);
//! - [`read`]: a log read back from the bucket, every byte checked;
//! - [`worm`]: pure checks — what a bucket needs before it may hold
//!   evidence, and what a listing of versions shows was deleted or rewritten.

pub mod bucket;
mod checksum;
pub mod drain;
pub mod error;
pub mod lease;
pub mod location;
pub mod read;
mod signed;
#[cfg(feature = "testing")]
pub mod testing;
pub mod worm;

pub use bucket::{Bucket, Created, Swapped, Version};
pub use drain::{Drainer, LogStatus, Notice, Problem};
pub use error::BucketError;
pub use location::{Location, Settings};
