//! `GET /video/connect`: the coordinator WebSocket. The client authenticates in its first frame; the server answers `connection.ok` with `me`, then health checks and the events of watched calls and the user.

use crate::context::authenticate_until;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use eddy_chat::Actor;
use eddy_protocol::{time, ApiError, ErrorCode};
use eddy_realtime::Outbound;
use eddy_store::User;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Send a keep-alive `health.check` when nothing was sent for this long (clients give up after 35 s).
const KEEPALIVE: Duration = Duration::from_secs(25);
/// Drop a connection that sent nothing for this long (clients ping every 25 s or less).
const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// How long a client has to send its auth frame after the upgrade.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_INBOUND_FRAME: usize = 64 * 1024;

pub async fn connect(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(MAX_INBOUND_FRAME)
        .on_upgrade(move |socket| serve(state, query, socket))
}

fn now() -> String {
    time::format(&chrono::Utc::now())
}

async fn refuse(mut socket: WebSocket, error: ApiError) {
    let frame = json!({
        "type": "connection.error",
        "connection_id": "",
        "created_at": now(),
        "error": error.envelope("0.00ms"),
    });
    let _ = socket.send(Message::Text(frame.to_string().into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
}

/// Reads the auth frame and admits its user: `(app, user)`.
async fn admit(
    state: &AppState,
    query: &HashMap<String, String>,
    socket: &mut WebSocket,
) -> Result<(i64, User), ApiError> {
    let frame = tokio::time::timeout(AUTH_TIMEOUT, socket.recv())
        .await
        .map_err(|_| ApiError::input("no auth message received"))?;
    let text = match frame {
        Some(Ok(Message::Text(text))) => text,
        _ => return Err(ApiError::input("the first frame must be the auth message")),
    };
    let auth: Map<String, Value> = serde_json::from_str(text.as_str())
        .map_err(|_| ApiError::input("the auth message is not a JSON object"))?;
    let details = auth
        .get("user_details")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let user_id = details
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::input("user_details.id is required"))?
        .to_owned();
    let token = auth.get("token").and_then(Value::as_str);
    let (app, actor, _) = authenticate_until(
        state,
        query.get("api_key").map(String::as_str),
        token,
        query.get("stream-auth-type").map(String::as_str),
    )
    .await?;
    // The SDK's details carry custom data under `custom`; chat's connect-time upsert takes it flat.
    let mut flat = details.clone();
    if let Some(Value::Object(custom)) = flat.remove("custom") {
        for (key, value) in custom {
            flat.entry(key).or_insert(value);
        }
    }
    flat.retain(|_, value| !value.is_null());
    match actor {
        Actor::User(user) if user.id != user_id => Err(ApiError::new(
            ErrorCode::Authentication,
            format!(
                "token is for user {:?} but user_details.id is {user_id:?}",
                user.id
            ),
        )),
        Actor::User(user) => Ok((app.id, state.chat.connect_user(app.id, *user, &flat).await?)),
        Actor::Server => {
            let existing = state.chat.authenticate_user(&app, &user_id, None).await?;
            Ok((
                app.id,
                state.chat.connect_user(app.id, existing, &flat).await?,
            ))
        }
        Actor::Anonymous => Err(ApiError::new(
            ErrorCode::Authentication,
            "anonymous users do not open the coordinator WebSocket",
        )),
    }
}

fn health_check(connection_id: &str) -> String {
    json!({"type": "health.check", "connection_id": connection_id, "created_at": now(), "custom": {}})
        .to_string()
}

async fn serve(state: AppState, query: HashMap<String, String>, mut socket: WebSocket) {
    let (app, user) = match admit(&state, &query, &mut socket).await {
        Ok(admitted) => admitted,
        Err(error) => return refuse(socket, error).await,
    };
    let connection_id = uuid::Uuid::new_v4().to_string();
    let mut handle = state
        .chat
        .hub
        .register(app, &user.id, connection_id.clone());
    let me = state.chat.own_user(app, &user).await;
    let first = json!({
        "type": "connection.ok",
        "connection_id": connection_id,
        "created_at": now(),
        "me": me,
    });
    tracing::debug!(app, user_id = %user.id, %connection_id, "video connected");
    if socket
        .send(Message::Text(first.to_string().into()))
        .await
        .is_ok()
    {
        pump(&mut socket, &mut handle, &connection_id).await;
    }
    // Video connections watch only calls, so closing needs none of chat's watching events.
    state.chat.hub.unregister(&connection_id);
    tracing::debug!(app, user_id = %user.id, %connection_id, "video disconnected");
}

async fn pump(
    socket: &mut WebSocket,
    handle: &mut eddy_realtime::ConnectionHandle,
    connection_id: &str,
) {
    let mut last_sent = Instant::now();
    let mut last_heard = Instant::now();
    loop {
        let keepalive_at = tokio::time::Instant::from_std(last_sent + KEEPALIVE);
        let silence_at = tokio::time::Instant::from_std(last_heard + SILENCE_LIMIT);
        tokio::select! {
            inbound = socket.recv() => {
                last_heard = Instant::now();
                match inbound {
                    // JS sends `[{"type":"health.check",...}]`, Python an object: both are answered.
                    Some(Ok(Message::Text(text))) if text.as_str().contains("health.check") => {
                        if socket.send(Message::Text(health_check(connection_id).into())).await.is_err() { return; }
                        last_sent = Instant::now();
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
            outbound = handle.receiver.recv() => {
                match outbound {
                    Some(Outbound::Text(text)) => {
                        if socket.send(Message::Text(text.as_ref().into())).await.is_err() { return; }
                        last_sent = Instant::now();
                    }
                    Some(Outbound::Close(code, reason)) => {
                        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                        return;
                    }
                    None => return,
                }
            }
            _ = tokio::time::sleep_until(keepalive_at) => {
                if socket.send(Message::Text(health_check(connection_id).into())).await.is_err() { return; }
                last_sent = Instant::now();
            }
            _ = tokio::time::sleep_until(silence_at) => {
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 4000, reason: "no health check received".into() }))).await;
                return;
            }
        }
    }
}
