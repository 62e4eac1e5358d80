//! Users: upsert, partial update, query, delete, (de)activation, guests, the connect-time upsert and `me`.

use crate::bans::{hide_own_shadow_ban, keep_ban_keys};
use crate::events::user_event;
use crate::render::{self, Users};
use crate::requests::{
    DeleteUsers, PartialUser, QueryUsers, SendUserEvent, UpdateUsersPartial, UpsertUsers, UserIds,
    UserRef, UsersActivation,
};
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_bus::Audience;
use eddy_core::UserId;
use eddy_protocol::ApiError;
use eddy_query::{parse_filter, parse_sort, Filter, Op};
use eddy_store::{App, AppId, ListQuery, User};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Keys that are columns or computed, never stored as user data.
const COMPUTED_USER_KEYS: &[&str] = &[
    "id",
    "role",
    "created_at",
    "updated_at",
    "last_active",
    "online",
    "deactivated_at",
    "deleted_at",
    "mutes",
    "channel_mutes",
    "devices",
    "total_unread_count",
    "unread_count",
    "unread_channels",
    "unread_threads",
    "anon",
    "blocked_user_ids",
    "shadow_banned",
    "banned",
    "ban_expires",
];
/// Keys only server-side calls may set.
const SERVER_ONLY_USER_KEYS: &[&str] =
    &["role", "teams", "teams_role", "revoke_tokens_issued_before"];
const MAX_CUSTOM_BYTES: usize = 5 * 1024;

/// Batch user operations name 1 to 100 users.
fn check_batch(user_ids: &[String], operation: &str) -> ChatResult<()> {
    if user_ids.is_empty() || user_ids.len() > 100 {
        return Err(ApiError::input("user_ids must list 1 to 100 users").in_operation(operation));
    }
    Ok(())
}

/// The refusal when an operation has nobody to act as: anonymous users may not do it at all (17);
/// a server-side call must name the user (4, with `server_hint`).
pub(crate) fn no_acting_user(actor: &Actor, server_hint: &str, operation: &str) -> ApiError {
    match actor {
        Actor::Anonymous => ApiError::not_allowed(format!(
            "anonymous users are not allowed to perform {operation}"
        )),
        _ => ApiError::input(server_hint).in_operation(operation),
    }
}

/// Whether the user turned off a privacy setting (`typing_indicators`, `read_receipts`, ...).
pub(crate) fn privacy_off(user: &User, setting: &str) -> bool {
    user.doc
        .get("privacy_settings")
        .and_then(|p| p.get(setting))
        .and_then(|t| t.get("enabled"))
        .and_then(Value::as_bool)
        == Some(false)
}

pub(crate) fn check_size(what: &str, document: &Map<String, Value>) -> ChatResult<()> {
    let size = Value::Object(document.clone()).to_string().len();
    if size > MAX_CUSTOM_BYTES {
        return Err(ApiError::input(format!(
            "{what} custom data is {size} bytes, the limit is {MAX_CUSTOM_BYTES}"
        )));
    }
    Ok(())
}

/// Applies `set` (dotted keys address nested objects) and `unset` to a document.
pub(crate) fn apply_partial(
    document: &mut Map<String, Value>,
    set: &Map<String, Value>,
    unset: &[String],
) -> ChatResult<()> {
    for (key, value) in set {
        if key.contains(' ') {
            return Err(ApiError::input(format!(
                "key {key:?} must not contain spaces"
            )));
        }
        let mut parts = key.split('.').peekable();
        let mut target = &mut *document;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                target.insert(part.to_owned(), value.clone());
                break;
            }
            let next = target.entry(part.to_owned()).or_insert_with(|| json!({}));
            if !next.is_object() {
                *next = json!({});
            }
            target = match next.as_object_mut() {
                Some(object) => object,
                None => break,
            };
        }
    }
    for key in unset {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut target = Some(&mut *document);
        for part in parts {
            target = target
                .and_then(|t| t.get_mut(part))
                .and_then(Value::as_object_mut);
        }
        if let Some(target) = target {
            target.remove(last);
        }
    }
    Ok(())
}

fn parse_user_id(id: &str) -> ChatResult<String> {
    UserId::parse(id)
        .map(UserId::into_string)
        .map_err(|error| ApiError::input(error.to_string()))
}

