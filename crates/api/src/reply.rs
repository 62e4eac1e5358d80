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
