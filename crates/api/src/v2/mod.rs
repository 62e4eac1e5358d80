//! Stream's v2 layout (`/api/v2/chat/...`, `/api/v2/...`, `/api/v2/moderation/...`): each served operation is handed to the root route that implements it, with bodies translated between the two wire formats.
//!
//! No operation has a second implementation here: a v2 request is rewritten (path without its
//! prefix, body through `shape::request`, and for a few moderation operations the v2 body's
//! fields), answered by the root router (authentication, rate limits, the handler and its `Chat`
//! method), and a successful answer is rewritten through `shape::response`. Errors pass unchanged:
//! the envelope is the same in both layouts.

mod operations;
pub mod shape;

pub use operations::{Operation, Quirk, OPERATIONS};

use crate::context::parse_json;
use crate::reply::ErrorReply;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::Router;
use eddy_protocol::{ApiError, ErrorCode};
use serde_json::{json, Map, Value};
use shape::Kind;
use std::collections::BTreeMap;
use std::time::Instant;
use tower::ServiceExt;

/// Request and response bodies larger than this are refused (the root routes' own limit is 2 MiB).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Entity types of `POST /api/v2/moderation/flag` that name a message or a user.
const MESSAGE_ENTITY: &str = "stream:chat:v1:message";
const USER_ENTITIES: &[&str] = &["stream:user", "stream:chat:v1:user"];

/// The v2 routes, answered by `root` (the root layout's router, state applied).
pub fn routes(root: Router) -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for operation in OPERATIONS {
        let root = root.clone();
        let handler = move |request: Request| forward(root, operation, request);
        let filter = method_filter(operation.method);
        let entry = by_path.remove(operation.path);
        let method_router = match entry {
            Some(existing) => existing.on(filter, handler),
            None => on(filter, handler),
        };
        by_path.insert(operation.path, method_router);
    }
    let mut router = Router::new();
    for (path, method_router) in by_path {
        router = router.route(path, method_router.fallback(not_supported));
    }
    router
        .route("/api/v2", any(not_supported))
        .route("/api/v2/{*rest}", any(not_supported))
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        _ => MethodFilter::DELETE,
    }
}

/// Operations of the v2 layout eddy does not serve: Stream's input error (4), naming the operation.
async fn not_supported(method: Method, uri: Uri) -> ErrorReply {
    ErrorReply::new(
        ApiError::input(format!(
            "{method} {} is not supported by this server (eddy does not implement this operation)",
            uri.path()
        )),
        Instant::now(),
    )
}

/// The root path of a v2 path: without `/api/v2/chat` or `/api/v2`.
fn root_path(path: &str) -> &str {
    path.strip_prefix("/api/v2/chat")
        .filter(|rest| rest.starts_with('/'))
        .or_else(|| path.strip_prefix("/api/v2"))
        .unwrap_or(path)
}

/// The root route an operation is handed to, as the route table spells it (`{param}` included):
/// the rate limiter's name for its window.
pub(crate) fn root_route(operation: &Operation) -> &'static str {
    match operation.quirk {
        Quirk::Unban => "/moderation/ban",
        _ => root_path(operation.path),
    }
}

