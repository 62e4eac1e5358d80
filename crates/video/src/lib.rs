//! Video call coordinator services: call types, calls, members, permissions, ringing and call events; no media plane.
//!
//! Handlers call these with a JSON request and a [`Caller`]; services reach data only through the
//! store contract and sockets only through the bus. Responses are in the `/video` layout (custom
//! data under `custom`, RFC 3339 times); the API turns them into `/api/v2/video` answers.

mod calls;
mod moderation;
pub mod render;
pub mod types;

pub use moderation::{egress_step, EgressStep};

use eddy_bus::{Audience, Bus, Envelope};
use eddy_protocol::{ApiError, ErrorCode};
use eddy_realtime::Hub;
use eddy_store::{App, AppId, Call, CallMember, Store, StoreError, Timestamp, User};
use render::Users;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub type VideoResult<T> = Result<T, ApiError>;

/// Who makes a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A server-side token: may do anything, names the acting user in the request where needed.
    Server,
    /// A user token; `call_cids` and `role` are the token's call-scoped claims.
    User {
        user: Box<User>,
        call_cids: Vec<String>,
        call_role: Option<String>,
    },
    Anonymous,
}

impl Caller {
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User { user, .. } => Some(&user.id),
            _ => None,
        }
    }
}

/// The media server clients are sent to by `join`.
#[derive(Debug, Clone)]
pub struct Sfu {
    /// Base URL of its Twirp API (`http(s)://host:port`); the WebSocket is `<ws url>/ws`.
    pub url: String,
    pub edge_name: String,
}

/// Shared handles for every video operation; cheap to clone.
#[derive(Clone)]
pub struct Video {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    pub sfu: Option<Sfu>,
    /// Host named in ingress addresses.
    pub ingress_host: String,
}

/// The hub key under which connections watch a call (kept apart from chat channel cids).
pub fn watch_key(cid: &str) -> String {
    format!("video/{cid}")
}

/// The explicit mapping from storage failures to wire errors; unexpected ones are logged once here.
pub(crate) fn store_error(operation: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |error| match error {
        StoreError::NotFound => ApiError::not_found("not found").in_operation(operation),
        StoreError::Conflict(message) | StoreError::Query(message) => {
            ApiError::input(message).in_operation(operation)
        }
        StoreError::Backend(message) => {
            tracing::error!(operation, %message, "storage failure");
            ApiError::internal()
        }
    }
}

/// A call type as the services use it: stored or built-in.
#[derive(Debug, Clone)]
pub struct CallType {
    pub name: String,
    pub settings: Value,
    pub grants: Map<String, Value>,
    pub notification_settings: Value,
    pub external_storage: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn default_notifications() -> Value {
    let event = |title: &str, body: &str| json!({"enabled": true, "apns": {"title": title, "body": body}, "fcm": {}});
    json!({
        "enabled": true,
        "call_ring": event("{{ user.display_name }} is calling you", ""),
        "call_notification": event("{{ user.display_name }} invites you to a call", ""),
        "call_missed": event("Missed call from {{ user.display_name }}", ""),
        "call_live_started": event("{{ user.display_name }} started a livestream", ""),
        "session_started": event("{{ user.display_name }} started a call", ""),
    })
}

impl CallType {
    pub fn built_in(name: &str) -> CallType {
        let epoch = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
        CallType {
            name: name.to_owned(),
            settings: Value::Object(types::default_settings(name)),
            grants: types::default_grants(name),
            notification_settings: default_notifications(),
            external_storage: Value::Null,
            created_at: epoch,
            updated_at: epoch,
        }
    }

    fn from_record(record: &eddy_store::CallTypeRecord) -> CallType {
        let doc = &record.doc;
        let mut kind = CallType::built_in(&record.name);
        if let Some(settings) = doc.get("settings") {
            kind.settings = settings.clone();
        }
        if let Some(Value::Object(grants)) = doc.get("grants") {
            kind.grants = grants.clone();
        }
        if let Some(notifications) = doc.get("notification_settings") {
            kind.notification_settings = notifications.clone();
        }
        kind.external_storage = doc.get("external_storage").cloned().unwrap_or(Value::Null);
        kind.created_at = record.created_at;
        kind.updated_at = record.updated_at;
        kind
    }

