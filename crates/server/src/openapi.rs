//! The OpenAPI 3 description of the API, served at `/v1/openapi.json`.
//! `tests/router.rs` checks that every path and method here is routed.

use serde_json::{json, Value};

fn err() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn log_param() -> Value {
    json!({"name": "log", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn q(name: &str, ty: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}, "description": desc})
}

/// The document.
pub fn document() -> Value {
    let bearer = json!([{"bearer": []}]);
    let public = json!([{}, {"bearer": []}]);
    let mut d = json!({
        "openapi": "3.0.3",
        "info": {"title": "veritrail", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Immutable, tamper-evident audit log. Entries are C2SP tlog-tiles leaves; checkpoints are C2SP signed notes."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "item": {"type": "integer"}, "field": {"type": "string"}}}}},
                "Event": {"type": "object", "required": ["action", "actor"], "additionalProperties": false, "properties": {
                    "action": {"type": "string", "example": "user.login"},
                    "actor": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["id"], "properties": {
                        "id": {"type": "string"}, "type": {"type": "string"}, "ip": {"type": "string"}, "user_agent": {"type": "string"}, "name": {"type": "string"}}}]},
                    "time": {"type": "string", "format": "date-time"},
                    "outcome": {"type": "string", "enum": ["success", "failure", "unknown"]},
                    "target": {"type": "object", "required": ["id"], "properties": {"type": {"type": "string"}, "id": {"type": "string"}, "name": {"type": "string"}}},
                    "source": {"type": "object", "properties": {"host": {"type": "string"}, "app": {"type": "string"}}},
                    "severity": {"type": "string", "enum": ["emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"]},
                    "message": {"type": "string"},
                    "metadata": {"type": "object"}}},
                "Entry": {"type": "object", "properties": {"index": {"type": "integer"}, "leaf_hash": {"type": "string", "format": "byte"},
                    "inclusion_proof": {"type": "array", "items": {"type": "string", "format": "byte"}}}}
            }
        },
        "paths": {
            "/healthz": {"get": {"summary": "Ready once every log is recovered and none is damaged", "responses": {"200": {"description": "ok"}, "503": {"description": "damaged logs, named"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/v1/logs": {
                "get": {"summary": "Logs the token may see", "security": bearer, "responses": {"200": {"description": "names, sizes, origins, verifier keys"}, "401": err()}},
                "post": {"summary": "Create a log with its own signing key (admin)", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
                    "responses": {"201": {"description": "name, origin, verifier_key"}, "400": err(), "401": err(), "403": err(), "409": err()}}
            },
            "/v1/logs/{log}/events": {
                "post": {"summary": "Append events (atomic batch; 201 after fdatasync)", "security": bearer,
                    "parameters": [log_param(), q("wait", "string", "`proof`: answer with a signed checkpoint and inclusion proofs; `witnessed`: with a checkpoint the witnesses' quorum cosigned"),
                        {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
                         "description": "retries with the same key (per token, 24 h) get the original answer and append nothing"}],
                    "requestBody": {"required": true, "content": {
                        "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Event"}, {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/Event"}}]}},
                        "application/x-ndjson": {"schema": {"type": "string"}}}},
                    "responses": {"201": {"description": "durable", "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "entries": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}}, "tree_size": {"type": "integer"},
                        "checkpoint": {"type": "string"}, "verifier_key": {"type": "string"}}}}}},
                        "400": err(), "401": err(), "403": err(), "404": err(), "409": err(), "413": err(), "415": err(), "422": err(), "503": err()}},
                "get": {"summary": "Query (derived index; events read from the log)", "security": bearer,
                    "parameters": [log_param(), q("actor", "string", "actor id"), q("action", "string", "exact, or prefix with .*"),
                        q("outcome", "string", ""), q("target", "string", "target id"), q("source", "string", "source host or app"),
                        q("since", "string", "RFC 3339"), q("until", "string", "RFC 3339"), q("q", "string", "full text over message and metadata"),
                        q("limit", "integer", "1-1000, default 100"), q("cursor", "integer", "previous next_cursor")],
                    "responses": {"200": {"description": "events, next_cursor, indexed_through"}, "400": err(), "401": err(), "403": err(), "404": err()}}
            },
            "/v1/logs/{log}/events/{index}": {"get": {"summary": "One entry, exactly as stored", "security": bearer,
                "parameters": [log_param(), {"name": "index", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "index, leaf_hash, event"}, "400": err(), "401": err(), "403": err(), "404": err()}}},
            "/v1/logs/{log}/events/{index}/raw": {"get": {"summary": "One entry's stored bytes alone (the leaf is SHA-256(0x00 ‖ them))", "security": bearer,
                "parameters": [log_param(), {"name": "index", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "application/octet-stream"}, "400": err(), "401": err(), "403": err(), "404": err(), "500": err()}}},
            "/v1/logs/{log}/checkpoint": {"get": {"summary": "Latest signed checkpoint (C2SP)", "security": public, "parameters": [log_param()],
                "responses": {"200": {"description": "text/plain signed note"}, "401": err(), "404": err()}}},
            "/v1/logs/{log}/checkpoints": {"get": {"summary": "Sizes of the signed checkpoints, oldest first", "security": public,
                "parameters": [log_param(), q("after", "integer", "only sizes above this"), q("limit", "integer", "1-1000, default 100")],
                "responses": {"200": {"description": "sizes, next_after"}, "400": err(), "404": err()}}},
            "/v1/logs/{log}/checkpoints/{size}": {"get": {"summary": "The checkpoint signed at a size (C2SP)", "security": public,
                "parameters": [log_param(), {"name": "size", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "text/plain signed note"}, "400": err(), "404": err()}}},
            "/v1/logs/{log}/tile/{path}": {"get": {"summary": "C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] (public) or tile/entries/<N>[.p/<W>] (reader)",
                "security": public, "parameters": [log_param(), {"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "tile bytes"}, "400": err(), "401": err(), "403": err(), "404": err()}}},
            "/v1/logs/{log}/proof/inclusion": {"get": {"summary": "RFC 9162 inclusion proof", "security": public,
                "parameters": [log_param(), q("index", "integer", "entry index"), q("tree_size", "integer", "a signed size; default: the latest checkpoint")],
                "responses": {"200": {"description": "index, tree_size, proof, checkpoint"}, "400": err(), "404": err()}}},
            "/v1/logs/{log}/proof/consistency": {"get": {"summary": "RFC 9162 consistency proof", "security": public,
                "parameters": [log_param(), q("from", "integer", "old size"), q("to", "integer", "new size")],
                "responses": {"200": {"description": "from, to, proof, from_checkpoint, to_checkpoint"}, "400": err(), "404": err()}}},
            "/v1/logs/{log}/stream": {"get": {"summary": "Live stream (Server-Sent Events): replay from `from` (or Last-Event-ID + 1), then live; `event: cut` with resume_from for a client that does not keep up", "security": bearer,
                "parameters": [log_param(), q("from", "integer", "first index (default: the log's end)"), q("actor", "string", "actor id"), q("action", "string", "exact, or prefix with .*"),
                    q("outcome", "string", ""), q("target", "string", "target id"), q("source", "string", "source host or app"),
                    q("since", "string", "RFC 3339"), q("until", "string", "RFC 3339"), q("q", "string", "words in message and metadata"),
                    {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "integer"}, "description": "resume after this index"}],
                "responses": {"200": {"description": "text/event-stream: id, event entry, data {index, leaf_hash, event}"}, "400": err(), "401": err(), "403": err(), "404": err()}}},
            "/v1/logs/{log}/timestamps/{size}": {"get": {"summary": "The RFC 3161 token kept for the checkpoint signed at a size (DER ContentInfo)", "security": public,
                "parameters": [log_param(), {"name": "size", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "application/timestamp-token"}, "400": err(), "404": err()}}},
            "/v1/alerts": {"get": {"summary": "Recent alerts: the alert.fired records in _system (auditor, admin)", "security": bearer,
                "parameters": [q("rule", "string", "one rule"), q("since", "string", "RFC 3339"), q("until", "string", "RFC 3339"),
                    q("limit", "integer", "1-1000, default 100"), q("cursor", "integer", "previous next_cursor")],
                "responses": {"200": {"description": "alerts (system_index, leaf_hash, rule, severity, summary, group, fired_at, rules_version, triggers, trigger_count, acknowledged), next_cursor, indexed_through"}, "400": err(), "401": err(), "403": err()}}},
            "/v1/tokens": {
                "post": {"summary": "Create a token (admin); the secret is shown once", "security": bearer,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["role"], "properties": {
                        "role": {"type": "string", "enum": ["writer", "reader", "auditor", "admin"]}, "logs": {"type": "array", "items": {"type": "string"}},
                        "name": {"type": "string"}, "expires_in_secs": {"type": "integer"}}}}}},
                    "responses": {"201": {"description": "token and its id"}, "400": err(), "401": err(), "403": err()}},
                "get": {"summary": "List tokens (admin), never secrets", "security": bearer, "responses": {"200": {"description": "tokens"}, "401": err(), "403": err()}}
            },
            "/v1/tokens/{id}": {"delete": {"summary": "Revoke a token (admin)", "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the revoked token"}, "401": err(), "403": err(), "404": err()}}}
        }
    });
    d["paths"]["/v1/logs/{log}/reviews"] = json!({"post": {"summary": "Record a review of the log up to one of its signed checkpoints (auditor): a review.completed record in _system", "security": bearer,
                "parameters": [log_param()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["note"], "properties": {
                    "note": {"type": "string"}, "checkpoint": {"type": "string", "description": "a signed checkpoint note of this log (default: the latest)"},
                    "from": {"type": "integer", "description": "first entry reviewed (default: where the last review ended)"},
                    "findings": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": {"201": {"description": "log, from, to, reviewer"}, "400": err(), "401": err(), "403": err(), "404": err()}}});
    d["paths"]["/v1/logs/{log}/stats"] = json!({"get": {"summary": "Counts for charts and reports: entries per hour and outcome, failed logins by source, top actors; each with its query and the tree size counted (reader of the log, or auditor)", "security": bearer,
                "parameters": [log_param(), q("actor", "string", "actor id"), q("action", "string", "exact, or prefix with .*"),
                    q("outcome", "string", ""), q("target", "string", "target id"), q("source", "string", "source host or app"),
                    q("since", "string", "RFC 3339"), q("until", "string", "RFC 3339"), q("q", "string", "full text over message and metadata"),
                    q("top", "integer", "1-100, default 10: rows in each top list")],
                "responses": {"200": {"description": "log, tree_size, indexed_through, total, per_hour, failed_logins_by_source, top_actors"}, "400": err(), "401": err(), "403": err(), "404": err()}}});
    d["paths"]["/v1/alerts/{index}/ack"] = json!({"post": {"summary": "Acknowledge an alert (auditor): an alert.acknowledged record in _system with the note", "security": bearer,
                "parameters": [{"name": "index", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "the alert's _system index"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["note"], "properties": {"note": {"type": "string", "maxLength": 4096}}}}}},
                "responses": {"201": {"description": "alert, acknowledgement"}, "400": err(), "401": err(), "403": err(), "404": err(), "409": err()}}});
    d["paths"]["/v1/logs/{log}/report"] = json!({"get": {"summary": "A period report: counts with their queries, alerts, reviews, trust and integrity checks, against a signed checkpoint (auditor)", "security": bearer,
                "parameters": [log_param(), q("from", "string", "RFC 3339, inclusive"), q("to", "string", "RFC 3339, exclusive"), q("format", "string", "json (default) or html")],
                "responses": {"200": {"description": "veritrail-report/v1 JSON, or a self-contained HTML page"}, "400": err(), "401": err(), "403": err(), "404": err(), "503": err()}}});
    d["paths"]["/v1/logs/{log}/export"] = json!({"get": {"summary": "An evidence bundle (docs/BUNDLE.md) of the entries the filters select, recorded in _system as evidence.export (reader of the log, or auditor)", "security": bearer,
                "parameters": [log_param(), q("actor", "string", "actor id"), q("action", "string", "exact, or prefix with .*"),
                    q("outcome", "string", ""), q("target", "string", "target id"), q("source", "string", "source host or app"),
                    q("since", "string", "RFC 3339"), q("until", "string", "RFC 3339"), q("q", "string", "full text over message and metadata"),
                    q("witnessed", "boolean", "prove against the newest cosigned checkpoint")],
                "responses": {"200": {"description": "application/x-ndjson bundle (attachment)"}, "400": err(), "401": err(), "403": err(), "404": err(), "409": err(), "413": err(), "503": err()}}});
    d["paths"]["/v1/integrity"] = json!({"get": {"summary": "Integrity state: per log the newest checkpoints with cosigners and timestamp tokens, witness and timestamp lag, immutability flags, storage; for auditors and admins also damaged logs, object storage and the last veritrail verify (reader, auditor, admin)", "security": bearer,
                "parameters": [q("history", "integer", "1-1000, default 20: newest checkpoints per log")],
                "responses": {"200": {"description": "logs[], and for auditors/admins damaged, object_storage, last_verify"}, "400": err(), "401": err(), "403": err()}}});
    d["paths"]["/v1/reviews"] = json!({"get": {"summary": "Review coverage per log: reviews, reviewed entries, gaps (auditor)", "security": bearer,
                "parameters": [q("log", "string", "one log")],
                "responses": {"200": {"description": "logs: log, size, reviewed_entries, gaps, last_review, reviews; indexed_through"}, "401": err(), "403": err(), "404": err()}}});
    d["paths"]["/console/session"] = json!({
        "post": {"summary": "Console sign-in: a session cookie (HttpOnly, SameSite=Strict) and a CSRF token for a reader, auditor or admin token",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}}}},
            "responses": {"200": {"description": "token_id, name, role, logs, csrf; Set-Cookie vt_session"}, "400": err(), "401": err(), "403": err()}},
        "get": {"summary": "The console session's identity and CSRF token", "responses": {"200": {"description": "token_id, name, role, logs, csrf"}, "401": err()}},
        "delete": {"summary": "Console sign-out (needs X-CSRF-Token)", "responses": {"204": {"description": "signed out"}, "403": err()}}
    });
    d
}