async fn forward(root: Router, operation: &'static Operation, request: Request) -> Response {
    let started = Instant::now();
    let fail = |error: ApiError| ErrorReply::new(error, started).into_response();
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return fail(ApiError::new(
            ErrorCode::PayloadTooBig,
            "request body is too large",
        ));
    };
    let mut body: Value = match parse_json(&bytes) {
        Ok(body) => body,
        Err(error) => return fail(error.in_operation(operation.id)),
    };
    shape::request(&mut body);
    let mut query = match v2_query(&parts.uri) {
        Ok(query) => query,
        Err(error) => return fail(error.in_operation(operation.id)),
    };
    match operation.quirk {
        Quirk::Flag => {
            if let Err(error) = flag_request(&mut body) {
                return fail(error.in_operation(operation.id));
            }
        }
        Quirk::Unban => {
            parts.method = Method::DELETE;
            if let Some(by) = unbanned_by(&body) {
                let pair = format!("unbanned_by_id={}", percent_encode(&by));
                query = Some(match query {
                    Some(existing) if !existing.is_empty() => format!("{existing}&{pair}"),
                    _ => pair,
                });
            }
            body = json!({});
        }
        Quirk::None | Quirk::Unread | Quirk::Mute => {}
    }
    let path = match operation.quirk {
        Quirk::Unban => root_route(operation).to_owned(),
        _ => root_path(parts.uri.path()).to_owned(),
    };
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    parts.uri = match target.parse() {
        Ok(uri) => uri,
        Err(_) => return fail(ApiError::input("invalid request path")),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    // Routing state of this router (matched path, path parameters) must not leak into the next.
    parts.extensions = axum::http::Extensions::new();
    let forwarded = Request::from_parts(parts, Body::from(body.to_string()));
    let response = match root.oneshot(forwarded).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return fail(ApiError::internal());
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    respond(operation.quirk, &mut value);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(Bytes::from(value.to_string())))
}

/// The query string for the root route: a `payload` JSON parameter (GET query endpoints) without
/// the nulls stream-py writes for every unset field, and with `custom` objects merged.
fn v2_query(uri: &Uri) -> Result<Option<String>, ApiError> {
    let Some(raw) = uri.query() else {
        return Ok(None);
    };
    if !raw.contains("payload=") {
        return Ok(Some(raw.to_owned()));
    }
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::input(format!("invalid query string: {e}")))?;
    let mut out = Vec::with_capacity(pairs.len());
    for (name, mut value) in pairs {
        if name == "payload" {
            let mut payload: Value = serde_json::from_str(&value)
                .map_err(|e| ApiError::input(format!("payload is not valid JSON: {e}")))?;
            shape::without_nulls(&mut payload);
            shape::request(&mut payload);
            value = payload.to_string();
        }
        out.push(format!(
            "{}={}",
            percent_encode(&name),
            percent_encode(&value)
        ));
    }
    Ok(Some(out.join("&")))
}

/// A root answer in v2's shape, with the operation's own differences.
fn respond(quirk: Quirk, body: &mut Value) {
    match quirk {
        Quirk::Unread => shape::response(body, Kind::Unread),
        Quirk::Flag => {
            // eddy keeps no review queue: the item is the flagged entity itself.
            let flag = &body["flag"];
            let item = flag["target_message_id"]
                .as_str()
                .or_else(|| flag["target_user"]["id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let duration = body["duration"].clone();
            *body = json!({ "item_id": item, "duration": duration });
        }
        Quirk::Mute => {
            if let Value::Object(fields) = body {
                if let Some(one) = fields.remove("mute") {
                    fields.entry("mutes").or_insert_with(|| json!([one]));
                }
            }
            shape::response(body, Kind::Plain);
        }
        Quirk::None | Quirk::Unban => shape::response(body, Kind::Plain),
    }
}

/// `entity_type` + `entity_id` as the root flag's `target_message_id` or `target_user_id`.
fn flag_request(body: &mut Value) -> Result<(), ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::input("the request body must be a JSON object"));
    };
    let entity_type = take_text(fields, "entity_type")
        .ok_or_else(|| ApiError::input("entity_type is required"))?;
    let entity_id =
        take_text(fields, "entity_id").ok_or_else(|| ApiError::input("entity_id is required"))?;
    fields.remove("entity_creator_id");
    fields.remove("moderation_payload");
    let target = if entity_type == MESSAGE_ENTITY {
        "target_message_id"
    } else if USER_ENTITIES.contains(&entity_type.as_str()) {
        "target_user_id"
    } else {
        return Err(ApiError::input(format!(
            "flagging entities of type {entity_type:?} is not supported by this server \
             (supported: {MESSAGE_ENTITY}, {})",
            USER_ENTITIES.join(", ")
        )));
    };
    fields.insert(target.into(), Value::String(entity_id));
    Ok(())
}