    fn record(&self) -> eddy_store::CallTypeRecord {
        let mut doc = Map::new();
        doc.insert("settings".into(), self.settings.clone());
        doc.insert("grants".into(), Value::Object(self.grants.clone()));
        doc.insert(
            "notification_settings".into(),
            self.notification_settings.clone(),
        );
        doc.insert("external_storage".into(), self.external_storage.clone());
        eddy_store::CallTypeRecord {
            name: self.name.clone(),
            doc,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The `CallTypeResponse` fields.
    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "settings": self.settings,
            "grants": self.grants,
            "notification_settings": self.notification_settings,
            "external_storage": self.external_storage,
            "created_at": render::at(&self.created_at),
            "updated_at": render::at(&self.updated_at),
        })
    }
}

/// A call with what permission checks need about one caller.
pub(crate) struct Loaded {
    pub call: Call,
    pub kind: CallType,
}

impl Video {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, hub: Arc<Hub>) -> Self {
        Video {
            store,
            bus,
            hub,
            sfu: None,
            ingress_host: "localhost".into(),
        }
    }

    // ---- call types ------------------------------------------------------------------------

    pub(crate) async fn call_type(&self, app: AppId, name: &str) -> VideoResult<Option<CallType>> {
        let stored = self
            .store
            .call_types(app)
            .await
            .map_err(store_error("GetCallType"))?;
        if let Some(record) = stored.iter().find(|r| r.name == name) {
            return Ok(Some(CallType::from_record(record)));
        }
        Ok(types::BUILT_IN
            .contains(&name)
            .then(|| CallType::built_in(name)))
    }

    pub async fn list_call_types(&self, app: &App) -> VideoResult<Value> {
        let stored = self
            .store
            .call_types(app.id)
            .await
            .map_err(store_error("ListCallTypes"))?;
        let mut out = Map::new();
        for name in types::BUILT_IN {
            out.insert((*name).into(), CallType::built_in(name).json());
        }
        for record in &stored {
            out.insert(record.name.clone(), CallType::from_record(record).json());
        }
        Ok(json!({ "call_types": out }))
    }

    pub async fn get_call_type(&self, app: &App, name: &str) -> VideoResult<Value> {
        match self.call_type(app.id, name).await? {
            Some(kind) => Ok(kind.json()),
            None => Err(
                ApiError::not_found(format!("call type {name} does not exist"))
                    .in_operation("GetCallType"),
            ),
        }
    }

    fn apply_type_changes(kind: &mut CallType, body: &Value) {
        if let Some(settings) = body.get("settings").filter(|v| v.is_object()) {
            types::merge(&mut kind.settings, settings);
        }
        if let Some(Value::Object(grants)) = body.get("grants") {
            for (role, list) in grants {
                kind.grants.insert(role.clone(), list.clone());
            }
        }
        if let Some(notifications) = body.get("notification_settings").filter(|v| v.is_object()) {
            types::merge(&mut kind.notification_settings, notifications);
        }
        if let Some(storage) = body.get("external_storage").filter(|v| !v.is_null()) {
            kind.external_storage = storage.clone();
        }
    }

    pub async fn create_call_type(&self, app: &App, body: &Value) -> VideoResult<Value> {
        const OP: &str = "CreateCallType";
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::input("name is a required field").in_operation(OP))?;
        if !types::valid_type_name(name) {
            return Err(ApiError::input(format!(
                "call type name {name:?} must be 1-64 lowercase letters, digits, '_' or '-'"
            ))
            .in_operation(OP));
        }
        if self.call_type(app.id, name).await?.is_some() {
            return Err(
                ApiError::input(format!("call type {name} already exists")).in_operation(OP)
            );
        }
        let now = chrono::Utc::now();
        let mut kind = CallType::built_in("default");
        kind.name = name.to_owned();
        kind.created_at = now;
        kind.updated_at = now;
        Self::apply_type_changes(&mut kind, body);
        let stored = self
            .store
            .put_call_type(app.id, &kind.record(), true)
            .await
            .map_err(store_error(OP))?;
        Ok(CallType::from_record(&stored).json())
    }

    pub async fn update_call_type(
        &self,
        app: &App,
        name: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "UpdateCallType";
        let mut kind = self.call_type(app.id, name).await?.ok_or_else(|| {
            ApiError::not_found(format!("call type {name} does not exist")).in_operation(OP)
        })?;
        Self::apply_type_changes(&mut kind, body);
        kind.updated_at = chrono::Utc::now();
        let stored = self
            .store
            .put_call_type(app.id, &kind.record(), false)
            .await
            .map_err(store_error(OP))?;
        Ok(CallType::from_record(&stored).json())
    }

    pub async fn delete_call_type(&self, app: &App, name: &str) -> VideoResult<Value> {
        const OP: &str = "DeleteCallType";
        if types::BUILT_IN.contains(&name) {
            return Err(
                ApiError::input(format!("built-in call type {name} cannot be deleted"))
                    .in_operation(OP),
            );
        }
        match self.store.delete_call_type(app.id, name).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
                "call type {name} does not exist"
            ))
            .in_operation(OP)),
            Err(error) => Err(store_error(OP)(error)),
        }
    }

    // ---- shared helpers ----------------------------------------------------------------------

    pub(crate) async fn load(
        &self,
        app: AppId,
        kind: &str,
        id: &str,
        operation: &'static str,
    ) -> VideoResult<Loaded> {
        let cid = format!("{kind}:{id}");
        let call = self
            .store
            .call(app, &cid)
            .await
            .map_err(store_error(operation))?
            .ok_or_else(|| {
                ApiError::not_found(format!("Can't find call with id {cid}"))
                    .in_operation(operation)
            })?;
        let kind = self
            .call_type(app, &call.kind)
            .await?
            .unwrap_or_else(|| CallType::built_in("default"));
        Ok(Loaded { call, kind })
    }

    /// Applies `change` to the stored call, retrying when another update got there first.
    pub(crate) async fn modify(
        &self,
        app: AppId,
        call: Call,
        operation: &'static str,
        change: impl Fn(&mut Call) -> VideoResult<()>,
    ) -> VideoResult<Call> {
        let mut current = call;
        for _ in 0..8 {
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = chrono::Utc::now();
            match self.store.update_call(app, &next).await {
                Ok(stored) => return Ok(stored),
                Err(StoreError::Conflict(_)) => {
                    current = self
                        .store
                        .call(app, &current.cid)
                        .await
                        .map_err(store_error(operation))?
                        .ok_or_else(|| {
                            ApiError::not_found(format!("Can't find call with id {}", current.cid))
                                .in_operation(operation)
                        })?;
                }
                Err(error) => return Err(store_error(operation)(error)),
            }
        }
        Err(
            ApiError::input("the call is being changed concurrently, retry")
                .in_operation(operation),
        )
    }

    /// Stores users named by a request that do not exist yet (bare, role `user`), and updates the
    /// fields of those given as objects (`created_by`, `user`).
    pub(crate) async fn ensure_users(
        &self,
        app: AppId,
        ids: &[String],
        details: &[&Value],
    ) -> VideoResult<()> {
        let mut wanted: Vec<String> = ids.to_vec();
        for detail in details {
            if let Some(id) = detail.get("id").and_then(Value::as_str) {
                wanted.push(id.to_owned());
            }
        }
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        for id in &wanted {
            eddy_core::UserId::parse(id).map_err(|e| ApiError::input(e.to_string()))?;
        }
        let existing = self
            .store
            .users(app, &wanted)
            .await
            .map_err(store_error("UpsertUsers"))?;
        let mut upserts = Vec::new();
        for id in &wanted {
            let current = existing.iter().find(|u| &u.id == id).cloned();
            let detail = details
                .iter()
                .find(|d| d.get("id").and_then(Value::as_str) == Some(id.as_str()));
            match (current, detail) {
                (None, detail) => {
                    let mut user = User::new(id.clone(), "user");
                    if let Some(detail) = detail {
                        apply_user_details(&mut user, detail);
                    }
                    upserts.push(user);
                }
                (Some(mut user), Some(detail)) => {
                    apply_user_details(&mut user, detail);
                    user.updated_at = chrono::Utc::now();
                    upserts.push(user);
                }
                (Some(_), None) => {}
            }
        }
        if !upserts.is_empty() {
            self.store
                .upsert_users(app, &upserts)
                .await
                .map_err(store_error("UpsertUsers"))?;
        }
        Ok(())
    }

    pub(crate) async fn users(&self, app: AppId, ids: &[String]) -> VideoResult<Users> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let stored = self
            .store
            .users(app, &ids)
            .await
            .map_err(store_error("QueryUsers"))?;
        let rendered = stored
            .iter()
            .map(|user| {
                (
                    user.id.clone(),
                    render::user(user, self.hub.is_online(app, &user.id)),
                )
            })
            .collect::<HashMap<_, _>>();
        Ok(Users { rendered })
    }

    /// The effective roles of the caller in a call.
    pub(crate) fn roles(caller: &Caller, call: &Call, member: Option<&CallMember>) -> Vec<String> {
        let mut roles = Vec::new();
        match caller {
            Caller::Server => roles.push("admin".to_owned()),
            Caller::Anonymous => roles.push("anonymous".to_owned()),
            Caller::User {
                user,
                call_cids,
                call_role,
            } => {
                roles.push(user.role.clone());
                if call_cids.iter().any(|cid| cid == &call.cid) {
                    roles.push(
                        call_role
                            .clone()
                            .unwrap_or_else(|| types::DEFAULT_MEMBER_ROLE.to_owned()),
                    );
                }
            }
        }
        if let Some(member) = member {
            roles.push(member.role.clone());
        }
        roles
    }

    /// The permission ids a caller holds in a call.
    pub(crate) fn permissions_of(
        caller: &Caller,
        loaded: &Loaded,
        member: Option<&CallMember>,
    ) -> std::collections::BTreeSet<String> {
        let call = &loaded.call;
        let roles = Self::roles(caller, call, member);
        let user_id = caller.user_id().unwrap_or_default();
        let blocked = call
            .doc
            .get("blocked_user_ids")
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(user_id)));
        let overrides = call
            .doc
            .get("user_permissions")
            .and_then(|all| all.get(user_id));
        let list = |key: &str| -> Vec<String> {
            overrides
                .and_then(|o| o.get(key))
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let granted = list("granted");
        let revoked = list("revoked");
        let settings = call.doc.get("settings").cloned().unwrap_or(Value::Null);
        let subject = types::Subject {
            roles: &roles,
            is_creator: !user_id.is_empty() && call.created_by == user_id,
            blocked: blocked && !matches!(caller, Caller::Server),
            granted: &granted,
            revoked: &revoked,
        };
        types::permissions(&loaded.kind.grants, &settings, &subject)
    }

    pub(crate) async fn member_of(
        &self,
        app: AppId,
        cid: &str,
        caller: &Caller,
    ) -> VideoResult<Option<CallMember>> {
        let Some(user_id) = caller.user_id() else {
            return Ok(None);
        };
        Ok(self
            .store
            .call_members_by_user(app, cid, &[user_id.to_owned()])
            .await
            .map_err(store_error("GetCall"))?
            .into_iter()
            .next())
    }

    /// Refuses a user caller without `permission` in the call (403, code 17); servers pass.
    pub(crate) async fn require(
        &self,
        app: AppId,
        caller: &Caller,
        loaded: &Loaded,
        permission: &str,
        operation: &'static str,
    ) -> VideoResult<()> {
        if matches!(caller, Caller::Server) {
            return Ok(());
        }
        let member = self.member_of(app, &loaded.call.cid, caller).await?;
        if Self::permissions_of(caller, loaded, member.as_ref()).contains(permission) {
            return Ok(());
        }
        let who = caller.user_id().unwrap_or("anonymous");
        Err(ApiError::not_allowed(format!(
            "User '{who}' is not allowed to perform action {permission} in scope 'video:{}'",
            loaded.call.kind
        ))
        .in_operation(operation))
    }

    /// The caller's capabilities in a call.
    pub(crate) fn own_capabilities(
        caller: &Caller,
        loaded: &Loaded,
        member: Option<&CallMember>,
    ) -> Vec<String> {
        types::capabilities(&Self::permissions_of(caller, loaded, member))
    }

    pub(crate) fn render_call(&self, app: &App, call: &Call, users: &Users) -> Value {
        render::call(call, users, &app.api_key, &self.ingress_host)
    }

    /// The call's member user ids (all of them; members are who call events reach besides watchers).
    pub(crate) async fn member_ids(&self, app: AppId, cid: &str) -> VideoResult<Vec<String>> {
        Ok(self
            .store
            .call_members(app, &[cid.to_owned()], i64::MAX)
            .await
            .map_err(store_error("QueryCallMembers"))?
            .into_iter()
            .map(|m| m.user_id)
            .collect())
    }

    /// Publishes a call event to the call's watchers and members.
    pub(crate) async fn publish_to_call(&self, app: AppId, cid: &str, body: Value) {
        let members = match self.member_ids(app, cid).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error.message, cid, "call members not read; event reaches watchers only");
                Vec::new()
            }
        };
        let audiences = vec![
            Audience::Watchers {
                cid: watch_key(cid),
            },
            Audience::Users { user_ids: members },
        ];
        self.publish(app, audiences, body).await;
    }

    pub(crate) async fn publish(&self, app: AppId, audiences: Vec<Audience>, body: Value) {
        if let Err(error) = self.bus.publish(Envelope::new(app, audiences, &body)).await {
            tracing::warn!(%error, "video event not published");
        }
    }

    /// Makes the caller's connection watch the call (events reach it until it closes).
    pub(crate) fn watch(
        &self,
        app: AppId,
        caller: &Caller,
        cid: &str,
        connection_id: Option<&str>,
    ) {
        let (Some(user_id), Some(connection_id)) = (caller.user_id(), connection_id) else {
            return;
        };
        if self.hub.connection_user(app, connection_id).as_deref() == Some(user_id) {
            self.hub.watch(app, connection_id, &watch_key(cid));
        }
    }
}

