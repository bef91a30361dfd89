//! WORM checks, pure: what a bucket must have before it may hold evidence
//! (versioning, Object Lock with a default COMPLIANCE retention), and what
//! in a listing of object versions shows that someone deleted or rewrote
//! stored objects. The S3 answers are parsed here too.

use serde::Deserialize;

use crate::error::BucketError;

/// A bucket's Object Lock configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LockConfig {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// Default retention mode (`COMPLIANCE` or `GOVERNANCE`), if any.
    pub mode: Option<String>,
    /// Default retention in days (years are converted).
    pub days: Option<u64>,
}

/// One version (or delete marker) of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The key.
    pub key: String,
    /// The version ID.
    pub version_id: String,
    /// Whether it is the current version.
    pub latest: bool,
    /// A delete marker rather than data.
    pub delete_marker: bool,
    /// The ETag (data versions).
    pub e_tag: Option<String>,
}

/// One page of `ListObjectVersions`.
pub(crate) struct VersionsPage {
    pub(crate) versions: Vec<ObjectVersion>,
    /// Key and version-ID markers of the next page.
    pub(crate) next: Option<(String, String)>,
}

fn bad(what: &str, e: impl std::fmt::Display) -> BucketError {
    BucketError::BadAnswer {
        what: what.to_owned(),
        why: e.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersioningXml {
    status: Option<String>,
}

pub(crate) fn parse_versioning(body: &[u8]) -> Result<String, BucketError> {
    let x: VersioningXml =
        quick_xml::de::from_reader(body).map_err(|e| bad("GetBucketVersioning", e))?;
    Ok(x.status.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LockXml {
    object_lock_enabled: Option<String>,
    rule: Option<RuleXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuleXml {
    default_retention: Option<RetentionXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetentionXml {
    mode: Option<String>,
    days: Option<u64>,
    years: Option<u64>,
}

pub(crate) fn parse_lock(body: &[u8]) -> Result<LockConfig, BucketError> {
    let x: LockXml =
        quick_xml::de::from_reader(body).map_err(|e| bad("GetObjectLockConfiguration", e))?;
    let r = x.rule.and_then(|r| r.default_retention);
    Ok(LockConfig {
        enabled: x.object_lock_enabled.as_deref() == Some("Enabled"),
        mode: r.as_ref().and_then(|r| r.mode.clone()),
        days: r.and_then(|r| r.days.or(r.years.map(|y| y * 365))),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionsXml {
    is_truncated: Option<bool>,
    next_key_marker: Option<String>,
    next_version_id_marker: Option<String>,
    #[serde(default)]
    version: Vec<VersionXml>,
    #[serde(default)]
    delete_marker: Vec<VersionXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionXml {
    key: String,
    version_id: String,
    is_latest: Option<bool>,
    e_tag: Option<String>,
}

pub(crate) fn parse_versions(body: &[u8]) -> Result<VersionsPage, BucketError> {
    let x: VersionsXml =
        quick_xml::de::from_reader(body).map_err(|e| bad("ListObjectVersions", e))?;
    let mut versions: Vec<ObjectVersion> = x
        .version
        .into_iter()
        .map(|v| ObjectVersion {
            key: v.key,
            version_id: v.version_id,
            latest: v.is_latest.unwrap_or(false),
            delete_marker: false,
            e_tag: v.e_tag,
        })
        .collect();
    versions.extend(x.delete_marker.into_iter().map(|v| ObjectVersion {
        key: v.key,
        version_id: v.version_id,
        latest: v.is_latest.unwrap_or(false),
        delete_marker: true,
        e_tag: None,
    }));
    let next = match (x.is_truncated, x.next_key_marker, x.next_version_id_marker) {
        (Some(true), Some(k), Some(v)) => Some((k, v)),
        (Some(true), _, _) => {
            return Err(bad(
                "ListObjectVersions",
                "a truncated page without next markers",
            ))
        }
        _ => None,
    };
    Ok(VersionsPage { versions, next })
}

/// One result of [`assess`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Whether this requirement holds.
    pub ok: bool,
    /// What was checked and found.
    pub what: String,
    /// How to fix it (a command), when it does not hold.
    pub fix: Option<String>,
}

/// Checks what a bucket holding evidence needs: versioning enabled, and
/// Object Lock enabled with a default retention in COMPLIANCE mode (which
/// nobody, root account included, can shorten or lift).
pub fn assess(bucket: &str, versioning: &str, lock: Option<&LockConfig>) -> Vec<Finding> {
    let mut out = vec![Finding {
        ok: versioning == "Enabled",
        what: format!(
            "versioning: {}",
            if versioning.is_empty() { "never enabled" } else { versioning }
        ),
        fix: (versioning != "Enabled").then(|| {
            format!("aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled")
        }),
    }];
    let lock_fix = format!(
        "aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration \
         '{{\"ObjectLockEnabled\":\"Enabled\",\"Rule\":{{\"DefaultRetention\":{{\"Mode\":\"COMPLIANCE\",\"Days\":2557}}}}}}'"
    );
    match lock {
        None => out.push(Finding {
            ok: false,
            what: "Object Lock: not configured".into(),
            fix: Some(format!(
                "{lock_fix}   (on AWS this needs versioning first; some stores only allow Object Lock when the bucket is created: aws s3api create-bucket --bucket {bucket} --object-lock-enabled-for-bucket)"
            )),
        }),
        Some(l) => {
            out.push(Finding {
                ok: l.enabled,
                what: format!(
                    "Object Lock: {}",
                    if l.enabled { "enabled" } else { "not enabled" }
                ),
                fix: (!l.enabled).then(|| lock_fix.clone()),
            });
            let compliant = l.mode.as_deref() == Some("COMPLIANCE") && l.days.unwrap_or(0) > 0;
            out.push(Finding {
                ok: compliant,
                what: match (&l.mode, l.days) {
                    (Some(m), Some(d)) => format!("default retention: {m}, {d} days"),
                    (Some(m), None) => format!("default retention: {m}, no period"),
                    _ => "default retention: none (objects are uploaded unlocked)".into(),
                },
                fix: (!compliant).then(|| lock_fix.clone()),
            });
        }
    }
    out
}

/// What a listing of versions under a log's prefix shows was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// A delete marker: the object looks deleted (and a create-only key is
    /// creatable again).
    DeleteMarker {
        /// the key
        key: String,
    },
    /// A write-once object has more than one version.
    Rewritten {
        /// the key
        key: String,
        /// how many versions
        versions: usize,
    },
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::DeleteMarker { key } => write!(f, "{key}: a delete marker was put on it"),
            Tamper::Rewritten { key, versions } => {
                write!(
                    f,
                    "{key}: written once, but the bucket holds {versions} versions"
                )
            }
        }
    }
}

/// Whether our writer replaces `key` (the checkpoint, partial tiles, the
/// lease): those have many versions legitimately.
fn replaceable(key: &str) -> bool {
    key.ends_with("/checkpoint")
        || key == "checkpoint"
        || key.contains(".p/")
        || key.ends_with("/lease")
        || key.ends_with(".lease")
}

/// Delete markers anywhere, and write-once keys with several versions.
pub fn tampering(versions: &[ObjectVersion]) -> Vec<Tamper> {
    let mut out = Vec::new();
    let mut count: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for v in versions {
        if v.delete_marker {
            out.push(Tamper::DeleteMarker { key: v.key.clone() });
        } else {
            *count.entry(&v.key).or_default() += 1;
        }
    }
    for (k, n) in count {
        if n > 1 && !replaceable(k) {
            out.push(Tamper::Rewritten {
                key: k.to_owned(),
                versions: n,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_answers() {
        assert_eq!(
            parse_versioning(br#"<?xml version="1.0"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#).unwrap(),
            "Enabled"
        );
        assert_eq!(
            parse_versioning(
                br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#
            )
            .unwrap(),
            ""
        );
        let l = parse_lock(br#"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>7</Years></DefaultRetention></Rule></ObjectLockConfiguration>"#).unwrap();
        assert_eq!(
            l,
            LockConfig {
                enabled: true,
                mode: Some("COMPLIANCE".into()),
                days: Some(2555)
            }
        );
        let p = parse_versions(br#"<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k2</NextKeyMarker><NextVersionIdMarker>v9</NextVersionIdMarker>
            <Version><Key>a/tile/0/000</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><ETag>"e1"</ETag></Version>
            <DeleteMarker><Key>a/tile/0/000</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest></DeleteMarker>
            <Version><Key>a/checkpoint</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest><ETag>"e3"</ETag></Version>
            </ListVersionsResult>"#).unwrap();
        assert_eq!(p.next, Some(("k2".into(), "v9".into())));
        assert_eq!(p.versions.len(), 3);
        assert_eq!(
            tampering(&p.versions),
            vec![Tamper::DeleteMarker {
                key: "a/tile/0/000".into()
            }]
        );
        assert!(parse_versions(
            b"<ListVersionsResult><IsTruncated>true</IsTruncated></ListVersionsResult>"
        )
        .is_err());
        assert!(parse_versions(b"not xml").is_err());
    }

    #[test]
    fn rewritten_write_once_objects() {
        let v = |k: &str, id: &str| ObjectVersion {
            key: k.into(),
            version_id: id.into(),
            latest: false,
            delete_marker: false,
            e_tag: None,
        };
        let vs = [
            v("l/tile/entries/000", "1"),
            v("l/tile/entries/000", "2"),
            v("l/tile/entries/001.p/7", "3"),
            v("l/tile/entries/001.p/7", "4"),
            v("l/checkpoint", "5"),
            v("l/checkpoint", "6"),
        ];
        assert_eq!(
            tampering(&vs),
            vec![Tamper::Rewritten {
                key: "l/tile/entries/000".into(),
                versions: 2
            }]
        );
    }

    #[test]
    fn assessment() {
        let good = LockConfig {
            enabled: true,
            mode: Some("COMPLIANCE".into()),
            days: Some(30),
        };
        assert!(assess("b", "Enabled", Some(&good)).iter().all(|f| f.ok));
        let f = assess("b", "", None);
        assert!(f.iter().all(|f| !f.ok && f.fix.is_some()));
        assert!(f[0]
            .fix
            .as_ref()
            .unwrap()
            .contains("put-bucket-versioning --bucket b"));
        let gov = LockConfig {
            mode: Some("GOVERNANCE".into()),
            ..good
        };
        let f = assess("b", "Enabled", Some(&gov));
        assert!(!f[2].ok, "GOVERNANCE can be lifted by a privileged user");
    }
}
