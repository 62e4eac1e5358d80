//! Responses: JSON bodies with Stream's `duration`, and errors rendered as Stream's error envelope.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use eddy_protocol::ApiError;
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Instant;

fn duration_text(started: Instant) -> String {
    format!("{:.2}ms", started.elapsed().as_secs_f64() * 1000.0)
}

/// A successful answer; `duration` is added to the object when rendered.
pub struct Reply {
    pub status: StatusCode,
    pub body: Body,
    pub started: Instant,
}

/// A reply's JSON: a tree, or an object the service already serialised (large pages).
pub enum Body {
    Tree(Value),
    Serialized(Box<RawValue>),
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body::Tree(value)
    }
}

impl From<Box<RawValue>> for Body {
    fn from(raw: Box<RawValue>) -> Self {
        Body::Serialized(raw)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let duration = duration_text(self.started);
        match self.body {
            Body::Tree(mut body) => {
                if let Value::Object(fields) = &mut body {
                    fields.insert("duration".into(), Value::from(duration));
                }
                (self.status, Json(body)).into_response()
            }
            Body::Serialized(raw) => {
                let bytes = with_duration(raw.get(), &duration);
                (
                    self.status,
                    [(header::CONTENT_TYPE, "application/json")],
                    bytes,
                )
                    .into_response()
            }
        }
    }
}

/// Splices `"duration": ...` into a serialised object as its first key (anything else is sent as is).
fn with_duration(json: &str, duration: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(json.len() + duration.len() + 16);
    match json.strip_prefix('{') {
        Some(rest) => {
            bytes.extend_from_slice(b"{\"duration\":");
            bytes.extend_from_slice(Value::from(duration).to_string().as_bytes());
            if !rest.trim_start().starts_with('}') {
                bytes.push(b',');
            }
            bytes.extend_from_slice(rest.as_bytes());
        }
        None => bytes.extend_from_slice(json.as_bytes()),
    }
    bytes
}

/// A failed answer in Stream's envelope.
#[derive(Debug)]
pub struct ErrorReply {
    pub error: ApiError,
    pub started: Instant,
}

impl ErrorReply {
    pub fn new(error: ApiError, started: Instant) -> Self {
        ErrorReply { error, started }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(self.error.envelope(&duration_text(self.started))),
        )
            .into_response()
    }
}

pub type Outcome = Result<Reply, ErrorReply>;

/// Rewrites the framework's own plain-text refusals (405, 413, ...) into Stream's error JSON.
pub async fn stream_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || status == StatusCode::SWITCHING_PROTOCOLS
    {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => eddy_protocol::ErrorCode::PayloadTooBig,
        StatusCode::NOT_FOUND => eddy_protocol::ErrorCode::DoesNotExist,
        StatusCode::TOO_MANY_REQUESTS => eddy_protocol::ErrorCode::RateLimit,
        status if status.is_server_error() => eddy_protocol::ErrorCode::Internal,
        _ => eddy_protocol::ErrorCode::Input,
    };
    let reason = status.canonical_reason().unwrap_or("request refused");
    let error = ApiError::new(code, format!("{reason} ({})", status.as_u16()));
    let mut rewritten = (status, Json(error.envelope("0.00ms"))).into_response();
    if let Some(allow) = response.headers().get(axum::http::header::ALLOW) {
        rewritten
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::with_duration;
    use serde_json::{json, Value};

    fn spliced(json: &str) -> Value {
        serde_json::from_slice(&with_duration(json, "1.50ms")).expect("valid JSON")
    }

    #[test]
    fn duration_is_spliced_into_serialised_objects() {
        assert_eq!(
            spliced(r#"{"channels":[{"a":1}]}"#),
            json!({"duration": "1.50ms", "channels": [{"a": 1}]})
        );
        assert_eq!(spliced("{}"), json!({"duration": "1.50ms"}));
        assert_eq!(spliced("{ }"), json!({"duration": "1.50ms"}));
        assert_eq!(spliced("[1]"), json!([1]));
    }
}