/// A call event's common fields.
pub(crate) fn event(kind: &str, cid: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("type".into(), json!(kind));
    map.insert("call_cid".into(), json!(cid));
    map.insert("created_at".into(), render::at(&chrono::Utc::now()));
    map
}

fn apply_user_details(user: &mut User, detail: &Value) {
    let Some(fields) = detail.as_object() else {
        return;
    };
    for (key, value) in fields {
        match key.as_str() {
            "id" | "role" | "created_at" | "updated_at" | "online" => {}
            "custom" => {
                if let Some(custom) = value.as_object() {
                    for (k, v) in custom {
                        user.doc.insert(k.clone(), v.clone());
                    }
                }
            }
            _ if value.is_null() => {}
            _ => {
                user.doc.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A time from a request: RFC 3339 text (any offset) or integer nanoseconds.
pub(crate) fn parse_time(value: &Value, field: &str) -> VideoResult<Option<Timestamp>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => {
            if let Ok(nanos) = text.parse::<i64>() {
                return Ok(Some(chrono::DateTime::from_timestamp_nanos(nanos)));
            }
            eddy_protocol::time::parse(text)
                .map(Some)
                .ok_or_else(|| ApiError::input(format!("{field} is not a valid time: {text:?}")))
        }
        Value::Number(number) => number
            .as_i64()
            .map(|nanos| Some(chrono::DateTime::from_timestamp_nanos(nanos)))
            .ok_or_else(|| ApiError::input(format!("{field} is not a valid time"))),
        _ => Err(ApiError::input(format!("{field} is not a valid time"))),
    }
}

/// Stream's error for features that need a media server eddy does not run.
pub fn no_media_server(operation: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Input,
        "no media server (SFU) is configured on this server; start eddy with --sfu-url",
    )
    .in_operation(operation)
}
