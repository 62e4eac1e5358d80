//! Calls: get-or-create, get, update, delete, end, query calls and members, update members, join, ringing, live and custom events.

use crate::render;
use crate::types::{self, DEFAULT_MEMBER_ROLE};
use crate::{event, parse_time, store_error, Caller, Loaded, Video, VideoResult};
use eddy_bus::Audience;
use eddy_protocol::ApiError;
use eddy_query::{parse_filter, parse_sort};
use eddy_store::{App, AppId, Call, CallMember, ListQuery};
use serde_json::{json, Map, Value};

const DEFAULT_MEMBERS_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 100;

fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn flag(body: &Value, key: &str) -> bool {
    body.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn members_limit(body: &Value) -> i64 {
    body.get("members_limit")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_MEMBERS_LIMIT)
        .clamp(0, MAX_LIMIT)
}

/// The acting user of a request: the caller, or for server calls the user the body names.
pub(crate) fn acting_user(caller: &Caller, body: &Value, keys: &[&str]) -> Option<String> {
    if let Some(id) = caller.user_id() {
        return Some(id.to_owned());
    }
    for key in keys {
        match body.get(*key) {
            Some(Value::String(id)) if !id.is_empty() => return Some(id.clone()),
            Some(Value::Object(user)) => {
                if let Some(id) = user.get("id").and_then(Value::as_str) {
                    return Some(id.to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

/// Members of a request (`[{user_id, role, custom}]`) as rows of call `cid`.
fn member_rows(cid: &str, list: &[Value]) -> VideoResult<Vec<CallMember>> {
    let now = chrono::Utc::now();
    let mut rows = Vec::with_capacity(list.len());
    for item in list {
        let user_id = text(item, "user_id")
            .ok_or_else(|| ApiError::input("members[].user_id is a required field"))?;
        let mut doc = Map::new();
        doc.insert(
            "custom".into(),
            item.get("custom")
                .filter(|c| c.is_object())
                .cloned()
                .unwrap_or_else(|| json!({})),
        );
        rows.push(CallMember {
            cid: cid.to_owned(),
            user_id: user_id.to_owned(),
            role: text(item, "role").unwrap_or(DEFAULT_MEMBER_ROLE).to_owned(),
            doc,
            created_at: now,
            updated_at: now,
        });
    }
    Ok(rows)
}

pub(crate) fn ids_of(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Video {
    /// `CallStateResponseFields` for one call: call, first members, the caller's membership and capabilities.
    pub(crate) async fn state(
        &self,
        app: &App,
        caller: &Caller,
        loaded: &Loaded,
        limit: i64,
    ) -> VideoResult<Map<String, Value>> {
        let call = &loaded.call;
        let members = self
            .store
            .call_members(app.id, std::slice::from_ref(&call.cid), limit)
            .await
            .map_err(store_error("GetCall"))?;
        let membership = self.member_of(app.id, &call.cid, caller).await?;
        let mut ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        ids.push(call.created_by.clone());
        let users = self.users(app.id, &ids).await?;
        let mut out = Map::new();
        out.insert("call".into(), self.render_call(app, call, &users));
        out.insert(
            "members".into(),
            members.iter().map(|m| render::member(m, &users)).collect(),
        );
        if let Some(member) = &membership {
            let users = self
                .users(app.id, std::slice::from_ref(&member.user_id))
                .await?;
            out.insert("membership".into(), render::member(member, &users));
        }
        out.insert(
            "own_capabilities".into(),
            json!(Self::own_capabilities(caller, loaded, membership.as_ref())),
        );
        Ok(out)
    }

    async fn call_with_users(&self, app: &App, call: &Call) -> VideoResult<Value> {
        let users = self
            .users(app.id, std::slice::from_ref(&call.created_by))
            .await?;
        Ok(self.render_call(app, call, &users))
    }

    async fn members_json(&self, app: AppId, members: &[CallMember]) -> VideoResult<Vec<Value>> {
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let users = self.users(app, &ids).await?;
        Ok(members.iter().map(|m| render::member(m, &users)).collect())
    }

    /// `GetOrCreateCall` (and `join` with `create`): creates the call unless it exists.
    pub async fn get_or_create_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        connection_id: Option<&str>,
    ) -> VideoResult<Value> {
        const OP: &str = "GetOrCreateCall";
        let (loaded, created) = self.ensure_call(app, caller, kind, id, body, OP).await?;
        if !created {
            self.require(app.id, caller, &loaded, "read-call", OP)
                .await?;
        }
        self.watch(app.id, caller, &loaded.call.cid, connection_id);
        self.ring_and_notify(app, caller, &loaded, body).await?;
        let mut out = self
            .state(app, caller, &loaded, members_limit(body))
            .await?;
        out.insert("created".into(), json!(created));
        Ok(Value::Object(out))
    }

    async fn ensure_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        operation: &'static str,
    ) -> VideoResult<(Loaded, bool)> {
        let cid = format!("{kind}:{id}");
        if !types::valid_call_id(id) {
            return Err(ApiError::input(format!(
                "call id {id:?} must be 1-64 letters, digits, '_' or '-'"
            ))
            .in_operation(operation));
        }
        let call_type = self.call_type(app.id, kind).await?.ok_or_else(|| {
            ApiError::not_found(format!("call type {kind} does not exist")).in_operation(operation)
        })?;
        if let Some(call) = self
            .store
            .call(app.id, &cid)
            .await
            .map_err(store_error(operation))?
        {
            return Ok((
                Loaded {
                    call,
                    kind: call_type,
                },
                false,
            ));
        }
        let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
        let creator =
            acting_user(caller, &data, &["created_by_id", "created_by"]).ok_or_else(|| {
                ApiError::input(
                    "data.created_by_id or data.created_by is required with server-side auth",
                )
                .in_operation(operation)
            })?;
        let member_list = data
            .get("members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let members = member_rows(&cid, &member_list).map_err(|e| e.in_operation(operation))?;
        let mut user_ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        user_ids.push(creator.clone());
        let details: Vec<&Value> = data
            .get("created_by")
            .filter(|v| v.is_object())
            .into_iter()
            .collect();
        if !matches!(caller, Caller::Server) {
            // Members a user names are created bare like Stream does; the creator is the caller.
            let probe = Loaded {
                call: Call {
                    created_by: creator.clone(),
                    ..blank_call(&cid, kind, id)
                },
                kind: call_type.clone(),
            };
            self.require(app.id, caller, &probe, "create-call", operation)
                .await?;
        }
        self.ensure_users(app.id, &user_ids, &details)
            .await
            .map_err(|e| e.in_operation(operation))?;
        let mut settings = call_type.settings.clone();
        if let Some(changes) = data.get("settings_override").filter(|v| v.is_object()) {
            types::merge(&mut settings, changes);
        }
        let now = chrono::Utc::now();
        let mut doc = Map::new();
        doc.insert(
            "custom".into(),
            data.get("custom")
                .filter(|c| c.is_object())
                .cloned()
                .unwrap_or_else(|| json!({})),
        );
        let backstage = settings
            .pointer("/backstage/enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        doc.insert("settings".into(), settings);
        doc.insert("blocked_user_ids".into(), json!([]));
        if let Some(channel) = data.get("channel_cid").filter(|v| v.is_string()) {
            doc.insert("channel_cid".into(), channel.clone());
        }
        let call = Call {
            created_by: creator,
            team: text(&data, "team").map(str::to_owned),
            backstage,
            doc,
            created_at: now,
            updated_at: now,
            starts_at: parse_time(data.get("starts_at").unwrap_or(&Value::Null), "starts_at")
                .map_err(|e| e.in_operation(operation))?,
            ..blank_call(&cid, kind, id)
        };
        let (call, created) = self
            .store
            .create_call(app.id, &call, &members)
            .await
            .map_err(store_error(operation))?;
        let loaded = Loaded {
            call,
            kind: call_type,
        };
        if created {
            let mut body = event("call.created", &cid);
            let stored_members = self
                .store
                .call_members(app.id, std::slice::from_ref(&cid), MAX_LIMIT)
                .await
                .map_err(store_error(operation))?;
            body.insert(
                "call".into(),
                self.call_with_users(app, &loaded.call).await?,
            );
            body.insert(
                "members".into(),
                json!(self.members_json(app.id, &stored_members).await?),
            );
            self.publish_to_call(app.id, &cid, Value::Object(body))
                .await;
        }
        Ok((loaded, created))
    }

    /// `ring` / `notify` flags of GetOrCreate, GetCall and Join.
    async fn ring_and_notify(
        &self,
        app: &App,
        caller: &Caller,
        loaded: &Loaded,
        body: &Value,
    ) -> VideoResult<()> {
        let actor = acting_user(
            caller,
            body.get("data").unwrap_or(&Value::Null),
            &["created_by_id", "created_by"],
        )
        .unwrap_or_else(|| loaded.call.created_by.clone());
        if flag(body, "ring") {
            self.ring_members(app, loaded, &actor, &[], flag(body, "video"))
                .await?;
        }
        if flag(body, "notify") {
            let members: Vec<String> = self
                .member_ids(app.id, &loaded.call.cid)
                .await?
                .into_iter()
                .filter(|id| id != &actor)
                .collect();
            let mut event = self
                .ring_event("call.notification", app, loaded, &actor, &members)
                .await?;
            event.remove("video");
            self.publish(
                app.id,
                vec![Audience::Users { user_ids: members }],
                Value::Object(event),
            )
            .await;
        }
        Ok(())
    }

    async fn ring_event(
        &self,
        kind: &str,
        app: &App,
        loaded: &Loaded,
        actor: &str,
        rung: &[String],
    ) -> VideoResult<Map<String, Value>> {
        let call = &loaded.call;
        let members = self
            .store
            .call_members_by_user(app.id, &call.cid, rung)
            .await
            .map_err(store_error("RingCall"))?;
        let users = self
            .users(app.id, &[actor.to_owned(), call.created_by.clone()])
            .await?;
        let mut body = event(kind, &call.cid);
        body.insert("call".into(), self.render_call(app, call, &users));
        body.insert(
            "members".into(),
            json!(self.members_json(app.id, &members).await?),
        );
        body.insert("user".into(), users.json(actor));
        body.insert(
            "session_id".into(),
            call.doc
                .get("session")
                .and_then(|s| s.get("id"))
                .cloned()
                .unwrap_or_else(|| json!("")),
        );
        body.insert("video".into(), json!(false));
        Ok(body)
    }

    /// Rings members (all but the actor when `only` is empty); returns the rung ids.
    async fn ring_members(
        &self,
        app: &App,
        loaded: &Loaded,
        actor: &str,
        only: &[String],
        video: bool,
    ) -> VideoResult<Vec<String>> {
        let members = self.member_ids(app.id, &loaded.call.cid).await?;
        let rung: Vec<String> = members
            .into_iter()
            .filter(|id| id != actor && (only.is_empty() || only.contains(id)))
            .collect();
        if rung.is_empty() {
            return Ok(rung);
        }
        let mut body = self
            .ring_event("call.ring", app, loaded, actor, &rung)
            .await?;
        body.insert("video".into(), json!(video));
        self.publish(
            app.id,
            vec![Audience::Users {
                user_ids: rung.clone(),
            }],
            Value::Object(body),
        )
        .await;
        Ok(rung)
    }

    pub async fn get_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        params: &Value,
        connection_id: Option<&str>,
    ) -> VideoResult<Value> {
        const OP: &str = "GetCall";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "read-call", OP)
            .await?;
        self.watch(app.id, caller, &loaded.call.cid, connection_id);
        self.ring_and_notify(app, caller, &loaded, params).await?;
        Ok(Value::Object(
            self.state(app, caller, &loaded, members_limit(params))
                .await?,
        ))
    }

    pub async fn update_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "UpdateCall";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "update-call", OP)
            .await?;
        let overrides = body
            .get("settings_override")
            .filter(|v| v.is_object())
            .cloned();
        if overrides.is_some() {
            self.require(app.id, caller, &loaded, "update-call-settings", OP)
                .await?;
        }
        let starts_at = match body.get("starts_at") {
            Some(value) if !value.is_null() => {
                Some(parse_time(value, "starts_at").map_err(|e| e.in_operation(OP))?)
            }
            _ => None,
        };
        let custom = body.get("custom").filter(|c| c.is_object()).cloned();
        let call = self
            .modify(app.id, loaded.call.clone(), OP, |call| {
                if let Some(custom) = &custom {
                    call.doc.insert("custom".into(), custom.clone());
                }
                if let Some(changes) = &overrides {
                    let settings = call.doc.entry("settings").or_insert_with(|| json!({}));
                    types::merge(settings, changes);
                }
                if let Some(starts_at) = starts_at {
                    call.starts_at = starts_at;
                }
                Ok(())
            })
            .await?;
        let loaded = Loaded { call, ..loaded };
        self.publish_call_updated(app, &loaded).await?;
        Ok(Value::Object(
            self.state(app, caller, &loaded, DEFAULT_MEMBERS_LIMIT)
                .await?,
        ))
    }

    pub(crate) async fn publish_call_updated(&self, app: &App, loaded: &Loaded) -> VideoResult<()> {
        let mut body = event("call.updated", &loaded.call.cid);
        body.insert(
            "call".into(),
            self.call_with_users(app, &loaded.call).await?,
        );
        let settings = loaded
            .call
            .doc
            .get("settings")
            .cloned()
            .unwrap_or(Value::Null);
        body.insert(
            "capabilities_by_role".into(),
            Value::Object(types::capabilities_by_role(&loaded.kind.grants, &settings)),
        );
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(body))
            .await;
        Ok(())
    }

    pub async fn delete_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "DeleteCall";
        let loaded = self.load(app.id, kind, id, OP).await?;
        if caller.user_id() != Some(loaded.call.created_by.as_str()) {
            self.require(app.id, caller, &loaded, "update-call", OP)
                .await?;
        }
        let hard = flag(body, "hard");
        let members = self.member_ids(app.id, &loaded.call.cid).await?;
        let call = self
            .store
            .delete_call(app.id, &loaded.call.cid, hard, chrono::Utc::now())
            .await
            .map_err(store_error(OP))?;
        let rendered = self.call_with_users(app, &call).await?;
        let mut event_body = event("call.deleted", &call.cid);
        event_body.insert("call".into(), rendered.clone());
        self.publish(
            app.id,
            vec![
                Audience::Watchers {
                    cid: crate::watch_key(&call.cid),
                },
                Audience::Users { user_ids: members },
            ],
            Value::Object(event_body),
        )
        .await;
        // Hard deletion is done before answering; the task id names that finished work.
        let task_id = hard.then(|| uuid::Uuid::new_v4().to_string());
        Ok(json!({"call": rendered, "task_id": task_id}))
    }

    pub async fn end_call(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "EndCall";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "end-call", OP)
            .await?;
        let now = chrono::Utc::now();
        let call = self
            .modify(app.id, loaded.call.clone(), OP, |call| {
                call.ended_at = Some(now);
                if let Some(Value::Object(session)) = call.doc.get_mut("session") {
                    session.insert("ended_at".into(), render::at(&now));
                }
                Ok(())
            })
            .await?;
        let mut body_out = event("call.ended", &call.cid);
        body_out.insert("call".into(), self.call_with_users(app, &call).await?);
        if let Some(actor) = acting_user(caller, body, &["user_id", "user"]) {
            let users = self.users(app.id, std::slice::from_ref(&actor)).await?;
            body_out.insert("user".into(), users.json(&actor));
        }
        self.publish_to_call(app.id, &call.cid, Value::Object(body_out))
            .await;
        Ok(json!({}))
    }

    pub async fn query_calls(
        &self,
        app: &App,
        caller: &Caller,
        body: &Value,
        connection_id: Option<&str>,
    ) -> VideoResult<Value> {
        const OP: &str = "QueryCalls";
        let sort_fields = [
            "starts_at",
            "created_at",
            "updated_at",
            "ended_at",
            "type",
            "id",
            "cid",
        ];
        let query = list_query(body, &eddy_store::schemas::CALLS, &sort_fields, OP)?;
        let calls = self
            .store
            .query_calls(app.id, &query)
            .await
            .map_err(store_error(OP))?;
        let found = calls.len();
        let watch = flag(body, "watch");
        let mut states = Vec::with_capacity(calls.len());
        for call in calls {
            let kind = self
                .call_type(app.id, &call.kind)
                .await?
                .unwrap_or_else(|| crate::CallType::built_in("default"));
            let loaded = Loaded { call, kind };
            if self
                .require(app.id, caller, &loaded, "read-call", OP)
                .await
                .is_err()
            {
                continue;
            }
            if watch {
                self.watch(app.id, caller, &loaded.call.cid, connection_id);
            }
            states.push(Value::Object(
                self.state(app, caller, &loaded, DEFAULT_MEMBERS_LIMIT)
                    .await?,
            ));
        }
        Ok(page("calls", states, found, &query))
    }

    pub async fn query_call_members(
        &self,
        app: &App,
        caller: &Caller,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "QueryCallMembers";
        let kind = text(body, "type")
            .ok_or_else(|| ApiError::input("type is a required field").in_operation(OP))?;
        let id = text(body, "id")
            .ok_or_else(|| ApiError::input("id is a required field").in_operation(OP))?;
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "read-call", OP)
            .await?;
        let query = list_query(
            body,
            &eddy_store::schemas::CALL_MEMBERS,
            &["user_id", "created_at", "updated_at"],
            OP,
        )?;
        let members = self
            .store
            .query_call_members(app.id, &loaded.call.cid, &query)
            .await
            .map_err(store_error(OP))?;
        let rendered = self.members_json(app.id, &members).await?;
        Ok(page("members", rendered, members.len(), &query))
    }

    pub async fn update_call_members(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "UpdateCallMembers";
        let loaded = self.load(app.id, kind, id, OP).await?;
        let cid = loaded.call.cid.clone();
        let updates = body
            .get("update_members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let removals = ids_of(body.get("remove_members"));
        if !updates.is_empty() {
            self.require(app.id, caller, &loaded, "update-call-member", OP)
                .await?;
            if updates
                .iter()
                .any(|m| m.get("role").is_some_and(|r| !r.is_null()))
            {
                self.require(app.id, caller, &loaded, "update-call-member-role", OP)
                    .await?;
            }
        }
        if !removals.is_empty() {
            self.require(app.id, caller, &loaded, "remove-call-member", OP)
                .await?;
        }
        let rows = member_rows(&cid, &updates).map_err(|e| e.in_operation(OP))?;
        let ids: Vec<String> = rows.iter().map(|m| m.user_id.clone()).collect();
        self.ensure_users(app.id, &ids, &[])
            .await
            .map_err(|e| e.in_operation(OP))?;
        // A member named without a role keeps the one they have.
        let existing = self
            .store
            .call_members_by_user(app.id, &cid, &ids)
            .await
            .map_err(store_error(OP))?;
        let rows: Vec<CallMember> = rows
            .into_iter()
            .zip(updates.iter())
            .map(|(mut row, request)| {
                if let Some(current) = existing.iter().find(|m| m.user_id == row.user_id) {
                    if request.get("role").is_none_or(Value::is_null) {
                        row.role = current.role.clone();
                    }
                    if request.get("custom").is_none_or(Value::is_null) {
                        row.doc = current.doc.clone();
                    }
                }
                row
            })
            .collect();
        let upserted = self
            .store
            .upsert_call_members(app.id, &cid, &rows)
            .await
            .map_err(store_error(OP))?;
        let removed = self
            .store
            .remove_call_members(app.id, &cid, &removals)
            .await
            .map_err(store_error(OP))?;
        let stored: Vec<CallMember> = upserted.iter().map(|(m, _)| m.clone()).collect();
        let rendered = self.members_json(app.id, &stored).await?;
        let call_json = self.call_with_users(app, &loaded.call).await?;
        let added: Vec<Value> = upserted
            .iter()
            .zip(rendered.iter())
            .filter(|((_, added), _)| *added)
            .map(|(_, json)| json.clone())
            .collect();
        let updated: Vec<Value> = upserted
            .iter()
            .zip(rendered.iter())
            .filter(|((_, added), _)| !*added)
            .map(|(_, json)| json.clone())
            .collect();
        for (kind, list) in [
            ("call.member_added", added),
            ("call.member_updated", updated),
        ] {
            if list.is_empty() {
                continue;
            }
            let mut body = event(kind, &cid);
            body.insert("call".into(), call_json.clone());
            body.insert("members".into(), json!(list));
            self.publish_to_call(app.id, &cid, Value::Object(body))
                .await;
        }
        if !removed.is_empty() {
            let removed_ids: Vec<String> = removed.iter().map(|m| m.user_id.clone()).collect();
            let mut body = event("call.member_removed", &cid);
            body.insert("call".into(), call_json.clone());
            body.insert("members".into(), json!(removed_ids));
            // Removed members hear of it too.
            let mut audience = self.member_ids(app.id, &cid).await?;
            audience.extend(removed_ids);
            self.publish(
                app.id,
                vec![
                    Audience::Watchers {
                        cid: crate::watch_key(&cid),
                    },
                    Audience::Users { user_ids: audience },
                ],
                Value::Object(body),
            )
            .await;
        }
        Ok(json!({ "members": rendered }))
    }

    pub async fn ring(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "RingCall";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "read-call", OP)
            .await?;
        let actor = acting_user(caller, body, &["user_id", "user"])
            .unwrap_or_else(|| loaded.call.created_by.clone());
        let loaded = self.with_session(app.id, loaded, OP).await?;
        let rung = self
            .ring_members(
                app,
                &loaded,
                &actor,
                &ids_of(body.get("members_ids")),
                flag(body, "video"),
            )
            .await?;
        Ok(json!({ "members_ids": rung }))
    }

    /// The call with a current session (a new one when there is none or the last one ended).
    pub(crate) async fn with_session(
        &self,
        app: AppId,
        loaded: Loaded,
        operation: &'static str,
    ) -> VideoResult<Loaded> {
        let live = loaded
            .call
            .doc
            .get("session")
            .is_some_and(|s| s.is_object() && s.get("ended_at").is_none_or(Value::is_null));
        if live {
            return Ok(loaded);
        }
        let call = self
            .modify(app, loaded.call.clone(), operation, |call| {
                call.doc.insert("session".into(), render::new_session());
                Ok(())
            })
            .await?;
        Ok(Loaded { call, ..loaded })
    }

    /// `accept` / `reject`: records the answer on the session and tells the call.
    pub async fn answer(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        accepted: bool,
    ) -> VideoResult<Value> {
        let operation = if accepted { "AcceptCall" } else { "RejectCall" };
        let loaded = self.load(app.id, kind, id, operation).await?;
        let user_id = caller
            .user_id()
            .ok_or_else(|| ApiError::input("only users can answer a call").in_operation(operation))?
            .to_owned();
        self.require(app.id, caller, &loaded, "read-call", operation)
            .await?;
        let loaded = self.with_session(app.id, loaded, operation).await?;
        let now = chrono::Utc::now();
        let key = if accepted {
            "accepted_by"
        } else {
            "rejected_by"
        };
        let call = self
            .modify(app.id, loaded.call.clone(), operation, |call| {
                if let Some(Value::Object(session)) = call.doc.get_mut("session") {
                    let map = session.entry(key).or_insert_with(|| json!({}));
                    if let Value::Object(map) = map {
                        map.insert(user_id.clone(), render::at(&now));
                    }
                }
                Ok(())
            })
            .await?;
        let users = self
            .users(app.id, &[user_id.clone(), call.created_by.clone()])
            .await?;
        let mut event_body = event(
            if accepted {
                "call.accepted"
            } else {
                "call.rejected"
            },
            &call.cid,
        );
        event_body.insert("call".into(), self.render_call(app, &call, &users));
        event_body.insert("user".into(), users.json(&user_id));
        if !accepted {
            event_body.insert(
                "reason".into(),
                body.get("reason").cloned().unwrap_or(Value::Null),
            );
        }
        self.publish_to_call(app.id, &call.cid, Value::Object(event_body))
            .await;
        Ok(json!({}))
    }

    pub async fn send_event(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "SendCallEvent";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "send-event", OP)
            .await?;
        let custom = body.get("custom").cloned().unwrap_or_else(|| json!({}));
        if custom.to_string().len() > 5 * 1024 {
            return Err(ApiError::input("custom event data is larger than 5 KB").in_operation(OP));
        }
        let mut event_body = event("custom", &loaded.call.cid);
        event_body.insert("custom".into(), custom);
        if let Some(actor) = acting_user(caller, body, &["user_id", "user"]) {
            let details: Vec<&Value> = body
                .get("user")
                .filter(|u| u.is_object())
                .into_iter()
                .collect();
            self.ensure_users(app.id, std::slice::from_ref(&actor), &details)
                .await?;
            let users = self.users(app.id, std::slice::from_ref(&actor)).await?;
            event_body.insert("user".into(), users.json(&actor));
        }
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(event_body))
            .await;
        Ok(json!({}))
    }

    /// `go_live` (`live: true`) and `stop_live`.
    pub async fn set_live(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        live: bool,
    ) -> VideoResult<Value> {
        let operation = if live { "GoLive" } else { "StopLive" };
        let loaded = self.load(app.id, kind, id, operation).await?;
        self.require(app.id, caller, &loaded, "update-call", operation)
            .await?;
        let loaded = self.with_session(app.id, loaded, operation).await?;
        let now = chrono::Utc::now();
        let call = self
            .modify(app.id, loaded.call.clone(), operation, |call| {
                call.backstage = !live;
                if let Some(Value::Object(session)) = call.doc.get_mut("session") {
                    let key = if live {
                        "live_started_at"
                    } else {
                        "live_ended_at"
                    };
                    session.insert(key.into(), render::at(&now));
                }
                Ok(())
            })
            .await?;
        let loaded = Loaded { call, ..loaded };
        let rendered = self.call_with_users(app, &loaded.call).await?;
        if live {
            let mut body = event("call.live_started", &loaded.call.cid);
            body.insert("call".into(), rendered.clone());
            self.publish_to_call(app.id, &loaded.call.cid, Value::Object(body))
                .await;
        }
        self.publish_call_updated(app, &loaded).await?;
        Ok(json!({ "call": rendered }))
    }

    /// `join`: checks the caller may join and sends them to the media server.
    pub async fn join(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        connection_id: Option<&str>,
    ) -> VideoResult<Value> {
        const OP: &str = "JoinCall";
        let user_id = match caller {
            Caller::Server => {
                return Err(ApiError::input("joining a call needs a user token").in_operation(OP))
            }
            Caller::User { user, .. } => user.id.clone(),
            Caller::Anonymous => "!anon".to_owned(),
        };
        let (loaded, created) = if flag(body, "create") {
            self.ensure_call(app, caller, kind, id, body, OP).await?
        } else {
            (self.load(app.id, kind, id, OP).await?, false)
        };
        let blocked = loaded
            .call
            .doc
            .get("blocked_user_ids")
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(user_id.as_str())));
        if blocked {
            return Err(
                ApiError::not_allowed(format!("user {user_id} is blocked from this call"))
                    .in_operation(OP),
            );
        }
        self.require(app.id, caller, &loaded, "join-call", OP)
            .await?;
        if loaded.call.ended_at.is_some() {
            self.require(app.id, caller, &loaded, "join-ended-call", OP)
                .await?;
        }
        if loaded.call.backstage && !self.may_join_ahead(&loaded) {
            self.require(app.id, caller, &loaded, "join-backstage", OP)
                .await?;
        }
        let Some(sfu) = self.sfu.clone() else {
            return Err(crate::no_media_server(OP));
        };
        let loaded = self.with_session(app.id, loaded, OP).await?;
        self.watch(app.id, caller, &loaded.call.cid, connection_id);
        self.ring_and_notify(app, caller, &loaded, body).await?;
        let member = self.member_of(app.id, &loaded.call.cid, caller).await?;
        let permissions = Self::permissions_of(caller, &loaded, member.as_ref());
        let session_id = loaded
            .call
            .doc
            .get("session")
            .and_then(|s| s.get("id"))
            .cloned()
            .unwrap_or_else(|| json!(""));
        let mut claims = Map::new();
        claims.insert("api_key".into(), json!(app.api_key));
        claims.insert("user_id".into(), json!(user_id));
        claims.insert("call_cid".into(), json!(loaded.call.cid));
        claims.insert("call_session_id".into(), session_id);
        claims.insert(
            "roles".into(),
            json!(Self::roles(caller, &loaded.call, member.as_ref())),
        );
        claims.insert(
            "grants".into(),
            json!({
                "can_publish_audio": permissions.contains("send-audio"),
                "can_publish_video": permissions.contains("send-video"),
                "can_screenshare": permissions.contains("screenshare"),
            }),
        );
        claims.insert(
            "exp".into(),
            json!(chrono::Utc::now().timestamp() + 4 * 3600),
        );
        let token = eddy_core::auth::sign_claims(&app.api_secret, &claims).map_err(|error| {
            tracing::error!(%error, "media server token not signed");
            ApiError::internal()
        })?;
        let ws = sfu
            .url
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut out = self
            .state(app, caller, &loaded, members_limit(body))
            .await?;
        out.insert("created".into(), json!(created));
        out.insert(
            "credentials".into(),
            json!({
                "server": {"url": sfu.url, "ws_endpoint": format!("{}/ws", ws.trim_end_matches('/')), "edge_name": sfu.edge_name},
                "token": token,
                "ice_servers": [],
            }),
        );
        out.insert(
            "stats_options".into(),
            json!({"enable_rtc_stats": false, "reporting_interval_ms": 0}),
        );
        Ok(Value::Object(out))
    }

    /// Everyone may enter a backstage call from `starts_at − join_ahead_time_seconds`.
    fn may_join_ahead(&self, loaded: &Loaded) -> bool {
        let ahead = loaded
            .call
            .doc
            .get("settings")
            .and_then(|s| s.pointer("/backstage/join_ahead_time_seconds"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        match loaded.call.starts_at {
            Some(starts_at) if ahead > 0 => {
                chrono::Utc::now() >= starts_at - chrono::Duration::seconds(ahead)
            }
            _ => false,
        }
    }
}

/// A list request's filter, sort and page over one schema.
fn list_query(
    body: &Value,
    schema: &eddy_query::Schema,
    sort_fields: &[&str],
    operation: &'static str,
) -> VideoResult<ListQuery> {
    let invalid =
        |e: eddy_query::QueryError| ApiError::input(e.to_string()).in_operation(operation);
    let filter = body
        .get("filter_conditions")
        .filter(|f| !f.is_null())
        .cloned()
        .unwrap_or_else(|| json!({}));
    Ok(ListQuery {
        filter: parse_filter(&filter, schema).map_err(invalid)?,
        sort: parse_sort(body.get("sort"), sort_fields, false).map_err(invalid)?,
        limit: body
            .get("limit")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_MEMBERS_LIMIT)
            .clamp(0, MAX_LIMIT),
        offset: cursor(body.get("next"))
            .or_else(|| cursor(body.get("prev")))
            .unwrap_or(0),
    })
}

/// A page answer: `key` holding `items`, with `next`/`prev` cursors where there are more.
fn page(key: &str, items: Vec<Value>, found: usize, query: &ListQuery) -> Value {
    let mut out = json!({ key: items });
    if found as i64 == query.limit && query.limit > 0 {
        out["next"] = json!((query.offset + query.limit).to_string());
    }
    if query.offset > 0 {
        out["prev"] = json!((query.offset - query.limit).max(0).to_string());
    }
    out
}

/// A page cursor: the offset it encodes.
fn cursor(value: Option<&Value>) -> Option<i64> {
    value
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|offset| *offset >= 0)
}

pub(crate) fn blank_call(cid: &str, kind: &str, id: &str) -> Call {
    let now = chrono::Utc::now();
    Call {
        cid: cid.to_owned(),
        kind: kind.to_owned(),
        id: id.to_owned(),
        created_by: String::new(),
        team: None,
        backstage: false,
        doc: Map::new(),
        member_count: 0,
        version: 0,
        created_at: now,
        updated_at: now,
        starts_at: None,
        ended_at: None,
        deleted_at: None,
    }
}