impl Chat {
    pub(crate) async fn load_users(&self, app: AppId, mut ids: Vec<String>) -> ChatResult<Users> {
        ids.sort();
        ids.dedup();
        let found = self
            .store
            .users(app, &ids)
            .await
            .map_err(store_error("GetUsers"))?;
        Ok(Users::new(app, &self.hub, found))
    }

    pub(crate) async fn user(&self, app: AppId, id: &str) -> ChatResult<Option<User>> {
        Ok(self
            .store
            .users(app, &[id.to_owned()])
            .await
            .map_err(store_error("GetUser"))?
            .pop())
    }

    /// Finds a user, creating a plain one if the id is valid and unknown (payloads that name users upsert them).
    pub(crate) async fn user_or_create(&self, app: AppId, id: &str) -> ChatResult<User> {
        if let Some(user) = self.user(app, id).await? {
            return Ok(user);
        }
        let user = User::new(parse_user_id(id)?, "user");
        let mut stored = self
            .store
            .upsert_users(app, &[user])
            .await
            .map_err(store_error("UpsertUser"))?;
        stored.pop().ok_or_else(ApiError::internal)
    }

    /// The user a request acts as: the token's user, or for server calls the user named in the body.
    pub(crate) async fn acting_user(
        &self,
        app: AppId,
        actor: &Actor,
        user_id: Option<&str>,
        user: Option<&UserRef>,
    ) -> ChatResult<Option<User>> {
        match actor {
            Actor::User(user) => Ok(Some((**user).clone())),
            Actor::Anonymous => Ok(None),
            Actor::Server => match user_id.or(user.map(|u| u.id.as_str())) {
                Some(id) => Ok(Some(self.user_or_create(app, id).await?)),
                None => Ok(None),
            },
        }
    }

    /// Like [`Chat::acting_user`] but the operation needs someone to act as.
    pub(crate) async fn required_user(
        &self,
        app: AppId,
        actor: &Actor,
        user_id: Option<&str>,
        user: Option<&UserRef>,
        operation: &'static str,
    ) -> ChatResult<User> {
        self.acting_user(app, actor, user_id, user)
            .await?
            .ok_or_else(|| {
                no_acting_user(
                    actor,
                    "either user or user_id must be provided when using server side auth",
                    operation,
                )
            })
    }

    /// Checks a user token against revocation and deactivation; returns the user (created if new).
    pub async fn authenticate_user(
        &self,
        app: &App,
        user_id: &str,
        issued_at: Option<i64>,
    ) -> ChatResult<User> {
        let revoked_before = |doc: &Map<String, Value>| {
            doc.get("revoke_tokens_issued_before")
                .and_then(Value::as_str)
                .and_then(eddy_protocol::time::parse)
                .map(|t| t.timestamp())
        };
        let revoked = |before: Option<i64>| {
            before.is_some_and(|before| issued_at.is_none_or(|iat| iat < before))
        };
        if revoked(revoked_before(&app.settings)) {
            return Err(ApiError::new(
                eddy_protocol::ErrorCode::TokenExpired,
                "JWTAuth error: token has been revoked",
            ));
        }
        let user = match self.user(app.id, user_id).await? {
            Some(user) => user,
            None => User::new(parse_user_id(user_id)?, "user"),
        };
        if revoked(revoked_before(&user.doc)) {
            return Err(ApiError::new(
                eddy_protocol::ErrorCode::TokenExpired,
                "JWTAuth error: token has been revoked",
            ));
        }
        if user.deactivated_at.is_some() || user.deleted_at.is_some() {
            return Err(ApiError::not_allowed(format!(
                "user {user_id} is deactivated or deleted"
            )));
        }
        Ok(user)
    }

