//! The video coordinator routes, served twice: under `/video` (client SDKs, RFC 3339 times) and under `/api/v2/video` (server SDKs, times in nanoseconds through `v2::shape`); the handlers are the same.

mod socket;

use crate::context::{parse_json, RequestContext};
use crate::reply::{ErrorReply, Outcome, Reply};
use crate::v2::shape::{self, Kind};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use eddy_chat::Actor;
use eddy_protocol::ApiError;
use eddy_video::Caller;
use serde_json::{json, Value};

/// An authenticated video request: the request context and the caller with its call claims.
struct VideoRequest {
    context: RequestContext,
    caller: Caller,
}

impl FromRequestParts<AppState> for VideoRequest {
    type Rejection = ErrorReply;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ErrorReply> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|t| t.trim_start_matches("Bearer ").to_owned());
        let context = RequestContext::from_request_parts(parts, state).await?;
        let caller = caller_of(&context.actor, token.as_deref());
        Ok(VideoRequest { context, caller })
    }
}

/// The video caller for an authenticated actor; user tokens may carry `call_cids` and `role`.
pub(crate) fn caller_of(actor: &Actor, token: Option<&str>) -> Caller {
    match actor {
        Actor::Server => Caller::Server,
        Actor::Anonymous => Caller::Anonymous,
        Actor::User(user) => {
            let claims = token
                .and_then(eddy_core::auth::claims_of)
                .unwrap_or_default();
            let call_cids = claims
                .get("call_cids")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Caller::User {
                user: user.clone(),
                call_cids,
                call_role: claims
                    .get("role")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
    }
}

/// Stream's statuses: 201 for POST, 200 otherwise.
fn reply(request: &VideoRequest, method: &Method, result: Result<Value, ApiError>) -> Outcome {
    let status = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    match result {
        Ok(body) => Ok(Reply {
            status,
            body: body.into(),
            started: request.context.started,
        }),
        Err(error) => Err(request.context.fail(error)),
    }
}

fn body_of(request: &VideoRequest, bytes: &[u8]) -> Result<Value, ErrorReply> {
    parse_json(bytes).map_err(|e| request.context.fail(e))
}

fn server_only(request: &VideoRequest, operation: &str) -> Result<(), ErrorReply> {
    request.context.require_server(operation)
}

/// The routes, relative to `/video` and `/api/v2/video`.
fn routes() -> Router<AppState> {
    Router::new()
        .route("/calltypes", get(list_call_types).post(create_call_type))
        .route(
            "/calltypes/{name}",
            get(get_call_type)
                .put(update_call_type)
                .delete(delete_call_type),
        )
        .route("/calls", post(query_calls))
        .route("/call/members", post(query_call_members))
        .route(
            "/call/{type}/{id}",
            get(get_call).post(get_or_create_call).patch(update_call),
        )
        .route("/call/{type}/{id}/{action}", any(call_action))
        .route(
            "/call/{type}/{id}/recordings/{kind}/{step}",
            post(recording_action),
        )
        .route(
            "/call/{type}/{id}/{session}/{what}/{filename}",
            axum::routing::delete(delete_artifact),
        )
        .route("/edges", get(edges))
}

/// `/video/...` and `/api/v2/video/...`, plus the coordinator WebSocket.
pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/video", routes())
        .route("/video/connect", get(socket::connect))
        .nest(
            "/api/v2/video",
            routes().layer(axum::middleware::map_response(v2_encoding)),
        )
}

/// Successful `/api/v2/video` answers in v2's encoding (times as integer nanoseconds, no nulls).
async fn v2_encoding(response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    shape::response(&mut value, Kind::Video);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(Bytes::from(value.to_string())))
}

async fn list_call_types(State(state): State<AppState>, request: VideoRequest) -> Outcome {
    server_only(&request, "ListCallTypes")?;
    let result = state.video.list_call_types(&request.context.app).await;
    reply(&request, &Method::GET, result)
}

