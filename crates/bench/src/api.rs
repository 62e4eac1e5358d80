//! The REST side of the bench: JWTs, and the few Chat API calls the workloads make (users, channels, watch, send, queries).

use crate::server::{API_KEY, API_SECRET};
use crate::Result;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Signs claims with HS256, as the SDKs' token helpers do.
pub fn sign(claims: &Value) -> Result<String> {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(API_SECRET.as_bytes()),
    )?)
}

pub fn user_token(user: &str) -> Result<String> {
    sign(&json!({ "user_id": user }))
}

/// Wall clock in nanoseconds since the Unix epoch (sender and receivers share the machine's clock).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A REST client bound to one server; cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Arc<str>,
    server_token: Arc<str>,
}

/// A REST answer: status and parsed body (`Null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// From sending the request to the last byte of the body (JSON parsing not included).
    pub elapsed: Duration,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Turns a non-2xx answer into an error naming the call.
    pub fn check(self, what: &str) -> Result<Value> {
        if self.ok() {
            Ok(self.body)
        } else {
            Err(format!("{what}: HTTP {} {}", self.status, self.body).into())
        }
    }
}

impl Api {
    pub fn new(base: &str) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Api {
            http,
            base: base.into(),
            server_token: sign(&json!({ "server": true }))?.into(),
        })
    }

    /// POST `path` (which may already carry a query) with `api_key` appended and the JWT headers set.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Result<Answer> {
        let request = self.http.post(self.url(path)).json(body);
        self.send(request, token).await
    }

    /// GET `path` (which may already carry a query) with `api_key` appended and the JWT headers set.
    pub async fn get(&self, path: &str, token: &str) -> Result<Answer> {
        self.send(self.http.get(self.url(path)), token).await
    }

    fn url(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{separator}api_key={API_KEY}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: &str) -> Result<Answer> {
        let started = std::time::Instant::now();
        let response = request
            .header("Authorization", token)
            .header("stream-auth-type", "jwt")
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let elapsed = started.elapsed();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            body,
            elapsed,
        })
    }

    /// Creates users `ids` with the server token, at most 100 per call.
    pub async fn create_users(&self, ids: &[String]) -> Result<()> {
        for chunk in ids.chunks(100) {
            let users: serde_json::Map<String, Value> = chunk
                .iter()
                .map(|id| (id.clone(), json!({ "id": id })))
                .collect();
            self.post("/users", &self.server_token, &json!({ "users": users }))
                .await?
                .check("POST /users")?;
        }
        Ok(())
    }

    /// Creates (or fetches) channel `kind:id` as `creator`, with `members` when given.
    pub async fn create_channel(
        &self,
        kind: &str,
        id: &str,
        creator: &str,
        members: &[String],
    ) -> Result<()> {
        let mut data = json!({ "created_by_id": creator });
        if !members.is_empty() {
            data["members"] = json!(members);
        }
        self.post(
            &format!("/channels/{kind}/{id}/query"),
            &self.server_token,
            &json!({ "data": data }),
        )
        .await?
        .check("create channel")?;
        Ok(())
    }

    /// Makes the WebSocket `connection_id` of `token`'s user watch `kind:id`.
    pub async fn watch(
        &self,
        kind: &str,
        id: &str,
        token: &str,
        connection_id: &str,
    ) -> Result<()> {
        self.post(
            &format!("/channels/{kind}/{id}/query?connection_id={connection_id}"),
            token,
            &json!({ "watch": true, "state": false }),
        )
        .await?
        .check("watch channel")?;
        Ok(())
    }

    /// Sends a message with the server token on behalf of `user`; `fields` are merged into the message.
    pub async fn send_message(
        &self,
        kind: &str,
        id: &str,
        user: &str,
        text: &str,
        fields: &[(&str, Value)],
    ) -> Result<Answer> {
        let mut message = json!({ "text": text, "user_id": user });
        for (name, value) in fields {
            message[*name] = value.clone();
        }
        self.post(
            &format!("/channels/{kind}/{id}/message"),
            &self.server_token,
            &json!({ "message": message }),
        )
        .await
    }
}

/// Message text of exactly `len` bytes, starting with a readable sequence number.
pub fn payload_text(seq: u64, len: usize) -> String {
    let mut text = format!("bench message {seq} ");
    while text.len() < len {
        text.push('x');
    }
    text.truncate(len);
    text
}

/// Percent-encodes a query parameter value.
pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_exact_length() {
        assert_eq!(payload_text(7, 200).len(), 200);
        assert!(payload_text(123_456, 200).starts_with("bench message 123456 x"));
    }

    #[test]
    fn urlencode_escapes_json() {
        assert_eq!(urlencode(r#"{"a":1}"#), "%7B%22a%22%3A1%7D");
    }
}
