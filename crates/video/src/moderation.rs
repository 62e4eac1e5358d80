//! Call moderation and permissions: block, kick, mute, per-user grants, permission requests, pins, and the egress operations eddy answers without a media plane.

use crate::calls::acting_user;
use crate::{event, store_error, Caller, Loaded, Video, VideoResult};
use eddy_protocol::ApiError;
use eddy_store::App;
use serde_json::{json, Value};

/// Permissions users may be granted or revoked per call, and may request.
const PER_USER: &[&str] = &["send-audio", "send-video", "screenshare"];

fn required_user(body: &Value, operation: &str) -> VideoResult<String> {
    body.get("user_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::input("user_id is a required field").in_operation(operation))
}

fn list(body: &Value, key: &str) -> Vec<String> {
    crate::calls::ids_of(body.get(key))
}

impl Video {
    /// `block` (`blocked: true`) and `unblock`.
    pub async fn set_blocked(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        blocked: bool,
    ) -> VideoResult<Value> {
        let operation = if blocked { "BlockUser" } else { "UnblockUser" };
        let loaded = self.load(app.id, kind, id, operation).await?;
        self.require(app.id, caller, &loaded, "block-user", operation)
            .await?;
        let target = required_user(body, operation)?;
        self.ensure_users(app.id, std::slice::from_ref(&target), &[])
            .await?;
        let call = self
            .modify(app.id, loaded.call.clone(), operation, |call| {
                let mut ids: Vec<String> = call
                    .doc
                    .get("blocked_user_ids")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                ids.retain(|id| id != &target);
                if blocked {
                    ids.push(target.clone());
                }
                call.doc.insert("blocked_user_ids".into(), json!(ids));
                Ok(())
            })
            .await?;
        let mut ids = vec![target.clone()];
        let actor = acting_user(caller, body, &["blocked_by_id", "blocked_by"]);
        ids.extend(actor.clone());
        let users = self.users(app.id, &ids).await?;
        let kind = if blocked {
            "call.blocked_user"
        } else {
            "call.unblocked_user"
        };
        let mut out = event(kind, &call.cid);
        out.insert("user".into(), users.json(&target));
        if let (true, Some(actor)) = (blocked, actor) {
            out.insert("blocked_by_user".into(), users.json(&actor));
        }
        self.publish_to_call(app.id, &call.cid, Value::Object(out))
            .await;
        Ok(json!({}))
    }

    pub async fn kick_user(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "KickUser";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "kick-user", OP)
            .await?;
        let target = required_user(body, OP)?;
        if body.get("block").and_then(Value::as_bool) == Some(true) {
            self.set_blocked(app, caller, kind, id, body, true).await?;
        }
        let mut ids = vec![target.clone()];
        let actor = acting_user(caller, body, &["kicked_by_id", "kicked_by"]);
        ids.extend(actor.clone());
        let users = self.users(app.id, &ids).await?;
        let mut out = event("call.kicked_user", &loaded.call.cid);
        out.insert("user".into(), users.json(&target));
        if let Some(actor) = actor {
            out.insert("kicked_by_user".into(), users.json(&actor));
        }
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(out))
            .await;
        Ok(json!({}))
    }

    /// `mute_users`: with no media server there are no tracks to stop; the call hears of it.
    pub async fn mute_users(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "MuteUsers";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "mute-users", OP)
            .await?;
        let muted = if body.get("mute_all_users").and_then(Value::as_bool) == Some(true) {
            self.member_ids(app.id, &loaded.call.cid).await?
        } else {
            list(body, "user_ids")
        };
        let mut out = event("call.user_muted", &loaded.call.cid);
        out.insert(
            "from_user_id".into(),
            json!(acting_user(caller, body, &["muted_by_id", "muted_by"])),
        );
        out.insert("muted_user_ids".into(), json!(muted));
        out.insert("reason".into(), json!("muted by moderator"));
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(out))
            .await;
        Ok(json!({}))
    }

    /// `user_permissions`: per-call grants and revocations for one user.
    pub async fn update_user_permissions(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "UpdateUserPermissions";
        let loaded = self.load(app.id, kind, id, OP).await?;
        self.require(app.id, caller, &loaded, "update-call-permissions", OP)
            .await?;
        let target = required_user(body, OP)?;
        let grant = list(body, "grant_permissions");
        let revoke = list(body, "revoke_permissions");
        if let Some(bad) = grant
            .iter()
            .chain(&revoke)
            .find(|p| !PER_USER.contains(&p.as_str()))
        {
            return Err(ApiError::input(format!(
                "permission {bad:?} cannot be granted per user (send-audio, send-video or screenshare)"
            ))
            .in_operation(OP));
        }
        self.ensure_users(app.id, std::slice::from_ref(&target), &[])
            .await?;
        let call = self
            .modify(app.id, loaded.call.clone(), OP, |call| {
                let all = call
                    .doc
                    .entry("user_permissions")
                    .or_insert_with(|| json!({}));
                let current = all.get(&target).cloned().unwrap_or_else(|| json!({}));
                let read = |key: &str| -> Vec<String> {
                    current
                        .get(key)
                        .and_then(Value::as_array)
                        .map(|ids| {
                            ids.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let mut granted = read("granted");
                let mut revoked = read("revoked");
                for id in &grant {
                    revoked.retain(|r| r != id);
                    if !granted.contains(id) {
                        granted.push(id.clone());
                    }
                }
                for id in &revoke {
                    granted.retain(|g| g != id);
                    if !revoked.contains(id) {
                        revoked.push(id.clone());
                    }
                }
                if let Value::Object(all) = all {
                    all.insert(
                        target.clone(),
                        json!({"granted": granted, "revoked": revoked}),
                    );
                }
                Ok(())
            })
            .await?;
        let loaded = Loaded { call, ..loaded };
        let target_caller = match self
            .store
            .users(app.id, std::slice::from_ref(&target))
            .await
        {
            Ok(mut users) if !users.is_empty() => Caller::User {
                user: Box::new(users.remove(0)),
                call_cids: Vec::new(),
                call_role: None,
            },
            Ok(_) => Caller::Anonymous,
            Err(error) => return Err(store_error(OP)(error)),
        };
        let member = self
            .member_of(app.id, &loaded.call.cid, &target_caller)
            .await?;
        let users = self.users(app.id, std::slice::from_ref(&target)).await?;
        let mut out = event("call.permissions_updated", &loaded.call.cid);
        out.insert("user".into(), users.json(&target));
        out.insert(
            "own_capabilities".into(),
            json!(Self::own_capabilities(
                &target_caller,
                &loaded,
                member.as_ref()
            )),
        );
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(out))
            .await;
        Ok(json!({}))
    }

    /// `request_permission`: allowed when the matching `access_request_enabled` setting is on.
    pub async fn request_permission(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
    ) -> VideoResult<Value> {
        const OP: &str = "RequestPermission";
        let loaded = self.load(app.id, kind, id, OP).await?;
        let user_id = caller
            .user_id()
            .ok_or_else(|| ApiError::input("only users can request permissions").in_operation(OP))?
            .to_owned();
        let wanted = list(body, "permissions");
        if wanted.is_empty() {
            return Err(ApiError::input("permissions is a required field").in_operation(OP));
        }
        let settings = loaded
            .call
            .doc
            .get("settings")
            .cloned()
            .unwrap_or(Value::Null);
        for permission in &wanted {
            let path = match permission.as_str() {
                "send-audio" => "/audio/access_request_enabled",
                "send-video" => "/video/access_request_enabled",
                "screenshare" => "/screensharing/access_request_enabled",
                other => {
                    return Err(ApiError::input(format!(
                        "permission {other:?} cannot be requested"
                    ))
                    .in_operation(OP))
                }
            };
            if settings.pointer(path).and_then(Value::as_bool) != Some(true) {
                return Err(ApiError::input(format!(
                    "access requests for {permission} are disabled in this call's settings"
                ))
                .in_operation(OP));
            }
        }
        let users = self.users(app.id, std::slice::from_ref(&user_id)).await?;
        let mut out = event("call.permission_request", &loaded.call.cid);
        out.insert("user".into(), users.json(&user_id));
        out.insert("permissions".into(), json!(wanted));
        self.publish_to_call(app.id, &loaded.call.cid, Value::Object(out))
            .await;
        Ok(json!({}))
    }

    /// `pin` / `unpin`: pins live in the media server, so only the permission is checked.
    pub async fn pin(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        body: &Value,
        operation: &'static str,
    ) -> VideoResult<Value> {
        let loaded = self.load(app.id, kind, id, operation).await?;
        self.require(app.id, caller, &loaded, "pin-call-track", operation)
            .await?;
        required_user(body, operation)?;
        Ok(json!({}))
    }

    /// Recording, transcription, captions, broadcasting: a call needs an active media session
    /// first, which eddy never has. Starting answers Stream's "no active session" error, stopping
    /// Stream's "not running" error, after the same permission check.
    pub async fn egress(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        step: EgressStep,
    ) -> VideoResult<Value> {
        let loaded = self.load(app.id, kind, id, step.operation).await?;
        self.require(app.id, caller, &loaded, step.permission, step.operation)
            .await?;
        Err(ApiError::input(step.error).in_operation(step.operation))
    }

    /// Lists of recordings and transcriptions: always empty, nothing is ever recorded.
    pub async fn empty_list(
        &self,
        app: &App,
        caller: &Caller,
        kind: &str,
        id: &str,
        operation: &'static str,
        key: &str,
    ) -> VideoResult<Value> {
        let loaded = self.load(app.id, kind, id, operation).await?;
        self.require(app.id, caller, &loaded, "read-call", operation)
            .await?;
        Ok(json!({ key: [] }))
    }
}

/// An egress operation eddy answers without a media plane.
#[derive(Debug, Clone, Copy)]
pub struct EgressStep {
    pub operation: &'static str,
    pub permission: &'static str,
    pub error: &'static str,
}

const NO_SESSION: &str = "there is no active session";

/// The egress operations by path step (`start_recording`, ...): operation, permission and answer.
pub fn egress_step(step: &str) -> Option<EgressStep> {
    Some(match step {
        "start_recording" => EgressStep {
            operation: "StartRecording",
            permission: "start-recording",
            error: NO_SESSION,
        },
        "stop_recording" => EgressStep {
            operation: "StopRecording",
            permission: "stop-recording",
            error: "call egress is not running",
        },
        "start_transcription" => EgressStep {
            operation: "StartTranscription",
            permission: "start-transcription",
            error: NO_SESSION,
        },
        "stop_transcription" => EgressStep {
            operation: "StopTranscription",
            permission: "stop-transcription",
            error: "call is not being transcribed",
        },
        "start_closed_captions" => EgressStep {
            operation: "StartClosedCaptions",
            permission: "start-transcription",
            error: NO_SESSION,
        },
        "stop_closed_captions" => EgressStep {
            operation: "StopClosedCaptions",
            permission: "stop-transcription",
            error: "call is not being captioned",
        },
        "start_broadcasting" => EgressStep {
            operation: "StartHLSBroadcasting",
            permission: "start-broadcasting",
            error: NO_SESSION,
        },
        "stop_broadcasting" => EgressStep {
            operation: "StopHLSBroadcasting",
            permission: "stop-broadcasting",
            error: "call egress is not running",
        },
        "start_frame_recording" => EgressStep {
            operation: "StartFrameRecording",
            permission: "start-recording",
            error: NO_SESSION,
        },
        "stop_frame_recording" => EgressStep {
            operation: "StopFrameRecording",
            permission: "stop-recording",
            error: "call egress is not running",
        },
        "rtmp_broadcasts" => EgressStep {
            operation: "StartRTMPBroadcasts",
            permission: "start-broadcasting",
            error: NO_SESSION,
        },
        _ => return None,
    })
}