async fn create_call_type(
    State(state): State<AppState>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    server_only(&request, "CreateCallType")?;
    let body = body_of(&request, &bytes)?;
    let result = state
        .video
        .create_call_type(&request.context.app, &body)
        .await;
    reply(&request, &Method::POST, result)
}

async fn get_call_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: VideoRequest,
) -> Outcome {
    server_only(&request, "GetCallType")?;
    let result = state.video.get_call_type(&request.context.app, &name).await;
    reply(&request, &Method::GET, result)
}

async fn update_call_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    server_only(&request, "UpdateCallType")?;
    let body = body_of(&request, &bytes)?;
    let result = state
        .video
        .update_call_type(&request.context.app, &name, &body)
        .await;
    reply(&request, &Method::PUT, result)
}

async fn delete_call_type(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: VideoRequest,
) -> Outcome {
    server_only(&request, "DeleteCallType")?;
    let result = state
        .video
        .delete_call_type(&request.context.app, &name)
        .await;
    reply(&request, &Method::DELETE, result)
}

async fn query_calls(
    State(state): State<AppState>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    let body = body_of(&request, &bytes)?;
    let context = &request.context;
    let result = state
        .video
        .query_calls(
            &context.app,
            &request.caller,
            &body,
            context.connection_id(),
        )
        .await;
    reply(&request, &Method::POST, result)
}

async fn query_call_members(
    State(state): State<AppState>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    let body = body_of(&request, &bytes)?;
    let result = state
        .video
        .query_call_members(&request.context.app, &request.caller, &body)
        .await;
    reply(&request, &Method::POST, result)
}

async fn get_call(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    request: VideoRequest,
) -> Outcome {
    let context = &request.context;
    let mut params = serde_json::Map::new();
    for key in ["ring", "notify", "video"] {
        params.insert(key.into(), json!(context.flag(key)));
    }
    if let Some(limit) = context
        .param("members_limit")
        .and_then(|v| v.parse::<i64>().ok())
    {
        params.insert("members_limit".into(), json!(limit));
    }
    let result = state
        .video
        .get_call(
            &context.app,
            &request.caller,
            &kind,
            &id,
            &Value::Object(params),
            context.connection_id(),
        )
        .await;
    reply(&request, &Method::GET, result)
}

async fn get_or_create_call(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    let body = body_of(&request, &bytes)?;
    let context = &request.context;
    let result = state
        .video
        .get_or_create_call(
            &context.app,
            &request.caller,
            &kind,
            &id,
            &body,
            context.connection_id(),
        )
        .await;
    reply(&request, &Method::POST, result)
}

async fn update_call(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    let body = body_of(&request, &bytes)?;
    let result = state
        .video
        .update_call(&request.context.app, &request.caller, &kind, &id, &body)
        .await;
    reply(&request, &Method::PATCH, result)
}

