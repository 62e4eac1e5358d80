//! Per-request authentication: the app from `api_key`, the actor from the JWT or anonymous auth, and query params.

use crate::reply::ErrorReply;
use crate::AppState;
use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use eddy_chat::Actor;
use eddy_core::auth::{verify, TokenSubject};
use eddy_protocol::{ApiError, ErrorCode};
use eddy_store::App;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

/// An authenticated request's app, actor and query parameters.
pub struct RequestContext {
    pub app: App,
    pub actor: Actor,
    pub query: HashMap<String, String>,
    pub started: Instant,
}

impl RequestContext {
    pub fn fail(&self, error: ApiError) -> ErrorReply {
        ErrorReply::new(error, self.started)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.param(name), Some("true" | "1"))
    }

    pub fn connection_id(&self) -> Option<&str> {
        self.param("connection_id")
    }

    /// The `payload` query parameter of GET query endpoints, parsed.
    pub fn payload<T: DeserializeOwned + Default>(&self) -> Result<T, ErrorReply> {
        match self.param("payload") {
            None => Ok(T::default()),
            Some(text) if has_nul(text.as_bytes()) => {
                Err(self.fail(ApiError::input("payload contains a NUL character")))
            }
            Some(text) => serde_json::from_str(text).map_err(|e| {
                self.fail(ApiError::input(format!(
                    "payload is not valid JSON for this request: {e}"
                )))
            }),
        }
    }

    /// A JSON request body; an empty body reads as `{}`.
    pub fn body<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ErrorReply> {
        parse_json(bytes).map_err(|e| self.fail(e))
    }

    pub fn require_server(&self, operation: &str) -> Result<(), ErrorReply> {
        if self.actor.is_server() {
            return Ok(());
        }
        Err(self.fail(ApiError::not_allowed(format!(
            "{operation} is only allowed with server-side authentication"
        ))))
    }
}

/// NUL characters are refused everywhere: PostgreSQL cannot store them, and no client needs them.
pub(crate) fn has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(6).any(|w| w == br"\u0000")
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul(bytes) {
        return Err(ApiError::input("request body contains a NUL character"));
    }
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|error| ApiError::input(format!("invalid request body: {error}")))
}

/// Authenticates with the same rules on REST and WS: `api_key`, then the token or anonymous mode.
pub async fn authenticate(
    state: &AppState,
    api_key: Option<&str>,
    token: Option<&str>,
    auth_type: Option<&str>,
) -> Result<(App, Actor), ApiError> {
    authenticate_until(state, api_key, token, auth_type)
        .await
        .map(|(app, actor, _)| (app, actor))
}

/// Like [`authenticate`], also returning the token's `exp` (unix seconds), for connections that outlive requests.
pub async fn authenticate_until(
    state: &AppState,
    api_key: Option<&str>,
    token: Option<&str>,
    auth_type: Option<&str>,
) -> Result<(App, Actor, Option<i64>), ApiError> {
    let api_key = api_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::AccessKey, "api_key not found"))?;
    let app = state.chat.app_by_key(api_key).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::AccessKey,
            format!("api_key not valid: {api_key}"),
        )
    })?;
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "undefined");
    if auth_type == Some("anonymous") && token.is_none() {
        return Ok((app, Actor::Anonymous, None));
    }
    let token = token.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Authentication,
            "JWTAuth error: token is missing from the Authorization header",
        )
    })?;
    let now = chrono::Utc::now().timestamp();
    let subject = verify(token, &app.api_secret, now)
        .map_err(|error| ApiError::new(error.code(), format!("JWTAuth error: {error}")))?;
    match subject {
        TokenSubject::Server => Ok((app, Actor::Server, None)),
        TokenSubject::User {
            user_id,
            issued_at,
            expires_at,
        } => {
            let user = state
                .chat
                .authenticate_user(&app, &user_id, issued_at)
                .await?;
            Ok((app, Actor::User(Box::new(user)), expires_at))
        }
    }
}

impl<S> FromRequestParts<S> for RequestContext
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ErrorReply;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let started = Instant::now();
        let state = AppState::from_ref(state);
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, &state)
            .await
            .map_err(|e| {
                ErrorReply::new(
                    ApiError::input(format!("invalid query string: {e}")),
                    started,
                )
            })?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let token = header("authorization");
        let auth_type = header("stream-auth-type");
        let (app, actor) = authenticate(
            &state,
            query.get("api_key").map(String::as_str),
            token.as_deref(),
            auth_type.as_deref(),
        )
        .await
        .map_err(|e| ErrorReply::new(e, started))?;
        Ok(RequestContext {
            app,
            actor,
            query,
            started,
        })
    }
}

/// Reads a JSON-encoded or plain query value as JSON (JS encodes arrays/objects, others send scalars).
pub fn json_param(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Reads a list query value as a JSON array: JS sends a JSON array; stream-py joins its items with
/// commas, each percent-encoded (JSON text for objects), so a single object arrives encoded.
pub fn list_param(text: &str) -> Value {
    match json_param(text) {
        Value::Array(items) => Value::Array(items),
        Value::Object(item) => Value::Array(vec![Value::Object(item)]),
        _ => Value::Array(
            text.split(',')
                .map(|item| {
                    json_param(&percent_encoding::percent_decode_str(item).decode_utf8_lossy())
                })
                .collect(),
        ),
    }
}
