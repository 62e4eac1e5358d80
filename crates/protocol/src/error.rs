//! Stream's error-code table and the JSON error envelope used by REST responses and WS `connection.error` frames.

use serde_json::{json, Value};

/// One row of Stream's error table: a numeric code, its HTTP status and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Internal,
    AccessKey,
    Input,
    Authentication,
    RateLimit,
    DoesNotExist,
    NotAllowed,
    EventNotSupported,
    ChannelFeatureNotSupported,
    MessageTooLong,
    MultipleNestingLevel,
    PayloadTooBig,
    TokenExpired,
    TokenNotValidYet,
    TokenUsedBeforeIssuedAt,
    TokenSignatureInvalid,
    ConnectionIdNotFound,
    CoolDown,
    QueryChannelPermissions,
    MessageModerationFailed,
    AppSuspended,
}

impl ErrorCode {
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::Internal => -1,
            ErrorCode::AccessKey => 2,
            ErrorCode::Input => 4,
            ErrorCode::Authentication => 5,
            ErrorCode::RateLimit => 9,
            ErrorCode::DoesNotExist => 16,
            ErrorCode::NotAllowed => 17,
            ErrorCode::EventNotSupported => 18,
            ErrorCode::ChannelFeatureNotSupported => 19,
            ErrorCode::MessageTooLong => 20,
            ErrorCode::MultipleNestingLevel => 21,
            ErrorCode::PayloadTooBig => 22,
            ErrorCode::TokenExpired => 40,
            ErrorCode::TokenNotValidYet => 41,
            ErrorCode::TokenUsedBeforeIssuedAt => 42,
            ErrorCode::TokenSignatureInvalid => 43,
            ErrorCode::ConnectionIdNotFound => 46,
            ErrorCode::CoolDown => 60,
            ErrorCode::QueryChannelPermissions => 70,
            ErrorCode::MessageModerationFailed => 73,
            ErrorCode::AppSuspended => 99,
        }
    }

    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::Internal => 500,
            ErrorCode::AccessKey
            | ErrorCode::Authentication
            | ErrorCode::TokenExpired
            | ErrorCode::TokenNotValidYet
            | ErrorCode::TokenUsedBeforeIssuedAt
            | ErrorCode::TokenSignatureInvalid => 401,
            ErrorCode::Input
            | ErrorCode::EventNotSupported
            | ErrorCode::ChannelFeatureNotSupported
            | ErrorCode::MessageTooLong
            | ErrorCode::MultipleNestingLevel
            | ErrorCode::ConnectionIdNotFound
            | ErrorCode::MessageModerationFailed => 400,
            ErrorCode::RateLimit => 429,
            ErrorCode::DoesNotExist => 404,
            ErrorCode::NotAllowed
            | ErrorCode::CoolDown
            | ErrorCode::QueryChannelPermissions
            | ErrorCode::AppSuspended => 403,
            ErrorCode::PayloadTooBig => 413,
        }
    }
}

/// An error as the client sees it: a code from the table and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Input, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DoesNotExist, message)
    }

    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotAllowed, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error, see the server log")
    }

    /// Prefixes the message with the operation name, as Stream does (`SendMessage failed with error: "..."`).
    pub fn in_operation(mut self, operation: &str) -> Self {
        self.message = format!("{operation} failed with error: \"{}\"", self.message);
        self
    }

    /// Stream's error body; `duration` is the time the request took so far.
    pub fn envelope(&self, duration: &str) -> Value {
        json!({
            "code": self.code.code(),
            "message": self.message,
            "StatusCode": self.code.http_status(),
            "duration": duration,
            "more_info": "https://getstream.io/chat/docs/api_errors_response",
            "details": [],
            "exception_fields": {},
            "unrecoverable": false,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code {}: {}", self.code.code(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_carries_code_status_and_empty_details() {
        let error = ApiError::new(ErrorCode::TokenExpired, "token is expired");
        let body = error.envelope("0.10ms");
        assert_eq!(body["code"], 40);
        assert_eq!(body["StatusCode"], 401);
        assert_eq!(body["details"], serde_json::json!([]));
        assert_eq!(body["message"], "token is expired");
    }

    #[test]
    fn operation_prefix_quotes_the_cause() {
        let error = ApiError::input("bad").in_operation("SendMessage");
        assert_eq!(error.message, "SendMessage failed with error: \"bad\"");
    }
}
