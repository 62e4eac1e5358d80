//! Responses: JSON bodies with Stream's `duration`, and errors rendered as Stream's error envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use eddy_protocol::ApiError;
use serde_json::Value;
use std::time::Instant;

fn duration_text(started: Instant) -> String {
    format!("{:.2}ms", started.elapsed().as_secs_f64() * 1000.0)
}

/// A successful answer; `duration` is added to the object when rendered.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub started: Instant,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut body = self.body;
        if let Value::Object(fields) = &mut body {
            fields.insert("duration".into(), Value::from(duration_text(self.started)));
        }
        (self.status, Json(body)).into_response()
    }
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
