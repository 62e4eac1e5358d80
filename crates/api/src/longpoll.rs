//! `GET /longpoll`: the HTTP fallback transport. Open returns the first `health.check`; polls return
//! queued events at once or hold up to 20 s; idle sessions expire after 60 s.

use crate::context::has_nul;
use crate::reply::{ErrorReply, Outcome, Reply};
use crate::socket::{admit, hello};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use eddy_protocol::{ApiError, ErrorCode};
use eddy_realtime::{ConnectionHandle, Outbound};
use eddy_store::User;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a poll waits for an event before answering with none.
const HOLD: Duration = Duration::from_secs(20);
/// A session nobody polled for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// One long-poll connection between polls.
pub struct Session {
    app: i64,
    user: User,
    anonymous: bool,
    handle: tokio::sync::Mutex<ConnectionHandle>,
    last_poll: Mutex<Instant>,
}

/// Open long-poll sessions by connection id.
#[derive(Default)]
pub struct LongPollSessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl LongPollSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, connection_id: String, session: Session) {
        self.lock().insert(connection_id, Arc::new(session));
    }

    fn get(&self, connection_id: &str) -> Option<Arc<Session>> {
        self.lock().get(connection_id).cloned()
    }

    fn remove(&self, connection_id: &str) -> Option<Arc<Session>> {
        self.lock().remove(connection_id)
    }

    /// Removes and returns the sessions idle for longer than `limit`.
    fn take_idle(&self, limit: Duration) -> Vec<(String, Arc<Session>)> {
        let mut sessions = self.lock();
        let idle: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| {
                s.last_poll
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .elapsed()
                    > limit
            })
            .map(|(id, _)| id.clone())
            .collect();
        idle.into_iter()
            .filter_map(|id| sessions.remove(&id).map(|s| (id, s)))
            .collect()
    }
}

/// Closes idle sessions every few seconds until the server stops.
pub async fn expire_idle_sessions(state: AppState) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        for (connection_id, session) in state.longpoll.take_idle(IDLE_LIMIT) {
            state
                .chat
                .connection_closed(
                    session.app,
                    &session.user,
                    &connection_id,
                    session.anonymous,
                )
                .await;
        }
    }
}

fn fail(error: ApiError, started: Instant) -> ErrorReply {
    ErrorReply::new(error, started)
}

pub async fn longpoll(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Outcome {
    let started = Instant::now();
    let reply = |body: Value| {
        Ok(Reply {
            status: StatusCode::OK,
            body: body.into(),
            started,
        })
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let connection_id = query.get("connection_id").cloned().unwrap_or_default();
    if query.get("close").map(String::as_str) == Some("true") {
        if let Some(session) = state.longpoll.remove(&connection_id) {
            state
                .chat
                .connection_closed(
                    session.app,
                    &session.user,
                    &connection_id,
                    session.anonymous,
                )
                .await;
        }
        return reply(json!({}));
    }
    if query.contains_key("json") {
        // A request with `json` always opens a new connection.
        if query.values().any(|v| has_nul(v.as_bytes())) {
            return Err(fail(
                ApiError::input("query contains a NUL character"),
                started,
            ));
        }
        let token = header("authorization").or_else(|| query.get("authorization").cloned());
        let auth_type =
            header("stream-auth-type").or_else(|| query.get("stream-auth-type").cloned());
        let (app, user, anonymous, _expires_at) =
            admit(&state, &query, token.as_deref(), auth_type.as_deref())
                .await
                .map_err(|e| fail(e, started))?;
        let connection_id = uuid::Uuid::new_v4().to_string();
        let handle = state
            .chat
            .hub
            .register(app, &user.id, connection_id.clone());
        let first = hello(&state, app, &user, anonymous, &connection_id).await;
        state.chat.connection_opened(app, &user, anonymous).await;
        let session = Session {
            app,
            user,
            anonymous,
            handle: tokio::sync::Mutex::new(handle),
            last_poll: Mutex::new(Instant::now()),
        };
        state.longpoll.insert(connection_id, session);
        return reply(json!({ "event": first }));
    }
    let session = state.longpoll.get(&connection_id).ok_or_else(|| {
        fail(
            ApiError::new(
                ErrorCode::ConnectionIdNotFound,
                format!("connection_id {connection_id:?} is not an open long-poll connection"),
            ),
            started,
        )
    })?;
    let app = state
        .chat
        .app_by_key(query.get("api_key").map(String::as_str).unwrap_or_default())
        .await
        .map_err(|e| fail(e, started))?;
    if app.map(|a| a.id) != Some(session.app) {
        return Err(fail(
            ApiError::new(
                ErrorCode::AccessKey,
                "api_key does not match this connection",
            ),
            started,
        ));
    }
    *session.last_poll.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    let mut handle = session.handle.lock().await;
    let mut frames = Vec::new();
    while let Ok(frame) = handle.receiver.try_recv() {
        frames.push(frame);
    }
    if frames.is_empty() {
        if let Ok(Some(frame)) = tokio::time::timeout(HOLD, handle.receiver.recv()).await {
            frames.push(frame);
            while let Ok(frame) = handle.receiver.try_recv() {
                frames.push(frame);
            }
        }
    }
    *session.last_poll.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    let mut events = Vec::with_capacity(frames.len());
    for frame in frames {
        match frame {
            Outbound::Text(text) => {
                events.push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
            }
            Outbound::Close(_, reason) => {
                // The hub dropped this connection (its queue overflowed): the client must reconnect.
                drop(handle);
                if let Some(session) = state.longpoll.remove(&connection_id) {
                    state
                        .chat
                        .connection_closed(
                            session.app,
                            &session.user,
                            &connection_id,
                            session.anonymous,
                        )
                        .await;
                }
                return Err(fail(
                    ApiError::new(
                        ErrorCode::ConnectionIdNotFound,
                        format!("connection closed: {reason}"),
                    ),
                    started,
                ));
            }
        }
    }
    reply(json!({ "events": events }))
}
