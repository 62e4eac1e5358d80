//! App settings and channel types: what `GET/PATCH /app` and `/channeltypes` serve.

use crate::render;
use crate::{store_error, Chat, ChatResult};
use eddy_core::config::{
    command_object, ChannelConfig, BUILT_IN_COMMANDS, MAX_MESSAGE_LENGTH_LIMIT,
};
use eddy_core::ChannelTypeName;
use eddy_protocol::ApiError;
use eddy_store::{App, StoreError};
use serde_json::{json, Map, Value};

/// App settings that `PATCH /app` may change, with their defaults.
fn default_settings() -> Map<String, Value> {
    let upload = json!({"allowed_file_extensions": [], "blocked_file_extensions": [], "allowed_mime_types": [], "blocked_mime_types": [], "size_limit": 0});
    let pairs = [
        ("disable_auth_checks", json!(false)),
        ("disable_permissions_checks", json!(false)),
        ("multi_tenant_enabled", json!(false)),
        ("permission_version", json!("v2")),
        ("enforce_unique_usernames", json!("no")),
        ("revoke_tokens_issued_before", Value::Null),
        ("guest_user_creation_disabled", json!(false)),
        ("auto_translation_enabled", json!(false)),
        ("async_url_enrich_enabled", json!(false)),
        ("user_response_time_enabled", json!(false)),
        ("file_upload_config", upload.clone()),
        ("image_upload_config", upload),
        ("cdn_expiration_seconds", json!(1_209_600)),
        ("webhook_url", json!("")),
        ("webhook_events", json!([])),
        ("event_hooks", json!([])),
        ("before_message_send_hook_url", json!("")),
        ("custom_action_handler_url", json!("")),
        (
            "push_notifications",
            json!({"version": "v3", "offline_only": false}),
        ),
        ("reminders_interval", json!(300)),
        ("user_search_disallowed_roles", json!([])),
        ("image_moderation_enabled", json!(false)),
        ("suspended", json!(false)),
        ("suspended_explanation", json!("")),
        ("call_types", json!({})),
        ("policies", json!({})),
        ("grants", json!({})),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn config_from_request(
    name: &str,
    base: ChannelConfig,
    fields: &Map<String, Value>,
) -> ChatResult<ChannelConfig> {
    let mut merged = serde_json::to_value(&base).map_err(|_| ApiError::internal())?;
    if let Value::Object(target) = &mut merged {
        for (key, value) in fields {
            if key == "grants" {
                // `grants: {role: [...]}` replaces listed roles only; `null` resets to the defaults.
                match value {
                    Value::Null => {
                        target.insert("grants".into(), json!({}));
                    }
                    Value::Object(roles) => {
                        let grants = target.entry("grants").or_insert_with(|| json!({}));
                        if let Value::Object(existing) = grants {
                            for (role, permissions) in roles {
                                existing.insert(role.clone(), permissions.clone());
                            }
                        }
                    }
                    _ => {
                        return Err(ApiError::input(
                            "grants must be an object of role to permission list",
                        ))
                    }
                }
            } else if target.contains_key(key)
                && key != "name"
                && key != "created_at"
                && key != "updated_at"
            {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    let mut config: ChannelConfig = serde_json::from_value(merged)
        .map_err(|error| ApiError::input(format!("invalid channel type settings: {error}")))?;
    config.name = name.to_owned();
    if config.max_message_length == 0 || config.max_message_length > MAX_MESSAGE_LENGTH_LIMIT {
        return Err(ApiError::input(format!(
            "max_message_length must be between 1 and {MAX_MESSAGE_LENGTH_LIMIT}"
        )));
    }
    if config.commands.iter().any(|c| c == "all") {
        config.commands = eddy_core::config::BUILT_IN_COMMANDS
            .iter()
            .map(|c| c.0.to_owned())
            .collect();
    }
    Ok(config)
}

impl Chat {
    pub async fn get_app(&self, app: &App) -> ChatResult<Value> {
        let mut settings = default_settings();
        for (key, value) in &app.settings {
            if key != crate::roles::CUSTOM_ROLES_KEY {
                settings.insert(key.clone(), value.clone());
            }
        }
        settings.insert("name".into(), json!(app.name));
        let types = self
            .store
            .channel_types(app.id)
            .await
            .map_err(store_error("GetApp"))?;
        let configs: Map<String, Value> = types
            .iter()
            .map(|t| (t.name.clone(), render::config(&t.config)))
            .collect();
        settings.insert("channel_configs".into(), Value::Object(configs));
        Ok(json!({ "app": settings }))
    }

    pub async fn update_app(&self, app: &App, changes: Map<String, Value>) -> ChatResult<Value> {
        let known = default_settings();
        let mut settings = app.settings.clone();
        for (key, value) in changes {
            if !known.contains_key(&key) {
                return Err(
                    ApiError::input(format!("app setting {key:?} is not supported"))
                        .in_operation("UpdateApp"),
                );
            }
            if key == "revoke_tokens_issued_before"
                && !value.is_null()
                && value
                    .as_str()
                    .and_then(eddy_protocol::time::parse)
                    .is_none()
            {
                return Err(ApiError::input(
                    "revoke_tokens_issued_before must be an RFC 3339 timestamp or null",
                )
                .in_operation("UpdateApp"));
            }
            settings.insert(key, value);
        }
        self.store
            .update_app_settings(app.id, &settings)
            .await
            .map_err(store_error("UpdateApp"))?;
        self.apps.invalidate(&app.api_key);
        Ok(json!({}))
    }

    pub async fn list_channel_types(&self, app: &App) -> ChatResult<Value> {
        let types = self
            .store
            .channel_types(app.id)
            .await
            .map_err(store_error("ListChannelTypes"))?;
        let map: Map<String, Value> = types
            .iter()
            .map(|t| (t.name.clone(), render::channel_type(t, false)))
            .collect();
        Ok(json!({ "channel_types": map }))
    }

    pub async fn get_channel_type(&self, app: &App, name: &str) -> ChatResult<Value> {
        let types = self
            .store
            .channel_types(app.id)
            .await
            .map_err(store_error("GetChannelType"))?;
        let record = types.iter().find(|t| t.name == name).ok_or_else(|| {
            ApiError::not_found(format!("channel type {name:?} does not exist"))
                .in_operation("GetChannelType")
        })?;
        Ok(render::channel_type(record, false))
    }

    pub async fn create_channel_type(
        &self,
        app: &App,
        fields: Map<String, Value>,
    ) -> ChatResult<Value> {
        const OP: &str = "CreateChannelType";
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::input("name is required").in_operation(OP))?;
        ChannelTypeName::parse(name)
            .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let mut config = config_from_request(name, ChannelConfig::built_in("messaging"), &fields)
            .map_err(|e| e.in_operation(OP))?;
        self.check_blocklist_settings(app.id, &mut config)
            .await
            .map_err(|e| e.in_operation(OP))?;
        let record = self
            .store
            .create_channel_type(app.id, &config)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => {
                    ApiError::input(format!("channel type {name:?} already exists"))
                        .in_operation(OP)
                }
                other => store_error(OP)(other),
            })?;
        self.channel_types.invalidate(app.id);
        Ok(render::channel_type(&record, true))
    }

    pub async fn update_channel_type(
        &self,
        app: &App,
        name: &str,
        fields: Map<String, Value>,
    ) -> ChatResult<Value> {
        const OP: &str = "UpdateChannelType";
        let types = self
            .store
            .channel_types(app.id)
            .await
            .map_err(store_error(OP))?;
        let existing = types.into_iter().find(|t| t.name == name).ok_or_else(|| {
            ApiError::not_found(format!("channel type {name:?} does not exist")).in_operation(OP)
        })?;
        let mut config =
            config_from_request(name, existing.config, &fields).map_err(|e| e.in_operation(OP))?;
        self.check_blocklist_settings(app.id, &mut config)
            .await
            .map_err(|e| e.in_operation(OP))?;
        let record = self
            .store
            .update_channel_type(app.id, &config)
            .await
            .map_err(store_error(OP))?;
        self.channel_types.invalidate(app.id);
        Ok(render::channel_type(&record, true))
    }

    pub async fn delete_channel_type(&self, app: &App, name: &str) -> ChatResult<Value> {
        const OP: &str = "DeleteChannelType";
        self.store
            .delete_channel_type(app.id, name)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(message) => {
                    ApiError::input(format!("channel type {name:?} is in use: {message}"))
                        .in_operation(OP)
                }
                StoreError::NotFound => {
                    ApiError::not_found(format!("channel type {name:?} does not exist"))
                        .in_operation(OP)
                }
                other => store_error(OP)(other),
            })?;
        self.channel_types.invalidate(app.id);
        Ok(json!({}))
    }

    /// `GET /commands`: the commands eddy knows, its built-ins (it keeps no custom commands).
    pub fn list_commands(&self) -> Value {
        let commands: Vec<Value> = BUILT_IN_COMMANDS.iter().map(command_object).collect();
        json!({ "commands": commands })
    }

    /// `GET /commands/{name}`: one built-in command.
    pub fn get_command(&self, name: &str) -> ChatResult<Value> {
        BUILT_IN_COMMANDS
            .iter()
            .find(|command| command.0 == name)
            .map(command_object)
            .ok_or_else(|| {
                ApiError::not_found(format!("command {name} does not exist"))
                    .in_operation("GetCommand")
            })
    }

    pub fn get_task(&self, id: &str) -> ChatResult<Value> {
        self.tasks.get(id).ok_or_else(|| {
            ApiError::not_found(format!("Can't find task with id {id}")).in_operation("GetTask")
        })
    }
}
