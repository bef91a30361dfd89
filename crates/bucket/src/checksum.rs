//! `Content-MD5` on every upload. A bucket with a default Object Lock
//! retention refuses a PUT without an integrity header (S3 asks for
//! `Content-MD5` or an `x-amz-checksum-*` header; moto insists on
//! `Content-MD5` or `x-amz-sdk-checksum-algorithm`). The client already
//! sends `x-amz-checksum-sha256`; this adds `Content-MD5`, which every S3
//! implementation checks and which need not be signed.

use base64::Engine as _;
use http_body_util::BodyExt as _;
use md5::{Digest as _, Md5};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;

/// Connects clients that add `Content-MD5` to uploads.
#[derive(Debug, Default)]
pub(crate) struct Md5Connector;

impl HttpConnector for Md5Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Md5Service(
            ReqwestConnector::default().connect(options)?,
        )))
    }
}

#[derive(Debug)]
struct Md5Service(HttpClient);

#[async_trait::async_trait]
impl HttpService for Md5Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        if req.method() != http::Method::PUT || req.headers().contains_key("content-md5") {
            return self.0.execute(req).await;
        }
        let (mut parts, body) = req.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
            .to_bytes();
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes));
        parts.headers.insert(
            "content-md5",
            http::HeaderValue::from_str(&md5).expect("base64 is a valid header value"),
        );
        self.0
            .execute(HttpRequest::from_parts(parts, bytes.into()))
            .await
    }
}
