//! `GET /v1/logs/{log}/export?…`: an evidence bundle (docs/BUNDLE.md) of
//! the entries a query selects, downloaded — what `veritrail export` writes,
//! for readers who only have the server (the console's Export button).
//! The export is recorded in `_system` and the bundle closes with that
//! record's proof, like every bundle.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use veritrail_core::bundle::{self, Trailer};
use veritrail_service::audit::{Actor, AuditRecord};
use veritrail_service::export::{self as builder, ExportError, Request};
use veritrail_service::index::IndexError;
use veritrail_service::store::datadir::SYSTEM_LOG;
use veritrail_service::ServiceError;

use crate::auth::{required, ClientIp};
use crate::error::AppError;
use crate::params::Params;
use crate::read::{filter_of, index_covers, reader};
use crate::state::AppState;

/// Most entries one download holds; larger selections are exported with
/// `veritrail export` on the server's host (or narrowed).
pub const MAX_ENTRIES: usize = 100_000;

/// How long the query index may take to reach the checkpoint exported.
const INDEX_WAIT: Duration = Duration::from_secs(10);

const PARAMS: [&str; 9] = [
    "actor",
    "action",
    "outcome",
    "target",
    "source",
    "since",
    "until",
    "q",
    "witnessed",
];

fn export_err(e: ExportError) -> AppError {
    match e {
        ExportError::Refused(m) => AppError::new(StatusCode::CONFLICT, "not_ready", m),
        ExportError::Inconsistent(m) => {
            tracing::error!(error = %m, "export: the log contradicts what it kept");
            AppError::internal(&m)
        }
        ExportError::Store(e) => ServiceError::from(e).into(),
        ExportError::Io(e) => AppError::internal(&e),
    }
}

/// `GET /v1/logs/{log}/export`.
pub async fn export(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let log = st.log(&name)?;
    let token = required(&st, &headers, ip).await?;
    reader(&token, &name)?;
    let p = params.only(&PARAMS)?;
    let witnessed = match p.str("witnessed") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(AppError::bad_request(
                "bad_query",
                "witnessed must be true or false",
            ))
        }
    };
    let filter = filter_of(&p)?;
    let query: std::collections::BTreeMap<String, String> = PARAMS[..8]
        .iter()
        .filter_map(|k| p.str(k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect();
    // The index must cover the checkpoint the bundle proves against, or
    // matching entries past it would be missing without a word.
    index_covers(&st, &name, log.published().size, INDEX_WAIT).await?;
    let qi = st.index(&name)?;
    let (root, reader_log, who) = (
        st.root().to_path_buf(),
        log.reader(),
        format!("token {} ({})", token.id, token.name),
    );
    let (prepared, body, manifest) = veritrail_service::blocking(move || {
        let mut indexes = Vec::new();
        qi.for_each(&filter, &mut |i| {
            indexes.push(i);
            Ok::<bool, IndexError>(indexes.len() <= MAX_ENTRIES)
        })
        .map_err(ServiceError::from)?;
        if indexes.len() > MAX_ENTRIES {
            return Err(AppError::too_large(format!(
                "the query selects more than {MAX_ENTRIES} entries: narrow it, or run `veritrail export` on the server's host"
            )));
        }
        let prepared = builder::prepare(
            &reader_log,
            &root,
            Request {
                log: name.clone(),
                indexes,
                query,
                exported_by: who,
                exported_at: veritrail_service::audit::now().to_rfc3339_nanos(),
                witnessed,
                since: None,
            },
        )
        .map_err(export_err)?;
        let w = builder::write_entries(&reader_log, &prepared, Vec::new(), &|_| {})
            .map_err(export_err)?;
        let manifest = w.manifest();
        Ok::<_, AppError>((prepared, w, manifest))
    })
    .await?;
    let record = AuditRecord {
        action: bundle::EXPORT_ACTION,
        actor: Actor::caller(Some(&token), ip.0),
        app: "veritrail-server",
        target: Some(&prepared.header.log),
        metadata: builder::record_metadata(&prepared, &manifest, None),
    };
    let index = st.service.audit(&record).await?;
    let sys = st.log(SYSTEM_LOG)?;
    let bytes = veritrail_service::blocking(move || {
        let trailer = Trailer {
            manifest: manifest.to_base64(),
            system: builder::system_record(&sys, index, Duration::from_secs(30))
                .map_err(export_err)?,
        };
        body.finish(&trailer).map_err(|e| AppError::internal(&e))
    })
    .await?;
    let file = format!(
        "{}-{}-{}.bundle",
        prepared.header.log,
        prepared.size,
        &manifest.to_hex()[..12]
    );
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-veritrail-entries",
        HeaderValue::from(prepared.indexes.len() as u64),
    );
    h.insert("x-veritrail-tree-size", HeaderValue::from(prepared.size));
    Ok(r)
}