    fn user_from_input(
        &self,
        id: &str,
        input: &Map<String, Value>,
        existing: Option<&User>,
        server: bool,
    ) -> ChatResult<User> {
        let id = parse_user_id(id)?;
        let mut user = existing
            .cloned()
            .unwrap_or_else(|| User::new(id.clone(), "user"));
        let mut doc = Map::new();
        for (key, value) in input {
            if COMPUTED_USER_KEYS.contains(&key.as_str())
                || (!server && SERVER_ONLY_USER_KEYS.contains(&key.as_str()))
            {
                continue;
            }
            doc.insert(key.clone(), value.clone());
        }
        if !server {
            for key in SERVER_ONLY_USER_KEYS {
                if let Some(value) = existing.and_then(|u| u.doc.get(*key)) {
                    doc.insert((*key).to_owned(), value.clone());
                }
            }
        }
        check_size("user", &doc)?;
        // Ban state is not user data: an upsert keeps what bans mirrored onto the user.
        if let Some(existing) = existing {
            keep_ban_keys(&mut doc, &existing.doc);
        }
        if server {
            if let Some(role) = input.get("role").and_then(Value::as_str) {
                user.role = role.to_owned();
            }
        }
        user.doc = doc;
        user.updated_at = Utc::now();
        Ok(user)
    }