fn take_text(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.remove(key) {
        Some(Value::String(text)) if !text.is_empty() => Some(text),
        _ => None,
    }
}

/// The acting user of a v2 unban: `unbanned_by_id`, or `unbanned_by.id`.
fn unbanned_by(body: &Value) -> Option<String> {
    body["unbanned_by_id"]
        .as_str()
        .or_else(|| body["unbanned_by"]["id"].as_str())
        .map(str::to_owned)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn percent_encode(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_paths_drop_either_prefix() {
        assert_eq!(root_path("/api/v2/chat/channels"), "/channels");
        assert_eq!(root_path("/api/v2/users"), "/users");
        assert_eq!(root_path("/api/v2/moderation/ban"), "/moderation/ban");
        assert_eq!(
            root_path("/api/v2/chat/moderation/mute/channel"),
            "/moderation/mute/channel"
        );
    }

    #[test]
    fn flags_name_a_message_or_a_user_and_nothing_else() {
        let mut message = json!({"entity_type": MESSAGE_ENTITY, "entity_id": "m1", "entity_creator_id": "a", "reason": "spam", "user_id": "b"});
        flag_request(&mut message).unwrap();
        assert_eq!(
            message,
            json!({"target_message_id": "m1", "reason": "spam", "user_id": "b"})
        );
        let mut user = json!({"entity_type": "stream:user", "entity_id": "u1"});
        flag_request(&mut user).unwrap();
        assert_eq!(user, json!({"target_user_id": "u1"}));
        let mut other = json!({"entity_type": "stream:feeds:v2:activity", "entity_id": "x"});
        let error = flag_request(&mut other).unwrap_err();
        assert_eq!(error.code, ErrorCode::Input);
        assert!(error.message.contains("not supported"));
        assert!(flag_request(&mut json!({"entity_id": "x"})).is_err());
    }

    #[test]
    fn mute_answers_are_lists_and_flag_answers_name_the_item() {
        let mut mute =
            json!({"mute": {"user": {"id": "a"}, "target": {"id": "b"}}, "duration": "1ms"});
        respond(Quirk::Mute, &mut mute);
        assert_eq!(mute["mutes"][0]["target"]["id"], "b");
        assert!(mute.get("mute").is_none());
        let mut flag = json!({"flag": {"target_message_id": "m1"}, "duration": "1ms"});
        respond(Quirk::Flag, &mut flag);
        assert_eq!(flag, json!({"item_id": "m1", "duration": "1ms"}));
    }

    #[test]
    fn the_operations_document_lists_exactly_the_served_table() {
        let document = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/v2-operations.md"
        ))
        .expect("docs/v2-operations.md exists (scripts/v2-operations writes it)");
        let mut documented: Vec<(String, String, String)> = document
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells.len() == 6 && cells[4] == "served").then(|| {
                    (
                        cells[1].to_owned(),
                        cells[2].trim_matches('`').to_owned(),
                        cells[3].to_owned(),
                    )
                })
            })
            .collect();
        let mut table: Vec<(String, String, String)> = OPERATIONS
            .iter()
            .map(|o| (o.method.to_owned(), o.path.to_owned(), o.id.to_owned()))
            .collect();
        documented.sort();
        table.sort();
        let before = table.len();
        table.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        assert_eq!(table.len(), before, "an operation is listed twice");
        assert_eq!(
            documented, table,
            "docs/v2-operations.md is stale: run scripts/v2-operations"
        );
    }

    #[test]
    fn every_served_path_is_under_a_v2_prefix() {
        for operation in OPERATIONS {
            assert!(operation.path.starts_with("/api/v2/"), "{operation:?}");
            assert_ne!(root_path(operation.path), operation.path, "{operation:?}");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("user-1_x.y~"), "user-1_x.y~");
    }
}