/// Every `POST /call/{type}/{id}/<action>` (and the two GET lists), by action name.
async fn call_action(
    State(state): State<AppState>,
    method: Method,
    Path((kind, id, action)): Path<(String, String, String)>,
    request: VideoRequest,
    bytes: Bytes,
) -> Outcome {
    let body = body_of(&request, &bytes)?;
    let video = &state.video;
    let app = &request.context.app;
    let caller = &request.caller;
    let (kind, id) = (kind.as_str(), id.as_str());
    let unknown = || {
        Err(ApiError::not_found(format!(
            "{method} /call/{kind}/{id}/{action} is not an endpoint eddy serves"
        )))
    };
    let result = match (method.as_str(), action.as_str()) {
        ("GET", "recordings") => {
            video
                .empty_list(app, caller, kind, id, "ListRecordings", "recordings")
                .await
        }
        ("GET", "transcriptions") => {
            video
                .empty_list(
                    app,
                    caller,
                    kind,
                    id,
                    "ListTranscriptions",
                    "transcriptions",
                )
                .await
        }
        ("POST", "delete") => video.delete_call(app, caller, kind, id, &body).await,
        ("POST", "mark_ended") => video.end_call(app, caller, kind, id, &body).await,
        ("POST", "members") => {
            video
                .update_call_members(app, caller, kind, id, &body)
                .await
        }
        ("POST", "block") => video.set_blocked(app, caller, kind, id, &body, true).await,
        ("POST", "unblock") => video.set_blocked(app, caller, kind, id, &body, false).await,
        ("POST", "kick") => video.kick_user(app, caller, kind, id, &body).await,
        ("POST", "mute_users") => video.mute_users(app, caller, kind, id, &body).await,
        ("POST", "user_permissions") => {
            video
                .update_user_permissions(app, caller, kind, id, &body)
                .await
        }
        ("POST", "request_permission") => {
            video.request_permission(app, caller, kind, id, &body).await
        }
        ("POST", "pin") => video.pin(app, caller, kind, id, &body, "PinCall").await,
        ("POST", "unpin") => video.pin(app, caller, kind, id, &body, "UnpinCall").await,
        ("POST", "go_live") => video.set_live(app, caller, kind, id, true).await,
        ("POST", "stop_live") => video.set_live(app, caller, kind, id, false).await,
        ("POST", "ring") => video.ring(app, caller, kind, id, &body).await,
        ("POST", "accept") => video.answer(app, caller, kind, id, &body, true).await,
        ("POST", "reject") => video.answer(app, caller, kind, id, &body, false).await,
        ("POST", "event") => video.send_event(app, caller, kind, id, &body).await,
        ("POST", "join") => {
            video
                .join(
                    app,
                    caller,
                    kind,
                    id,
                    &body,
                    request.context.connection_id(),
                )
                .await
        }
        ("POST", step) => match eddy_video::egress_step(step) {
            Some(step) => video.egress(app, caller, kind, id, step).await,
            None => unknown(),
        },
        _ => unknown(),
    };
    reply(&request, &method, result)
}

/// `POST /call/{type}/{id}/recordings/{composite|individual|raw}/{start|stop}`.
async fn recording_action(
    State(state): State<AppState>,
    Path((kind, id, _recording, step)): Path<(String, String, String, String)>,
    request: VideoRequest,
) -> Outcome {
    let result = match eddy_video::egress_step(&format!("{step}_recording")) {
        Some(step) => {
            state
                .video
                .egress(&request.context.app, &request.caller, &kind, &id, step)
                .await
        }
        None => Err(ApiError::not_found(format!(
            "recording step {step} does not exist"
        ))),
    };
    reply(&request, &Method::POST, result)
}

/// Deleting a recording or transcription: nothing is ever recorded, so none exists.
async fn delete_artifact(
    Path((_kind, _id, _session, what, _filename)): Path<(String, String, String, String, String)>,
    request: VideoRequest,
) -> Outcome {
    let error = match what.as_str() {
        "recordings" => {
            ApiError::not_found("recording doesn't exist").in_operation("DeleteRecording")
        }
        "transcriptions" => {
            ApiError::not_found("transcription doesn't exist").in_operation("DeleteTranscription")
        }
        _ => ApiError::not_found(format!("{what} is not an endpoint eddy serves")),
    };
    reply(&request, &Method::DELETE, Err(error))
}

async fn edges(State(state): State<AppState>, request: VideoRequest) -> Outcome {
    let edges = match &state.video.sfu {
        Some(sfu) => json!([{
            "id": sfu.edge_name, "latency_test_url": sfu.url, "latitude": 0.0, "longitude": 0.0,
            "green": 100, "yellow": 200, "red": 300, "continent_code": "", "country_iso_code": "",
            "subdivision_iso_code": "",
        }]),
        None => json!([]),
    };
    reply(&request, &Method::GET, Ok(json!({ "edges": edges })))
}
