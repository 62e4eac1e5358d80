//! The route table and its handlers, named after Stream's operation ids; each parses, calls one service, replies.

use crate::context::{json_param, list_param, RequestContext};
use crate::reply::{ErrorReply, Outcome, Reply};
use crate::{socket, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use eddy_chat::requests::*;
use eddy_protocol::ApiError;
use serde_json::{json, Map, Value};
use std::time::Instant;

fn ok(context: &RequestContext, body: Value) -> Outcome {
    Ok(Reply {
        status: StatusCode::OK,
        body: body.into(),
        started: context.started,
    })
}

fn created(context: &RequestContext, body: Value) -> Outcome {
    Ok(Reply {
        status: StatusCode::CREATED,
        body: body.into(),
        started: context.started,
    })
}

/// Maps a service result to a reply with the given status.
pub(crate) fn answer(
    context: &RequestContext,
    status: StatusCode,
    result: Result<impl Into<crate::reply::Body>, ApiError>,
) -> Outcome {
    match result {
        Ok(body) => Ok(Reply {
            status,
            body: body.into(),
            started: context.started,
        }),
        Err(error) => Err(context.fail(error)),
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/app", get(get_app).patch(update_app))
        .route(
            "/users",
            post(upsert_users)
                .patch(update_users_partial)
                .get(query_users),
        )
        .route("/users/block", post(block_user).get(get_blocked_users))
        .route("/users/unblock", post(unblock_user))
        .route("/users/delete", post(delete_users))
        .route("/users/deactivate", post(deactivate_users))
        .route("/users/reactivate", post(reactivate_users))
        .route("/users/restore", post(restore_users))
        .route("/users/{user_id}", delete(delete_user))
        .route("/users/{user_id}/event", post(send_user_custom_event))
        .route("/users/{user_id}/deactivate", post(deactivate_user))
        .route("/users/{user_id}/reactivate", post(reactivate_user))
        .route("/guest", post(create_guest))
        .route(
            "/channeltypes",
            get(list_channel_types).post(create_channel_type),
        )
        .route(
            "/channeltypes/{name}",
            get(get_channel_type)
                .put(update_channel_type)
                .delete(delete_channel_type),
        )
        .route("/channels", post(query_channels))
        .route("/channels/delete", post(delete_channels))
        .route("/channels/read", post(mark_channels_read))
        .route("/channels/delivered", post(mark_delivered))
        .route(
            "/channels/{type}/query",
            post(get_or_create_distinct_channel),
        )
        .route("/channels/{type}/{id}/query", post(get_or_create_channel))
        .route(
            "/channels/{type}/{id}",
            get(get_channel)
                .post(update_channel)
                .patch(update_channel_partial)
                .delete(delete_channel),
        )
        .route("/channels/{type}/{id}/truncate", post(truncate_channel))
        .route("/channels/{type}/{id}/hide", post(hide_channel))
        .route("/channels/{type}/{id}/show", post(show_channel))
        .route(
            "/channels/{type}/{id}/stop-watching",
            post(stop_watching_channel),
        )
        .route(
            "/channels/{type}/{id}/member/{user_id}",
            patch(update_member_partial),
        )
        .route(
            "/channels/{type}/{id}/member",
            patch(update_member_partial_by_query),
        )
        .route("/channels/{type}/{id}/read", post(mark_read))
        .route("/channels/{type}/{id}/unread", post(mark_unread))
        .route("/channels/{type}/{id}/event", post(send_event))
        .route("/channels/{type}/{id}/message", post(send_message))
        .route("/channels/{type}/{id}/messages", get(get_many_messages))
        .route(
            "/channels/{type}/{id}/pinned_messages",
            get(get_pinned_messages),
        )
        .route(
            "/messages/{id}",
            get(get_message)
                .post(update_message)
                .put(update_message_partial)
                .delete(delete_message),
        )
        .route("/messages/{id}/replies", get(get_replies))
        .route("/threads", post(query_threads))
        .route(
            "/threads/{id}",
            get(get_thread).patch(update_thread_partial),
        )
        .route("/messages/{id}/undelete", post(undelete_message))
        .route("/messages/{id}/reaction", post(send_reaction))
        .route("/messages/{id}/reaction/{type}", delete(delete_reaction))
        .route(
            "/messages/{id}/reactions",
            get(get_reactions).post(query_reactions),
        )
        .route("/unread", get(unread_counts))
        .route("/unread_batch", post(unread_counts_batch))
        .route("/commands", get(list_commands))
        .route("/commands/{name}", get(get_command))
        .route("/members", get(query_members))
        .route("/search", get(search))
        .route("/sync", post(sync))
        .route(
            "/devices",
            post(create_device).get(list_devices).delete(delete_device),
        )
        .route("/moderation/mute", post(mute_users))
        .route("/moderation/unmute", post(unmute_users))
        .route("/moderation/mute/channel", post(mute_channels))
        .route("/moderation/unmute/channel", post(unmute_channels))
        .route("/moderation/ban", post(ban_user).delete(unban_user))
        .route("/query_banned_users", get(query_banned_users))
        .route("/moderation/flag", post(flag))
        .route("/moderation/unflag", post(unflag))
        .route("/moderation/flags/message", get(query_message_flags))
        .route("/blocklists", get(list_blocklists).post(create_blocklist))
        .route(
            "/blocklists/{name}",
            get(get_blocklist)
                .put(update_blocklist)
                .delete(delete_blocklist),
        )
        .route("/tasks/{id}", get(get_task))
        .route("/rate_limits", get(crate::rate_limit::get_rate_limits))
        .route("/hi", get(hi))
        .route("/connect", get(socket::connect))
        .route("/longpoll", get(crate::longpoll::longpoll))
        .merge(crate::roles::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::limit,
        ));
    // The v2 layout hands each operation to these same routes (see `v2`).
    let root = api.clone().with_state(state.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::metrics))
        .merge(api)
        .merge(crate::video::router())
        .merge(crate::v2::routes(root))
        .fallback(unknown_route)
        .layer(axum::middleware::map_response(
            crate::reply::stream_error_body,
        ))
        // Browsers call the API from any app's origin, as they do Stream's: preflights are
        // answered here and every answer allows the caller's origin. Credentials are headers
        // (JWT, api_key), never cookies, so allowing any origin exposes nothing.
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> StatusCode {
    if state.ready.load(std::sync::atomic::Ordering::Relaxed) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn unknown_route(method: Method, uri: axum::http::Uri) -> ErrorReply {
    ErrorReply::new(
        ApiError::not_found(format!(
            "{method} {} is not an endpoint eddy serves (yet)",
            uri.path()
        )),
        Instant::now(),
    )
}

async fn hi(context: RequestContext) -> Outcome {
    ok(&context, json!({}))
}

async fn get_app(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let result = state.chat.get_app(&context.app).await;
    answer(&context, StatusCode::OK, result)
}

async fn update_app(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("UpdateApp")?;
    let changes: Map<String, Value> = context.body(&body)?;
    let result = state.chat.update_app(&context.app, changes).await;
    answer(&context, StatusCode::OK, result)
}

async fn upsert_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: UpsertUsers = context.body(&body)?;
    let result = state
        .chat
        .upsert_users(&context.app, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_users_partial(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: UpdateUsersPartial = context.body(&body)?;
    let result = state
        .chat
        .update_users_partial(&context.app, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn query_users(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let request: QueryUsers = context.payload()?;
    let result = state
        .chat
        .query_users(
            context.app.id,
            &context.actor,
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn delete_user(
    State(state): State<AppState>,
    context: RequestContext,
    Path(user_id): Path<String>,
) -> Outcome {
    context.require_server("DeleteUser")?;
    let hard = context.flag("hard_delete");
    let result = state.chat.delete_user(context.app.id, &user_id, hard).await;
    answer(&context, StatusCode::OK, result)
}

async fn delete_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("DeleteUsers")?;
    let request: DeleteUsers = context.body(&body)?;
    let result = state.chat.delete_users(context.app.id, request).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn deactivate_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("DeactivateUsers")?;
    let request: UsersActivation = context.body(&body)?;
    let result = state
        .chat
        .set_users_active(context.app.id, request, false)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn reactivate_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("ReactivateUsers")?;
    let request: UsersActivation = context.body(&body)?;
    let result = state
        .chat
        .set_users_active(context.app.id, request, true)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn deactivate_user(
    State(state): State<AppState>,
    context: RequestContext,
    Path(user_id): Path<String>,
) -> Outcome {
    context.require_server("DeactivateUser")?;
    let result = state
        .chat
        .set_user_active(context.app.id, &user_id, false)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn reactivate_user(
    State(state): State<AppState>,
    context: RequestContext,
    Path(user_id): Path<String>,
) -> Outcome {
    context.require_server("ReactivateUser")?;
    let result = state
        .chat
        .set_user_active(context.app.id, &user_id, true)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn create_guest(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: CreateGuest = context.body(&body)?;
    let input = request.user.ok_or_else(|| {
        context.fail(ApiError::input("user is required").in_operation("CreateGuest"))
    })?;
    let (user, rendered) = state
        .chat
        .create_guest(&context.app, input)
        .await
        .map_err(|e| context.fail(e))?;
    let token = eddy_core::auth::sign_user_token(
        &context.app.api_secret,
        &user.id,
        Some(chrono::Utc::now().timestamp() - 5),
        None,
    )
    .map_err(|_| context.fail(ApiError::internal()))?;
    created(&context, json!({ "user": rendered, "access_token": token }))
}

async fn list_channel_types(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let result = state.chat.list_channel_types(&context.app).await;
    answer(&context, StatusCode::OK, result)
}

async fn get_channel_type(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    let result = state.chat.get_channel_type(&context.app, &name).await;
    answer(&context, StatusCode::OK, result)
}

async fn create_channel_type(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("CreateChannelType")?;
    let fields: Map<String, Value> = context.body(&body)?;
    let result = state.chat.create_channel_type(&context.app, fields).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_channel_type(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Outcome {
    context.require_server("UpdateChannelType")?;
    let fields: Map<String, Value> = context.body(&body)?;
    let result = state
        .chat
        .update_channel_type(&context.app, &name, fields)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn delete_channel_type(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    context.require_server("DeleteChannelType")?;
    let result = state.chat.delete_channel_type(&context.app, &name).await;
    answer(&context, StatusCode::OK, result)
}

async fn query_channels(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: QueryChannels = context.body(&body)?;
    let result = state
        .chat
        .query_channels(
            context.app.id,
            &context.actor,
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn get_or_create_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: GetOrCreateChannel = context.body(&body)?;
    let result = state
        .chat
        .get_or_create_channel(
            context.app.id,
            &context.actor,
            &kind,
            Some(&id),
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::CREATED, result)
}

/// `GET /channels/{type}/{id}`: the channel's state like get-or-create's, never creating it.
async fn get_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
) -> Outcome {
    const OP: &str = "GetChannel";
    let refuse = |error: ApiError| context.fail(error.in_operation(OP));
    if context.param("messages_id_around").is_some() {
        return Err(refuse(ApiError::input(
            "messages_id_around is not supported by this server",
        )));
    }
    let number = |name: &str| -> Result<Option<i64>, ErrorReply> {
        context
            .param(name)
            .map(|text| {
                text.parse::<i64>()
                    .map_err(|_| refuse(ApiError::input(format!("{name} must be an integer"))))
            })
            .transpose()
    };
    let text = |name: &str| context.param(name).map(str::to_owned);
    let request = GetOrCreateChannel {
        state: context.param("state").map(|v| matches!(v, "true" | "1")),
        messages: Some(MessagePagination {
            limit: number("messages_limit")?,
            id_lt: text("messages_id_lt"),
            id_lte: text("messages_id_lte"),
            id_gt: text("messages_id_gt"),
            id_gte: text("messages_id_gte"),
            ..MessagePagination::default()
        }),
        members: Some(Pagination {
            limit: number("members_limit")?,
            offset: None,
        }),
        watchers: Some(Pagination {
            limit: number("watchers_limit")?,
            offset: None,
        }),
        user_id: text("user_id"),
        existing_only: true,
        ..GetOrCreateChannel::default()
    };
    let result = state
        .chat
        .get_or_create_channel(
            context.app.id,
            &context.actor,
            &kind,
            Some(&id),
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn get_or_create_distinct_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path(kind): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: GetOrCreateChannel = context.body(&body)?;
    let result = state
        .chat
        .get_or_create_channel(
            context.app.id,
            &context.actor,
            &kind,
            None,
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: UpdateChannel = context.body(&body)?;
    let result = state
        .chat
        .update_channel(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_channel_partial(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: PartialUpdate = context.body(&body)?;
    let result = state
        .chat
        .update_channel_partial(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn delete_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
) -> Outcome {
    let hard = context.flag("hard_delete");
    let result = state
        .chat
        .delete_channel(context.app.id, &context.actor, &kind, &id, hard)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn delete_channels(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("DeleteChannels")?;
    let request: DeleteChannels = context.body(&body)?;
    let result = state.chat.delete_channels(context.app.id, request).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn truncate_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: Truncate = context.body(&body)?;
    let result = state
        .chat
        .truncate_channel(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn hide_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: ActingUser = context.body(&body)?;
    let result = state
        .chat
        .set_hidden(context.app.id, &context.actor, &kind, &id, request, true)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn show_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: ActingUser = context.body(&body)?;
    let result = state
        .chat
        .set_hidden(context.app.id, &context.actor, &kind, &id, request, false)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn stop_watching_channel(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
) -> Outcome {
    let result = state
        .chat
        .stop_watching(
            context.app.id,
            &context.actor,
            &kind,
            &id,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_member_partial(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id, user_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Outcome {
    let request: PartialUpdate = context.body(&body)?;
    let result = state
        .chat
        .update_member_partial(
            context.app.id,
            &context.actor,
            &kind,
            &id,
            &user_id,
            request,
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn update_member_partial_by_query(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: PartialUpdate = context.body(&body)?;
    let user_id = match (context.param("user_id"), &context.actor) {
        (Some(id), _) => id.to_owned(),
        (None, eddy_chat::Actor::User(user)) => user.id.clone(),
        _ => {
            return Err(context
                .fail(ApiError::input("user_id is required").in_operation("UpdateMemberPartial")))
        }
    };
    let result = state
        .chat
        .update_member_partial(
            context.app.id,
            &context.actor,
            &kind,
            &id,
            &user_id,
            request,
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn mark_read(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: ActingUser = context.body(&body)?;
    let result = state
        .chat
        .mark_read(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn mark_unread(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: MarkUnread = context.body(&body)?;
    let result = state
        .chat
        .mark_unread(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn undelete_message(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: Undelete = context.body(&body)?;
    let result = state
        .chat
        .undelete_message(context.app.id, &context.actor, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn mark_channels_read(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MarkChannelsRead = context.body(&body)?;
    let result = state
        .chat
        .mark_channels_read(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn mark_delivered(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MarkDelivered = context.body(&body)?;
    let result = state
        .chat
        .mark_delivered(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn send_event(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: SendEvent = context.body(&body)?;
    let result = state
        .chat
        .send_event(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn send_message(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
    body: Bytes,
) -> Outcome {
    let request: SendMessage = context.body(&body)?;
    let result = state
        .chat
        .send_message(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn get_many_messages(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
) -> Outcome {
    let ids: Vec<String> = context
        .param("ids")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let result = state
        .chat
        .get_messages(context.app.id, &context.actor, &kind, &id, &ids)
        .await;
    answer(&context, StatusCode::OK, result)
}

/// The JS SDK sends one `payload` parameter; the v2 SDKs send the same keys as query parameters.
async fn get_pinned_messages(
    State(state): State<AppState>,
    context: RequestContext,
    Path((kind, id)): Path<(String, String)>,
) -> Outcome {
    let request: PinnedMessagesRequest = if context.param("payload").is_some() {
        context.payload()?
    } else {
        let mut keys = Map::new();
        for (name, value) in &context.query {
            let value = match name.as_str() {
                "sort" => list_param(value),
                "limit"
                | "offset"
                | "pinned_at_after"
                | "pinned_at_after_or_equal"
                | "pinned_at_before"
                | "pinned_at_before_or_equal"
                | "pinned_at_around" => json_param(value),
                "id_lt" | "id_lte" | "id_gt" | "id_gte" | "id_around" | "user_id" => {
                    Value::String(value.clone())
                }
                _ => continue,
            };
            keys.insert(name.clone(), value);
        }
        serde_json::from_value(Value::Object(keys))
            .map_err(|e| context.fail(ApiError::input(format!("GetPinnedMessages: {e}"))))?
    };
    let result = state
        .chat
        .get_pinned_messages(context.app.id, &context.actor, &kind, &id, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn get_message(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    let show_deleted = context.flag("show_deleted_message");
    let result = state
        .chat
        .get_message(context.app.id, &context.actor, &id, show_deleted)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn update_message(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: UpdateMessage = context.body(&body)?;
    let result = state
        .chat
        .update_message(context.app.id, &context.actor, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn update_message_partial(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: PartialUpdate = context.body(&body)?;
    let result = state
        .chat
        .update_message_partial(context.app.id, &context.actor, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn delete_message(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    // Delete-for-me arrives as a JSON body; it is a per-user view change eddy does not keep yet.
    let body: Map<String, Value> = context.body(&body)?;
    if body.get("delete_for_me").and_then(Value::as_bool) == Some(true)
        || context.flag("delete_for_me")
    {
        return Err(context.fail(
            ApiError::input("delete_for_me is not supported by this server yet")
                .in_operation("DeleteMessage"),
        ));
    }
    let hard = context.flag("hard");
    let result = state
        .chat
        .delete_message(
            context.app.id,
            &context.actor,
            &id,
            hard,
            context.param("deleted_by"),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn query_threads(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: QueryThreads = context.body(&body)?;
    let result = state
        .chat
        .query_threads(
            context.app.id,
            &context.actor,
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn get_thread(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    let number = |name: &str| -> Result<Option<i64>, ErrorReply> {
        context
            .param(name)
            .map(|value| {
                value.parse::<i64>().map_err(|_| {
                    context.fail(
                        ApiError::input(format!("{name} must be a whole number, got {value:?}"))
                            .in_operation("GetThread"),
                    )
                })
            })
            .transpose()
    };
    let request = GetThread {
        reply_limit: number("reply_limit")?,
        participant_limit: number("participant_limit")?,
        member_limit: number("member_limit")?,
        watch: context.flag("watch"),
        user_id: context.param("user_id").map(str::to_owned),
    };
    let result = state
        .chat
        .get_thread(
            context.app.id,
            &context.actor,
            &id,
            request,
            context.connection_id(),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn update_thread_partial(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: UpdateThreadPartial = context.body(&body)?;
    let result = state
        .chat
        .update_thread_partial(context.app.id, &context.actor, &id, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn get_replies(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    let number = |name: &str| context.param(name).and_then(|v| v.parse::<i64>().ok());
    let text = |name: &str| context.param(name).map(str::to_owned);
    let pagination = MessagePagination {
        limit: number("limit"),
        id_lt: text("id_lt"),
        id_lte: text("id_lte"),
        id_gt: text("id_gt"),
        id_gte: text("id_gte"),
        created_at_before: text("created_at_before"),
        created_at_after: text("created_at_after"),
    };
    if let Some(sort) = context.param("sort") {
        if !json_param(sort).is_array() {
            return Err(context
                .fail(ApiError::input("sort must be a JSON array").in_operation("GetReplies")));
        }
    }
    let result = state
        .chat
        .get_replies(context.app.id, &context.actor, &id, pagination)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn send_reaction(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: SendReaction = context.body(&body)?;
    let result = state
        .chat
        .send_reaction(context.app.id, &context.actor, &id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn delete_reaction(
    State(state): State<AppState>,
    context: RequestContext,
    Path((id, kind)): Path<(String, String)>,
) -> Outcome {
    let result = state
        .chat
        .delete_reaction(
            context.app.id,
            &context.actor,
            &id,
            &kind,
            context.param("user_id"),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn get_reactions(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    let number = |name: &str| context.param(name).and_then(|v| v.parse::<i64>().ok());
    let result = state
        .chat
        .get_reactions(
            context.app.id,
            &context.actor,
            &id,
            number("limit"),
            number("offset"),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

/// `POST /messages/{id}/reactions`: the message's reactions, newest first, like `GetReactions`.
/// eddy keeps no reaction index to filter, sort or page by cursor, so those are refused.
async fn query_reactions(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
    body: Bytes,
) -> Outcome {
    let request: QueryReactions = context.body(&body)?;
    let unsupported = [
        (
            "filter",
            request.filter.as_object().is_some_and(|f| !f.is_empty()),
        ),
        (
            "sort",
            request.sort.as_array().is_some_and(|s| !s.is_empty()),
        ),
        ("next", request.next.is_some()),
        ("prev", request.prev.is_some()),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, used)| *used) {
        return Err(context.fail(
            ApiError::input(format!(
                "{name} is not supported by this server when querying reactions"
            ))
            .in_operation("QueryReactions"),
        ));
    }
    let result = state
        .chat
        .get_reactions(context.app.id, &context.actor, &id, request.limit, None)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn query_members(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let request: QueryMembers = context.payload()?;
    let result = state
        .chat
        .query_members(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn search(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let request: Search = context.payload()?;
    let result = state
        .chat
        .search(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn sync(State(state): State<AppState>, context: RequestContext, body: Bytes) -> Outcome {
    let mut request: SyncRequest = context.body(&body)?;
    if request.user_id.is_none() {
        request.user_id = context.param("user_id").map(str::to_owned);
    }
    let (watch, with_inaccessible) = (
        context.flag("watch"),
        context.flag("with_inaccessible_cids"),
    );
    let result = state
        .chat
        .sync(
            context.app.id,
            &context.actor,
            request,
            context.connection_id(),
            watch,
            with_inaccessible,
        )
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn mute_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MuteUsers = context.body(&body)?;
    let result = state
        .chat
        .mute_users(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn unmute_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MuteUsers = context.body(&body)?;
    let result = state
        .chat
        .unmute_users(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn mute_channels(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MuteChannels = context.body(&body)?;
    let result = state
        .chat
        .mute_channels(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn unmute_channels(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: MuteChannels = context.body(&body)?;
    let result = state
        .chat
        .unmute_channels(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn ban_user(State(state): State<AppState>, context: RequestContext, body: Bytes) -> Outcome {
    let request: BanUser = context.body(&body)?;
    let result = state
        .chat
        .ban_user(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

/// `DELETE /moderation/ban` takes its fields as query parameters.
async fn unban_user(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let text = |name: &str| context.param(name).map(str::to_owned);
    let request = UnbanUser {
        target_user_id: text("target_user_id"),
        channel_cid: text("channel_cid"),
        kind: text("type"),
        id: text("id"),
        user_id: text("user_id")
            .or_else(|| text("created_by"))
            .or_else(|| text("banned_by_id"))
            .or_else(|| text("unbanned_by_id")),
    };
    let result = state
        .chat
        .unban_user(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn query_banned_users(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let request: QueryBannedUsers = context.payload()?;
    let result = state
        .chat
        .query_banned_users(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn flag(State(state): State<AppState>, context: RequestContext, body: Bytes) -> Outcome {
    let request: FlagRequest = context.body(&body)?;
    let result = state
        .chat
        .flag(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn unflag(State(state): State<AppState>, context: RequestContext, body: Bytes) -> Outcome {
    let request: FlagRequest = context.body(&body)?;
    let result = state
        .chat
        .unflag(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn block_user(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: BlockUserRequest = context.body(&body)?;
    let result = state
        .chat
        .block_user(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn unblock_user(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: BlockUserRequest = context.body(&body)?;
    let result = state
        .chat
        .unblock_user(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn get_blocked_users(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let result = state
        .chat
        .blocked_users(context.app.id, &context.actor, context.param("user_id"))
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn create_blocklist(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("CreateBlockList")?;
    let request: CreateBlocklist = context.body(&body)?;
    let result = state.chat.create_blocklist(context.app.id, request).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn list_blocklists(State(state): State<AppState>, context: RequestContext) -> Outcome {
    context.require_server("ListBlockLists")?;
    let result = state.chat.list_blocklists(context.app.id).await;
    answer(&context, StatusCode::OK, result)
}

async fn get_blocklist(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    context.require_server("GetBlockList")?;
    let result = state.chat.get_blocklist(context.app.id, &name).await;
    answer(&context, StatusCode::OK, result)
}

async fn update_blocklist(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
    body: Bytes,
) -> Outcome {
    context.require_server("UpdateBlockList")?;
    let request: UpdateBlocklist = context.body(&body)?;
    let result = state
        .chat
        .update_blocklist(context.app.id, &name, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn delete_blocklist(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    context.require_server("DeleteBlockList")?;
    let result = state.chat.delete_blocklist(context.app.id, &name).await;
    answer(&context, StatusCode::OK, result)
}

async fn query_message_flags(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let request: QueryMessageFlags = context.payload()?;
    let result = state
        .chat
        .query_message_flags(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn create_device(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    let request: CreateDevice = context.body(&body)?;
    let result = state
        .chat
        .create_device(context.app.id, &context.actor, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn list_devices(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let result = state
        .chat
        .list_devices(context.app.id, &context.actor, context.param("user_id"))
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn delete_device(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let id = context
        .param("id")
        .ok_or_else(|| {
            context.fail(ApiError::input("id is required").in_operation("DeleteDevice"))
        })?
        .to_owned();
    let result = state
        .chat
        .delete_device(
            context.app.id,
            &context.actor,
            &id,
            context.param("user_id"),
        )
        .await;
    answer(&context, StatusCode::OK, result)
}

async fn unread_counts(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let user = match &context.actor {
        eddy_chat::Actor::User(user) => (**user).clone(),
        _ => {
            let id = context.param("user_id").ok_or_else(|| {
                context.fail(
                    ApiError::input("user_id is required with server-side auth")
                        .in_operation("UnreadCounts"),
                )
            })?;
            state
                .chat
                .authenticate_user(&context.app, id, None)
                .await
                .map_err(|e| context.fail(e))?
        }
    };
    let result = state.chat.unread_counts(context.app.id, &user).await;
    answer(&context, StatusCode::OK, result)
}

async fn unread_counts_batch(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("UnreadCountsBatch")?;
    let request: UserIds = context.body(&body)?;
    let result = state.chat.unread_counts_batch(&context.app, request).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn restore_users(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("RestoreUsers")?;
    let request: UserIds = context.body(&body)?;
    let result = state.chat.restore_users(context.app.id, request).await;
    answer(&context, StatusCode::CREATED, result)
}

async fn send_user_custom_event(
    State(state): State<AppState>,
    context: RequestContext,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Outcome {
    context.require_server("SendUserCustomEvent")?;
    let request: SendUserEvent = context.body(&body)?;
    let result = state
        .chat
        .send_user_event(context.app.id, &user_id, request)
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn list_commands(State(state): State<AppState>, context: RequestContext) -> Outcome {
    context.require_server("ListCommands")?;
    ok(&context, state.chat.list_commands())
}

async fn get_command(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    context.require_server("GetCommand")?;
    let result = state.chat.get_command(&name);
    answer(&context, StatusCode::OK, result)
}

async fn get_task(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    context.require_server("GetTask")?;
    let result = state.chat.get_task(&id);
    answer(&context, StatusCode::OK, result)
}
