//! JWT verification and signing (HS256 with the app secret) with Stream's token rules and error codes.

use eddy_protocol::ErrorCode;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// Seconds of clock skew tolerated for `iat` and `nbf`.
const CLOCK_SKEW_SECONDS: i64 = 5;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSubject {
    /// A token without `user_id` (`{"server":true}` or `{}`): full server-side access.
    Server,
    /// A user token; `issued_at` is the `iat` claim if present, for revocation checks.
    User {
        user_id: String,
        issued_at: Option<i64>,
        /// The `exp` claim: a live connection ends when it passes.
        expires_at: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is missing or malformed")]
    Malformed,
    #[error("signature is invalid")]
    SignatureInvalid,
    #[error("token is expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotValidYet,
    #[error("token used before issued at (iat)")]
    UsedBeforeIssuedAt,
}

impl TokenError {
    pub fn code(self) -> ErrorCode {
        match self {
            TokenError::Malformed => ErrorCode::Authentication,
            TokenError::SignatureInvalid => ErrorCode::TokenSignatureInvalid,
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::NotValidYet => ErrorCode::TokenNotValidYet,
            TokenError::UsedBeforeIssuedAt => ErrorCode::TokenUsedBeforeIssuedAt,
        }
    }
}

/// Checks signature and time claims; `now` is unix seconds.
pub fn verify(token: &str, secret: &str, now: i64) -> Result<TokenSubject, TokenError> {
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    if token.is_empty() || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let decoded = decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|error| match error.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::SignatureInvalid,
        _ => TokenError::Malformed,
    })?;
    let claims = decoded.claims;
    let number = |key: &str| claims.get(key).and_then(Value::as_f64).map(|v| v as i64);
    if let Some(exp) = number("exp") {
        if exp <= now {
            return Err(TokenError::Expired);
        }
    }
    if let Some(nbf) = number("nbf") {
        if nbf > now + CLOCK_SKEW_SECONDS {
            return Err(TokenError::NotValidYet);
        }
    }
    let issued_at = number("iat");
    if let Some(iat) = issued_at {
        if iat > now + CLOCK_SKEW_SECONDS {
            return Err(TokenError::UsedBeforeIssuedAt);
        }
    }
    match claims.get("user_id") {
        None | Some(Value::Null) => Ok(TokenSubject::Server),
        Some(Value::String(user_id)) if !user_id.is_empty() => Ok(TokenSubject::User {
            user_id: user_id.clone(),
            issued_at,
            expires_at: number("exp"),
        }),
        Some(_) => Err(TokenError::Malformed),
    }
}

/// Signs a user token with optional expiry, as `eddy token` and guest creation need.
pub fn sign_user_token(
    secret: &str,
    user_id: &str,
    issued_at: Option<i64>,
    expires_at: Option<i64>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut claims = Map::new();
    claims.insert("user_id".into(), Value::from(user_id));
    if let Some(iat) = issued_at {
        claims.insert("iat".into(), Value::from(iat));
    }
    if let Some(exp) = expires_at {
        claims.insert("exp".into(), Value::from(exp));
    }
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// Signs any claims with the app secret (media-server credentials carry their own claims).
pub fn sign_claims(
    secret: &str,
    claims: &Map<String, Value>,
) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The claims of a token whose signature [`verify`] already accepted (extra claims such as video's
/// `call_cids` and `role`); `None` if the payload is not a JSON object.
pub fn claims_of(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Signs a server-side token (`{"server": true}`).
pub fn sign_server_token(secret: &str) -> Result<String, jsonwebtoken::errors::Error> {
    let mut claims = Map::new();
    claims.insert("server".into(), Value::Bool(true));
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-secret-long-enough-for-tests";

    fn signed(claims: Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    }

    #[test]
    fn server_tokens_have_no_user_id() {
        assert_eq!(
            verify(
                &signed(serde_json::json!({"server": true}), SECRET),
                SECRET,
                100
            ),
            Ok(TokenSubject::Server)
        );
        assert_eq!(
            verify(&signed(serde_json::json!({}), SECRET), SECRET, 100),
            Ok(TokenSubject::Server)
        );
    }

    #[test]
    fn user_tokens_check_time_claims() {
        let user = |claims: Value| verify(&signed(claims, SECRET), SECRET, 1_000);
        assert_eq!(
            user(serde_json::json!({"user_id": "alice", "iat": 990})),
            Ok(TokenSubject::User {
                user_id: "alice".into(),
                issued_at: Some(990),
                expires_at: None
            })
        );
        assert_eq!(
            user(serde_json::json!({"user_id": "alice", "exp": 999})),
            Err(TokenError::Expired)
        );
        assert_eq!(
            user(serde_json::json!({"user_id": "alice", "nbf": 2000})),
            Err(TokenError::NotValidYet)
        );
        assert_eq!(
            user(serde_json::json!({"user_id": "alice", "iat": 2000})),
            Err(TokenError::UsedBeforeIssuedAt)
        );
    }

    #[test]
    fn wrong_secret_and_garbage_get_distinct_errors() {
        let token = signed(serde_json::json!({"user_id": "alice"}), "another-secret");
        assert_eq!(verify(&token, SECRET, 0), Err(TokenError::SignatureInvalid));
        assert_eq!(verify("not-a-jwt", SECRET, 0), Err(TokenError::Malformed));
        assert_eq!(verify("", SECRET, 0), Err(TokenError::Malformed));
        assert_eq!(TokenError::SignatureInvalid.code().code(), 43);
        assert_eq!(TokenError::Expired.code().code(), 40);
    }

    #[test]
    fn signed_user_tokens_verify() {
        let token = sign_user_token(SECRET, "bob", Some(10), Some(5_000)).unwrap_or_default();
        assert_eq!(
            verify(&token, SECRET, 20),
            Ok(TokenSubject::User {
                user_id: "bob".into(),
                issued_at: Some(10),
                expires_at: Some(5_000)
            })
        );
        assert_eq!(verify(&token, SECRET, 5_000), Err(TokenError::Expired));
    }
}
