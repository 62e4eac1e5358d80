//! `GET /connect`: the chat WebSocket. Upgrade first, authenticate inside, first frame `health.check` with `me`.

use crate::context::authenticate_until;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use eddy_chat::Actor;
use eddy_protocol::{event as ev, time, ApiError, ErrorCode};
use eddy_realtime::Outbound;
use eddy_store::User;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Send a keep-alive `health.check` when nothing was sent for this long.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Drop a connection that sent nothing for this long (clients ping every 25 s or less).
const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// Close code after a token expired on a live connection (not 1000, so SDKs reconnect).
const TOKEN_EXPIRED_CLOSE: u16 = 4001;
/// Largest frame a client may send; clients only send small health checks.
const MAX_INBOUND_FRAME: usize = 64 * 1024;

pub async fn connect(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .read_buffer_size(4 * 1024)
        .max_message_size(MAX_INBOUND_FRAME)
        .on_upgrade(move |socket| serve(state, query, socket))
}

fn health_check(connection_id: &str) -> String {
    json!({"type": ev::HEALTH_CHECK, "connection_id": connection_id, "cid": "*", "created_at": time::format(&chrono::Utc::now())}).to_string()
}

async fn refuse(mut socket: WebSocket, error: ApiError) {
    let frame = json!({
        "type": ev::CONNECTION_ERROR,
        "connection_id": "",
        "created_at": time::format(&chrono::Utc::now()),
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

/// A connected user: app, user record, whether the connection is anonymous, and when its token expires.
pub(crate) type Admitted = (i64, User, bool, Option<i64>);

/// Authenticates a connect request (WebSocket or long-poll) and performs the connect-time upsert;
/// `token`/`auth_type` come from the query (WebSocket) or the headers (long-poll).
pub(crate) async fn admit(
    state: &AppState,
    query: &HashMap<String, String>,
    token: Option<&str>,
    auth_type: Option<&str>,
) -> Result<Admitted, ApiError> {
    if query
        .get("json")
        .is_some_and(|json| crate::context::has_nul(json.as_bytes()))
    {
        return Err(ApiError::input(
            "the json query parameter contains a NUL character",
        ));
    }
    let payload: Map<String, Value> = query
        .get("json")
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| {
            ApiError::input("the json query parameter is missing or is not a JSON object")
        })?;
    let user_id = payload
        .get("user_id")
        .and_then(Value::as_str)
        .or_else(|| {
            payload
                .get("user_details")
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
        })
        .ok_or_else(|| ApiError::input("json.user_id is required"))?
        .to_owned();
    eddy_core::UserId::parse(&user_id).map_err(|e| ApiError::input(e.to_string()))?;
    let (app, actor, expires_at) = authenticate_until(
        state,
        query.get("api_key").map(String::as_str),
        token,
        auth_type,
    )
    .await?;
    let details = payload
        .get("user_details")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match actor {
        Actor::Anonymous => {
            let user = User::new(user_id, "anonymous");
            Ok((app.id, user, true, None))
        }
        Actor::User(user) if user.id != user_id => Err(ApiError::new(
            ErrorCode::Authentication,
            format!(
                "token is for user {:?} but json.user_id is {user_id:?}",
                user.id
            ),
        )),
        Actor::User(user) => {
            let user = state.chat.connect_user(app.id, *user, &details).await?;
            // A `device` in the connect request registers it; a bad one is logged, not fatal.
            if let Some(device) = payload.get("device").cloned() {
                let request = serde_json::from_value(device).unwrap_or_default();
                let actor = Actor::User(Box::new(user.clone()));
                if let Err(error) = state.chat.create_device(app.id, &actor, request).await {
                    tracing::debug!(%error, user_id = %user.id, "connect-time device not registered");
                }
            }
            Ok((app.id, user, false, expires_at))
        }
        Actor::Server => {
            let existing = state.chat.authenticate_user(&app, &user_id, None).await?;
            Ok((
                app.id,
                state.chat.connect_user(app.id, existing, &details).await?,
                false,
                None,
            ))
        }
    }
}

/// The first event of every connection: `health.check` with its `connection_id` and `me`.
pub(crate) async fn hello(
    state: &AppState,
    app: i64,
    user: &User,
    anonymous: bool,
    connection_id: &str,
) -> Value {
    let me = if anonymous {
        json!({"id": user.id, "role": "anonymous", "anon": true, "mutes": [], "channel_mutes": [], "devices": [], "total_unread_count": 0, "unread_count": 0, "unread_channels": 0, "unread_threads": 0})
    } else {
        state.chat.own_user(app, user).await
    };
    json!({
        "type": ev::HEALTH_CHECK,
        "connection_id": connection_id,
        "cid": "*",
        "created_at": time::format(&chrono::Utc::now()),
        "me": me,
    })
}

async fn serve(state: AppState, query: HashMap<String, String>, mut socket: WebSocket) {
    let token = query.get("authorization").map(String::as_str);
    let auth_type = query.get("stream-auth-type").map(String::as_str);
    let (app, user, anonymous, expires_at) = match admit(&state, &query, token, auth_type).await {
        Ok(admitted) => admitted,
        Err(error) => return refuse(socket, error).await,
    };
    let connection_id = uuid::Uuid::new_v4().to_string();
    let mut handle = state
        .chat
        .hub
        .register(app, &user.id, connection_id.clone());
    let first = hello(&state, app, &user, anonymous, &connection_id).await;
    tracing::debug!(app, user_id = %user.id, %connection_id, "connected");
    if socket
        .send(Message::Text(first.to_string().into()))
        .await
        .is_ok()
    {
        state.chat.connection_opened(app, &user, anonymous).await;
        pump(&mut socket, &mut handle, &connection_id, expires_at).await;
    }
    state
        .chat
        .connection_closed(app, &user, &connection_id, anonymous)
        .await;
    tracing::debug!(app, user_id = %user.id, %connection_id, "disconnected");
}

/// Moves frames both ways until either side ends or the client goes silent.
async fn pump(
    socket: &mut WebSocket,
    handle: &mut eddy_realtime::ConnectionHandle,
    connection_id: &str,
    expires_at: Option<i64>,
) {
    let mut last_sent = Instant::now();
    let mut last_heard = Instant::now();
    // When the token expires the connection ends with code 40 and a reconnectable close: the SDK
    // reconnects, is refused with 40, and fetches a fresh token from its provider.
    let expiry = expires_at.map(|exp| {
        let left = (exp - chrono::Utc::now().timestamp()).max(0) as u64;
        tokio::time::Instant::now() + Duration::from_secs(left)
    });
    loop {
        let keepalive_at = tokio::time::Instant::from_std(last_sent + KEEPALIVE);
        let silence_at = tokio::time::Instant::from_std(last_heard + SILENCE_LIMIT);
        tokio::select! {
            inbound = socket.recv() => {
                last_heard = Instant::now();
                match inbound {
                    Some(Ok(Message::Text(text))) => {
                        if text.contains(ev::HEALTH_CHECK) {
                            if socket.send(Message::Text(health_check(connection_id).into())).await.is_err() { return; }
                            last_sent = Instant::now();
                        }
                    }
                    Some(Ok(Message::Ping(_))) => {
                        // The pong is automatic; Swift counts only the JSON health check as the answer.
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
            _ = async { match expiry { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                let error = ApiError::new(ErrorCode::TokenExpired, "JWTAuth error: token is expired");
                let frame = json!({
                    "type": ev::CONNECTION_ERROR,
                    "connection_id": connection_id,
                    "created_at": time::format(&chrono::Utc::now()),
                    "error": error.envelope("0.00ms"),
                });
                let _ = socket.send(Message::Text(frame.to_string().into())).await;
                let _ = socket.send(Message::Close(Some(CloseFrame { code: TOKEN_EXPIRED_CLOSE, reason: "token expired".into() }))).await;
                return;
            }
            _ = tokio::time::sleep_until(silence_at) => {
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 4000, reason: "no health check received".into() }))).await;
                return;
            }
        }
    }
}