    async fn publish_user_updated(&self, app: AppId, user: &User) {
        let mut event = user_event(eddy_protocol::event::USER_UPDATED);
        event.insert(
            "user".into(),
            render::user(user, self.hub.is_online(app, &user.id)),
        );
        self.publish(
            app,
            vec![Audience::PresenceOf {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
    }

    fn users_response(&self, app: AppId, users: &[User]) -> Value {
        let map: Map<String, Value> = users
            .iter()
            .map(|u| {
                (
                    u.id.clone(),
                    render::user(u, self.hub.is_online(app, &u.id)),
                )
            })
            .collect();
        json!({ "users": map })
    }

    pub async fn upsert_users(
        &self,
        app_record: &App,
        actor: &Actor,
        request: UpsertUsers,
    ) -> ChatResult<Value> {
        let app = app_record.id;
        if request.users.len() > 100 {
            return Err(
                ApiError::input("at most 100 users per request").in_operation("UpdateUsers")
            );
        }
        let ids: Vec<String> = request.users.keys().cloned().collect();
        let existing: HashMap<String, User> = self
            .store
            .users(app, &ids)
            .await
            .map_err(store_error("UpdateUsers"))?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut users = Vec::new();
        for (id, input) in &request.users {
            let input = input.as_object().ok_or_else(|| {
                ApiError::input(format!("user {id} must be an object")).in_operation("UpdateUsers")
            })?;
            if let Some(body_id) = input.get("id").and_then(Value::as_str) {
                if body_id != id {
                    return Err(ApiError::input(format!(
                        "user id {body_id:?} does not match its key {id:?}"
                    ))
                    .in_operation("UpdateUsers"));
                }
            }
            if let Actor::User(me) = actor {
                if me.id != *id {
                    return Err(ApiError::not_allowed(format!(
                        "user {} may not update user {id}",
                        me.id
                    ))
                    .in_operation("UpdateUsers"));
                }
                let current = existing.get(id).map_or("user", |u| u.role.as_str());
                if let Some(role) = input.get("role").filter(|r| r.as_str() != Some(current)) {
                    return Err(ApiError::not_allowed(format!(
                        "user {} may not change their own role (to {role}); only server-side calls set roles",
                        me.id
                    ))
                    .in_operation("UpdateUsers"));
                }
            }
            if actor.is_server() {
                if let Some(role) = input.get("role") {
                    let role = role.as_str().ok_or_else(|| {
                        ApiError::input("role must be a string").in_operation("UpdateUsers")
                    })?;
                    crate::roles::check_role(app_record, role)
                        .map_err(|e| e.in_operation("UpdateUsers"))?;
                }
            }
            users.push(
                self.user_from_input(id, input, existing.get(id), actor.is_server())
                    .map_err(|e| e.in_operation("UpdateUsers"))?,
            );
        }
        let stored = self
            .store
            .upsert_users(app, &users)
            .await
            .map_err(store_error("UpdateUsers"))?;
        for user in &stored {
            self.publish_user_updated(app, user).await;
        }
        Ok(self.users_response(app, &stored))
    }

    pub async fn update_users_partial(
        &self,
        app_record: &App,
        actor: &Actor,
        request: UpdateUsersPartial,
    ) -> ChatResult<Value> {
        let app = app_record.id;
        let mut users = Vec::new();
        for PartialUser { id, set, unset } in &request.users {
            if let Actor::User(me) = actor {
                let forbidden = set
                    .keys()
                    .chain(unset.iter())
                    .find(|k| SERVER_ONLY_USER_KEYS.contains(&k.as_str()));
                if let Some(key) = forbidden {
                    return Err(ApiError::not_allowed(format!(
                        "user {} may not change {key} of user {id}: only server-side calls can",
                        me.id
                    ))
                    .in_operation("UpdateUsersPartial"));
                }
                if me.id != *id {
                    return Err(ApiError::not_allowed(format!(
                        "user {} may not make this change to user {id}",
                        me.id
                    ))
                    .in_operation("UpdateUsersPartial"));
                }
            }
            if let Some(role) = set.get("role") {
                let role = role.as_str().ok_or_else(|| {
                    ApiError::input("role must be a string").in_operation("UpdateUsersPartial")
                })?;
                crate::roles::check_role(app_record, role)
                    .map_err(|e| e.in_operation("UpdateUsersPartial"))?;
            }
            let mut user = self.user(app, id).await?.ok_or_else(|| {
                ApiError::not_found(format!("user {id} does not exist"))
                    .in_operation("UpdateUsersPartial")
            })?;
            let mut doc = user.doc.clone();
            let data_set: Map<String, Value> = set
                .iter()
                .filter(|(k, _)| k.as_str() != "role")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            apply_partial(&mut doc, &data_set, unset)
                .map_err(|e| e.in_operation("UpdateUsersPartial"))?;
            for key in COMPUTED_USER_KEYS {
                doc.remove(*key);
            }
            if let Some(role) = set.get("role").and_then(Value::as_str) {
                user.role = role.to_owned();
            }
            check_size("user", &doc).map_err(|e| e.in_operation("UpdateUsersPartial"))?;
            keep_ban_keys(&mut doc, &user.doc);
            user.doc = doc;
            user.updated_at = Utc::now();
            users.push(user);
        }
        let stored = self
            .store
            .upsert_users(app, &users)
            .await
            .map_err(store_error("UpdateUsersPartial"))?;
        for user in &stored {
            self.publish_user_updated(app, user).await;
        }
        Ok(self.users_response(app, &stored))
    }

    pub async fn query_users(
        &self,
        app: AppId,
        actor: &Actor,
        request: QueryUsers,
        connection_id: Option<&str>,
    ) -> ChatResult<Value> {
        let filter = parse_user_filter(&request.filter_conditions)
            .map_err(|e| e.in_operation("QueryUsers"))?;
        let mut filter = resolve_online(filter, &|| self.hub.online_users(app));
        if let Some(teams) = crate::teams::confined_teams(self.multi_tenant(app).await?, actor) {
            filter = Filter::And(vec![filter, crate::teams::user_condition(&teams)]);
        }
        let sort = parse_sort(
            request.sort.as_ref(),
            &[
                "id",
                "created_at",
                "updated_at",
                "last_active",
                "name",
                "role",
            ],
            true,
        )
        .map_err(|e| ApiError::input(e.to_string()).in_operation("QueryUsers"))?;
        let query = ListQuery {
            filter,
            sort,
            limit: request.limit.unwrap_or(30).clamp(1, 100),
            offset: request.offset.unwrap_or(0).clamp(0, 1000),
        };
        let users = self
            .store
            .query_users(app, &query, request.include_deactivated_users)
            .await
            .map_err(store_error("QueryUsers"))?;
        let rendered: Vec<Value> = users
            .iter()
            .map(|u| {
                let mut rendered = render::user(u, self.hub.is_online(app, &u.id));
                if actor.user().is_some_and(|me| me.id == u.id) {
                    hide_own_shadow_ban(&mut rendered);
                }
                rendered
            })
            .collect();
        if request.presence {
            let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
            self.follow_presence(app, actor.user(), connection_id, &ids);
        }
        Ok(json!({ "users": rendered }))
    }

    pub async fn delete_user(&self, app: AppId, id: &str, hard: bool) -> ChatResult<Value> {
        let user = self
            .store
            .delete_user(app, id, hard, Utc::now())
            .await
            .map_err(store_error("DeleteUser"))?;
        let mut event = user_event("user.deleted");
        event.insert("user".into(), render::user(&user, false));
        event.insert("hard_delete".into(), json!(hard));
        self.publish(
            app,
            vec![Audience::PresenceOf {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({ "user": render::user(&user, false) }))
    }

    /// `POST /users/delete`: checks the request, then deletes the users in a background task whose
    /// result is `{<user_id>: {"status": "ok" | "error", "error"?}}`.
    pub async fn delete_users(&self, app: AppId, request: DeleteUsers) -> ChatResult<Value> {
        const OP: &str = "DeleteUsers";
        check_batch(&request.user_ids, OP)?;
        let hard = match request.user.as_deref() {
            None | Some("soft" | "pruning") => false,
            Some("hard") => true,
            Some(other) => {
                return Err(ApiError::input(format!(
                    "user must be soft, pruning or hard, got {other:?}"
                ))
                .in_operation(OP))
            }
        };
        let unsupported = [
            ("messages", request.messages.is_some()),
            ("conversations", request.conversations.is_some()),
            (
                "new_channel_owner_id",
                request.new_channel_owner_id.is_some(),
            ),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, given)| *given) {
            return Err(ApiError::input(format!(
                "{field} is not supported by this server: deleting users keeps their messages and channels"
            ))
            .in_operation(OP));
        }
        let chat = self.clone();
        let task_id = self.tasks.spawn(async move {
            let mut result = Map::new();
            for id in request.user_ids {
                let status = match chat.delete_user(app, &id, hard).await {
                    Ok(_) => json!({"status": "ok"}),
                    Err(error) => json!({"status": "error", "error": error.message}),
                };
                result.insert(id, status);
            }
            Ok(Value::Object(result))
        });
        Ok(json!({ "task_id": task_id }))
    }

    /// `POST /users/deactivate` and `POST /users/reactivate`: (de)activates the users in a background
    /// task whose result is `{users: [User]}`; the task fails on the first user that cannot be changed.
    pub async fn set_users_active(
        &self,
        app: AppId,
        request: UsersActivation,
        active: bool,
    ) -> ChatResult<Value> {
        let operation = if active {
            "ReactivateUsers"
        } else {
            "DeactivateUsers"
        };
        check_batch(&request.user_ids, operation)?;
        let chat = self.clone();
        let task_id = self.tasks.spawn(async move {
            let mut users = Vec::new();
            for id in request.user_ids {
                let mut answer = chat
                    .set_user_active(app, &id, active)
                    .await
                    .map_err(|error| error.message)?;
                users.push(answer["user"].take());
            }
            Ok(json!({ "users": users }))
        });
        Ok(json!({ "task_id": task_id }))
    }

    pub async fn set_user_active(&self, app: AppId, id: &str, active: bool) -> ChatResult<Value> {
        let operation = if active {
            "ReactivateUser"
        } else {
            "DeactivateUser"
        };
        let mut user = self.user(app, id).await?.ok_or_else(|| {
            ApiError::not_found(format!("user {id} does not exist")).in_operation(operation)
        })?;
        user.deactivated_at = if active { None } else { Some(Utc::now()) };
        user.updated_at = Utc::now();
        let stored = self
            .store
            .upsert_users(app, &[user])
            .await
            .map_err(store_error(operation))?;
        let user = stored.first().ok_or_else(ApiError::internal)?;
        let kind = if active {
            "user.reactivated"
        } else {
            "user.deactivated"
        };
        let mut event = user_event(kind);
        event.insert("user".into(), render::user(user, false));
        self.publish(
            app,
            vec![Audience::PresenceOf {
                user_ids: vec![user.id.clone()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({ "user": render::user(user, self.hub.is_online(app, &user.id)) }))
    }

    /// `POST /users/restore`: soft-deleted users are no longer deleted (their data was kept). Users
    /// that are not deleted are left as they are; an unknown user fails the request before any
    /// change.
    pub async fn restore_users(&self, app: AppId, request: UserIds) -> ChatResult<Value> {
        const OP: &str = "RestoreUsers";
        check_batch(&request.user_ids, OP)?;
        let found = self
            .store
            .users(app, &request.user_ids)
            .await
            .map_err(store_error(OP))?;
        if let Some(missing) = request
            .user_ids
            .iter()
            .find(|id| !found.iter().any(|user| &user.id == *id))
        {
            return Err(
                ApiError::not_found(format!("user {missing} does not exist")).in_operation(OP),
            );
        }
        let now = Utc::now();
        let restored: Vec<User> = found
            .into_iter()
            .filter(|user| user.deleted_at.is_some())
            .map(|mut user| {
                user.deleted_at = None;
                user.updated_at = now;
                user
            })
            .collect();
        if !restored.is_empty() {
            self.store
                .upsert_users(app, &restored)
                .await
                .map_err(store_error(OP))?;
        }
        Ok(json!({}))
    }

    /// `POST /unread_batch`: [`Chat::unread_counts`] of each listed user, by user id.
    pub async fn unread_counts_batch(&self, app: &App, request: UserIds) -> ChatResult<Value> {
        const OP: &str = "UnreadCountsBatch";
        check_batch(&request.user_ids, OP)?;
        let mut counts = Map::new();
        for id in request.user_ids {
            let user = self
                .authenticate_user(app, &id, None)
                .await
                .map_err(|e| e.in_operation(OP))?;
            let user_counts = self.unread_counts(app.id, &user).await?;
            counts.insert(id, user_counts);
        }
        Ok(json!({ "counts_by_user": counts }))
    }

    /// `POST /users/{user_id}/event`: a custom event (`event.type` plus custom fields) delivered to
    /// every connection of one existing user; event types of Stream's own events are refused.
    pub async fn send_user_event(
        &self,
        app: AppId,
        user_id: &str,
        request: SendUserEvent,
    ) -> ChatResult<Value> {
        const OP: &str = "SendUserCustomEvent";
        let mut event = request.event;
        let kind = match event.remove("type") {
            Some(Value::String(kind)) if !kind.is_empty() => kind,
            _ => return Err(ApiError::input("event.type is required").in_operation(OP)),
        };
        if eddy_protocol::event::is_server_only(&kind) {
            return Err(ApiError::new(
                eddy_protocol::ErrorCode::EventNotSupported,
                format!("event type {kind} is reserved for Stream's own events"),
            )
            .in_operation(OP));
        }
        if self.user(app, user_id).await?.is_none() {
            return Err(
                ApiError::not_found(format!("user {user_id} does not exist")).in_operation(OP),
            );
        }
        for key in ["created_at", "user", "user_id", "cid"] {
            event.remove(key);
        }
        event.extend(user_event(&kind));
        self.publish(
            app,
            vec![Audience::Users {
                user_ids: vec![user_id.to_owned()],
            }],
            event,
            Vec::new(),
        )
        .await;
        Ok(json!({}))
    }

    /// `POST /guest`: a new user with role `guest`, or the same guest again.
    pub async fn create_guest(
        &self,
        app: &App,
        input: Map<String, Value>,
    ) -> ChatResult<(User, Value)> {
        if app
            .settings
            .get("guest_user_creation_disabled")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Err(ApiError::not_allowed("guest user creation is disabled")
                .in_operation("CreateGuest"));
        }
        let id = match input.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let existing = self.user(app.id, &id).await?;
        if existing.as_ref().is_some_and(|u| u.role != "guest") {
            return Err(
                ApiError::input(format!("user {id} already exists and is not a guest"))
                    .in_operation("CreateGuest"),
            );
        }
        let mut user = self
            .user_from_input(&id, &input, existing.as_ref(), false)
            .map_err(|e| e.in_operation("CreateGuest"))?;
        user.role = "guest".into();
        let stored = self
            .store
            .upsert_users(app.id, &[user])
            .await
            .map_err(store_error("CreateGuest"))?;
        let user = stored.into_iter().next().ok_or_else(ApiError::internal)?;
        let rendered = render::user(&user, false);
        Ok((user, rendered))
    }

    /// The connect-time upsert: merges the client's `user_details` (client-settable keys only).
    pub async fn connect_user(
        &self,
        app: AppId,
        existing: User,
        details: &Map<String, Value>,
    ) -> ChatResult<User> {
        let mut user = existing;
        let mut changed = false;
        for (key, value) in details {
            if COMPUTED_USER_KEYS.contains(&key.as_str())
                || SERVER_ONLY_USER_KEYS.contains(&key.as_str())
            {
                continue;
            }
            if user.doc.get(key) != Some(value) {
                user.doc.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        check_size("user", &user.doc)?;
        let now = Utc::now();
        if changed {
            user.updated_at = now;
        }
        user.last_active = Some(now);
        let stored = self
            .store
            .upsert_users(app, &[user])
            .await
            .map_err(store_error("ConnectUser"))?;
        stored.into_iter().next().ok_or_else(ApiError::internal)
    }

    /// OwnUser (`me`): the user plus mutes, blocked users, devices and unread totals.
    pub async fn own_user(&self, app: AppId, user: &User) -> Value {
        let mut me = render::user(user, true);
        hide_own_shadow_ban(&mut me);
        if let Value::Object(fields) = &mut me {
            let (mutes, channel_mutes) = self.rendered_mutes(app, user).await;
            fields.insert("mutes".into(), Value::Array(mutes));
            fields.insert("channel_mutes".into(), Value::Array(channel_mutes));
            fields.insert(
                "blocked_user_ids".into(),
                json!(self.blocked_user_ids(app, &user.id).await),
            );
            let devices = self.store.devices(app, &user.id).await.unwrap_or_default();
            fields.insert(
                "devices".into(),
                Value::Array(devices.iter().map(crate::devices::device_json).collect()),
            );
            fields.insert(
                "invisible".into(),
                json!(user
                    .doc
                    .get("invisible")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)),
            );
            fields.extend(self.unread_totals(app, &user.id).await);
        }
        me
    }

    pub async fn unread_counts(&self, app: AppId, user: &User) -> ChatResult<Value> {
        let channels = self
            .store
            .unread_channels(app, &user.id)
            .await
            .map_err(store_error("UnreadCounts"))?;
        let total: i64 = channels.iter().map(|c| c.unread_messages).sum();
        let mut by_type: HashMap<String, (i64, i64)> = HashMap::new();
        for channel in &channels {
            let kind = channel.cid.split(':').next().unwrap_or_default().to_owned();
            let entry = by_type.entry(kind).or_default();
            entry.0 += 1;
            entry.1 += channel.unread_messages;
        }
        let mut types: Vec<Value> = by_type
            .into_iter()
            .map(|(kind, (count, unread))| json!({"channel_type": kind, "channel_count": count, "unread_count": unread}))
            .collect();
        types.sort_by(|a, b| a["channel_type"].as_str().cmp(&b["channel_type"].as_str()));
        Ok(json!({
            "total_unread_count": total,
            "total_unread_threads_count": 0,
            "channels": channels.iter().take(100).map(|c| json!({
                "channel_id": c.cid,
                "unread_count": c.unread_messages,
                "last_read": eddy_protocol::time::format(&c.last_read),
            })).collect::<Vec<_>>(),
            "channel_type": types,
            "threads": [],
        }))
    }
}

/// Rewrites `online` conditions, which only the realtime hub can answer, into conditions on `id`
/// over the users connected now; invisible users count as offline.
fn resolve_online(filter: Filter, online_now: &dyn Fn() -> Vec<String>) -> Filter {
    let rewrite_all = |parts: Vec<Filter>| {
        parts
            .into_iter()
            .map(|part| resolve_online(part, online_now))
            .collect()
    };
    match filter {
        Filter::And(parts) => Filter::And(rewrite_all(parts)),
        Filter::Or(parts) => Filter::Or(rewrite_all(parts)),
        Filter::Nor(parts) => Filter::Nor(rewrite_all(parts)),
        Filter::Compare { field, value, .. } if field == "online" => {
            let ids = Value::from(online_now());
            let visible_and_connected = Filter::And(vec![
                Filter::Compare {
                    field: "id".into(),
                    op: Op::In,
                    value: ids,
                },
                Filter::Compare {
                    field: "invisible".into(),
                    op: Op::Ne,
                    value: Value::Bool(true),
                },
            ]);
            if value == Value::Bool(true) {
                visible_and_connected
            } else {
                Filter::Nor(vec![visible_and_connected])
            }
        }
        other => other,
    }
}

fn parse_user_filter(json: &Value) -> ChatResult<Filter> {
    // The schema lives with the backend's SQL; the field names are checked there and here alike.
    parse_filter(json, &eddy_store::schemas::USERS).map_err(|e| ApiError::input(e.to_string()))
}
