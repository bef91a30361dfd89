//! Bucket-level S3 requests `object_store` does not make (versioning,
//! Object Lock configuration, listing object versions), signed with
//! Signature Version 4 (`aws-sigv4`).

use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use object_store::client::{HttpClient, HttpConnector as _, HttpRequest};

use crate::error::BucketError;
use crate::location::Settings;

/// Signs and sends GET requests on one bucket.
pub(crate) struct Signed {
    base: String,
    settings: Settings,
    http: HttpClient,
}

/// `query` with its values percent-encoded as SigV4 wants them.
fn encode(query: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut o = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                o.push(b as char);
            } else {
                o.push_str(&format!("%{b:02X}"));
            }
        }
        o
    }
    let mut pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Signed {
    pub(crate) fn new(bucket: &str, settings: &Settings) -> Result<Signed, BucketError> {
        let opts = object_store::ClientOptions::new().with_allow_http(true);
        let http = object_store::client::ReqwestConnector::default()
            .connect(&opts)
            .map_err(|e| BucketError::Config(e.to_string()))?;
        Ok(Signed {
            base: settings.bucket_url(bucket),
            settings: settings.clone(),
            http,
        })
    }

    /// GET on the bucket with `query`; the body of a 2xx answer.
    pub(crate) async fn get(&self, query: &[(&str, &str)]) -> Result<bytes::Bytes, BucketError> {
        let url = format!("{}/?{}", self.base, encode(query));
        let what = format!("GET ?{}", query.first().map_or("", |q| q.0));
        let mut req: HttpRequest = http::Request::builder()
            .method("GET")
            .uri(&url)
            .body(bytes::Bytes::new().into())
            .map_err(|e| BucketError::Config(format!("{url}: {e}")))?;
        if let (Some(id), Some(secret)) = (
            &self.settings.access_key_id,
            &self.settings.secret_access_key,
        ) {
            let creds = aws_credential_types::Credentials::new(
                id,
                secret,
                self.settings.session_token.clone(),
                None,
                "veritrail",
            );
            let identity = creds.into();
            let mut settings = SigningSettings::default();
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(self.settings.region.as_deref().unwrap_or("us-east-1"))
                .name("s3")
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .map_err(|e| BucketError::Config(format!("signing: {e}")))?
                .into();
            let signable =
                SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
                    .map_err(|e| BucketError::Config(format!("signing: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| BucketError::Config(format!("signing: {e}")))?
                .into_parts();
            instructions.apply_to_request_http1x(&mut req);
        }
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| BucketError::Unreachable(format!("{what}: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .bytes()
            .await
            .map_err(|e| BucketError::Unreachable(format!("{what}: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else if status.is_client_error() {
            Err(BucketError::Refused {
                key: what,
                why: format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(500)])
                ),
            })
        } else {
            Err(BucketError::Unreachable(format!("{what}: {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_encoding() {
        assert_eq!(
            super::encode(&[("versions", ""), ("prefix", "a b/c"), ("key-marker", "x~")]),
            "key-marker=x~&prefix=a%20b%2Fc&versions="
        );
    }
}
