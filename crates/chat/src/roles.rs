//! Roles and permissions: the built-in and custom roles (`/roles`) and the permission catalogue (`/permissions`).
//!
//! Custom roles live in the app's settings document under [`CUSTOM_ROLES_KEY`] (a list of
//! `{name, created_at, updated_at}`), which the store already keeps; `GET /app` does not show it and
//! `PATCH /app` cannot set it. A custom role has no grants until a channel type's `grants` give it
//! some, so on its own it can do nothing a grant is needed for.

use crate::{store_error, Chat, ChatResult};
use chrono::Utc;
use eddy_core::grants::{effective_grants, GRANT_ROLES};
use eddy_core::permissions::{self, Permission};
use eddy_protocol::ApiError;
use eddy_store::{App, ListQuery};
use serde_json::{json, Map, Value};

/// Where the app's settings document keeps its custom roles.
pub(crate) const CUSTOM_ROLES_KEY: &str = "custom_roles";
/// Stream allows this many custom roles per app.
pub const MAX_CUSTOM_ROLES: usize = 25;
pub const MAX_ROLE_NAME_LENGTH: usize = 64;
/// The built-in roles a channel membership can hold (`channel_role`); custom roles can be both.
pub(crate) const CHANNEL_ROLES: [&str; 2] = ["channel_member", "channel_moderator"];
/// SearchRoles pages: Stream's default and cap.
pub const DEFAULT_ROLE_SEARCH_LIMIT: i64 = 10;
pub const MAX_ROLE_SEARCH_LIMIT: i64 = 25;
/// Longest SearchRoles `query`.
const MAX_ROLE_QUERY_LENGTH: usize = 255;

/// The custom roles recorded in an app's settings, in creation order.
fn custom_roles(settings: &Map<String, Value>) -> Vec<Map<String, Value>> {
    settings
        .get(CUSTOM_ROLES_KEY)
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn role_name(role: &Map<String, Value>) -> &str {
    role.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Whether `name` is a role of the app: built in or created with `POST /roles`.
pub(crate) fn role_exists(app: &App, name: &str) -> bool {
    GRANT_ROLES.contains(&name)
        || custom_roles(&app.settings)
            .iter()
            .any(|r| role_name(r) == name)
}

/// Whether `name` is a custom role created with `POST /roles`.
pub(crate) fn is_custom_role(app: &App, name: &str) -> bool {
    custom_roles(&app.settings)
        .iter()
        .any(|r| role_name(r) == name)
}

/// Refuses a role a user cannot be given because the app does not have it (code 4).
pub(crate) fn check_role(app: &App, name: &str) -> ChatResult<()> {
    if role_exists(app, name) {
        return Ok(());
    }
    Err(ApiError::input(format!(
        "role {name:?} does not exist; create it with POST /roles first"
    )))
}

fn validate_name(name: &str) -> ChatResult<()> {
    if name.is_empty() {
        return Err(ApiError::input("name is required"));
    }
    if name.chars().count() > MAX_ROLE_NAME_LENGTH {
        return Err(ApiError::input(format!(
            "role name is longer than {MAX_ROLE_NAME_LENGTH} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::input(format!(
            "role name {name:?} may only contain letters, digits, '_' and '-'"
        )));
    }
    Ok(())
}

fn render_permission(permission: &Permission) -> Value {
    json!({
        "id": permission.id(),
        "name": permission.name(),
        "description": permission.description(),
        "action": permission.action.name,
        "owner": permission.owner,
        "same_team": false,
        "custom": false,
        "level": permission.action.level.as_str(),
        "tags": permission.action.tags,
        "owner_resource": permission.action.owner_resource.unwrap_or_default(),
    })
}

impl Chat {
    /// The app as stored now, not as cached: role changes read-modify-write its settings.
    async fn fresh_app(&self, app: &App, operation: &'static str) -> ChatResult<App> {
        self.store
            .app_by_key(&app.api_key)
            .await
            .map_err(store_error(operation))?
            .ok_or_else(|| ApiError::not_found("app does not exist").in_operation(operation))
    }

    /// Where a role currently has grants: `.app` for app-level grants, else channel type names.
    async fn role_scopes(&self, app: &App, role: &str) -> ChatResult<Vec<String>> {
        let mut scopes = Vec::new();
        let app_level = app
            .settings
            .get("grants")
            .and_then(|g| g.get(role))
            .and_then(Value::as_array)
            .map(|grants| !grants.is_empty())
            .unwrap_or_else(|| !permissions::app_grants(role).is_empty());
        if app_level {
            scopes.push(".app".to_owned());
        }
        for record in self.channel_types(app.id).await?.iter() {
            let granted = match record.config.grants.get(role) {
                Some(grants) => grants.as_array().is_some_and(|g| !g.is_empty()),
                None => effective_grants(&record.config)
                    .get(role)
                    .and_then(Value::as_array)
                    .is_some_and(|g| !g.is_empty()),
            };
            if granted {
                scopes.push(record.name.clone());
            }
        }
        Ok(scopes)
    }

    /// `GET /roles`: the built-in roles, then the custom ones.
    pub async fn list_roles(&self, app: &App) -> ChatResult<Value> {
        let app = self.fresh_app(app, "ListRoles").await?;
        let since = eddy_protocol::time::format(&app.created_at);
        let mut roles = Vec::new();
        for name in GRANT_ROLES {
            roles.push(json!({
                "name": name,
                "custom": false,
                "scopes": self.role_scopes(&app, name).await?,
                "created_at": since,
                "updated_at": since,
            }));
        }
        for role in custom_roles(&app.settings) {
            let name = role_name(&role);
            roles.push(json!({
                "name": name,
                "custom": true,
                "scopes": self.role_scopes(&app, name).await?,
                "created_at": role.get("created_at").cloned().unwrap_or(Value::Null),
                "updated_at": role.get("updated_at").cloned().unwrap_or(Value::Null),
            }));
        }
        Ok(json!({ "roles": roles }))
    }

    /// `GET /roles/search`: the roles `list_roles` gives whose name starts with `query` (ignoring
    /// case), ascending by name after `name_gt`; `role_type` keeps user- or channel-assignable ones
    /// (custom roles are both), and `global_` roles only with `include_global_roles`.
    pub async fn search_roles(
        &self,
        app: &App,
        request: &crate::requests::SearchRolesRequest,
    ) -> ChatResult<Value> {
        const OP: &str = "SearchRoles";
        let query = request.query.as_deref().unwrap_or_default().to_lowercase();
        if query.is_empty() || query.chars().count() > MAX_ROLE_QUERY_LENGTH {
            return Err(ApiError::input(format!(
                "query is required and at most {MAX_ROLE_QUERY_LENGTH} characters"
            ))
            .in_operation(OP));
        }
        let limit = request.limit.unwrap_or(DEFAULT_ROLE_SEARCH_LIMIT);
        if !(1..=MAX_ROLE_SEARCH_LIMIT).contains(&limit) {
            return Err(ApiError::input(format!(
                "limit must be between 1 and {MAX_ROLE_SEARCH_LIMIT}"
            ))
            .in_operation(OP));
        }
        let channel_side = match request.role_type.as_deref() {
            None | Some("") => None,
            Some("user") => Some(false),
            Some("channel") => Some(true),
            Some(other) => {
                return Err(ApiError::input(format!(
                    "role_type must be user or channel, not {other:?}"
                ))
                .in_operation(OP))
            }
        };
        let listed = self.list_roles(app).await?;
        let mut roles: Vec<Value> = listed
            .get("roles")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|role| {
                let name = role.get("name").and_then(Value::as_str).unwrap_or_default();
                let custom = role.get("custom").and_then(Value::as_bool).unwrap_or(false);
                let side_matches = match channel_side {
                    None => true,
                    Some(channel) => custom || CHANNEL_ROLES.contains(&name) == channel,
                };
                name.to_lowercase().starts_with(&query)
                    && side_matches
                    && (request.include_global_roles || !name.starts_with("global_"))
                    && request.name_gt.as_deref().is_none_or(|after| name > after)
            })
            .collect();
        roles.sort_by(|a, b| {
            let name = |role: &Value| role.get("name").and_then(Value::as_str).map(str::to_owned);
            name(a).cmp(&name(b))
        });
        roles.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(json!({ "roles": roles }))
    }

    /// `POST /roles`: a new custom role without grants.
    pub async fn create_role(&self, app: &App, name: Option<&str>) -> ChatResult<Value> {
        const OP: &str = "CreateRole";
        let name = name.unwrap_or_default();
        validate_name(name).map_err(|e| e.in_operation(OP))?;
        let app = self.fresh_app(app, OP).await?;
        if role_exists(&app, name) {
            return Err(ApiError::input(format!("role {name:?} already exists")).in_operation(OP));
        }
        let mut roles = custom_roles(&app.settings);
        if roles.len() >= MAX_CUSTOM_ROLES {
            return Err(ApiError::input(format!(
                "an app can have at most {MAX_CUSTOM_ROLES} custom roles"
            ))
            .in_operation(OP));
        }
        let now = eddy_protocol::time::format(&Utc::now());
        let mut role = Map::new();
        role.insert("name".into(), json!(name));
        role.insert("created_at".into(), json!(now));
        role.insert("updated_at".into(), json!(now));
        roles.push(role);
        self.save_custom_roles(&app, roles, OP).await?;
        Ok(json!({ "role": {
            "name": name,
            "custom": true,
            "scopes": [],
            "created_at": now,
            "updated_at": now,
        }}))
    }

    /// `DELETE /roles/{name}`: only custom roles that no user holds and no grants name.
    pub async fn delete_role(&self, app: &App, name: &str) -> ChatResult<Value> {
        const OP: &str = "DeleteRole";
        if GRANT_ROLES.contains(&name) {
            return Err(ApiError::input(format!(
                "role {name:?} is built in and cannot be deleted"
            ))
            .in_operation(OP));
        }
        let app = self.fresh_app(app, OP).await?;
        let mut roles = custom_roles(&app.settings);
        let before = roles.len();
        roles.retain(|r| role_name(r) != name);
        if roles.len() == before {
            return Err(
                ApiError::not_found(format!("role {name:?} does not exist")).in_operation(OP)
            );
        }
        let filter =
            eddy_query::parse_filter(&json!({ "role": name }), &eddy_store::schemas::USERS)
                .map_err(|e| ApiError::input(e.to_string()).in_operation(OP))?;
        let holders = self
            .store
            .query_users(
                app.id,
                &ListQuery {
                    filter,
                    sort: Vec::new(),
                    limit: 1,
                    offset: 0,
                },
                true,
            )
            .await
            .map_err(store_error(OP))?;
        if let Some(holder) = holders.first() {
            return Err(ApiError::input(format!(
                "role {name:?} is still held by users (e.g. {}); give them another role first",
                holder.id
            ))
            .in_operation(OP));
        }
        let scopes = self.role_scopes(&app, name).await?;
        if !scopes.is_empty() {
            return Err(ApiError::input(format!(
                "role {name:?} still has grants in {}; remove them first",
                scopes.join(", ")
            ))
            .in_operation(OP));
        }
        self.save_custom_roles(&app, roles, OP).await?;
        Ok(json!({}))
    }

    async fn save_custom_roles(
        &self,
        app: &App,
        roles: Vec<Map<String, Value>>,
        operation: &'static str,
    ) -> ChatResult<()> {
        let mut settings = app.settings.clone();
        settings.insert(
            CUSTOM_ROLES_KEY.into(),
            Value::Array(roles.into_iter().map(Value::Object).collect()),
        );
        self.store
            .update_app_settings(app.id, &settings)
            .await
            .map_err(store_error(operation))?;
        self.apps.invalidate(&app.api_key);
        Ok(())
    }

    /// `GET /permissions`: every permission eddy knows.
    pub fn list_permissions(&self) -> Value {
        let all: Vec<Value> = permissions::all().iter().map(render_permission).collect();
        json!({ "permissions": all })
    }

    /// `GET /permissions/{id}`.
    pub fn get_permission(&self, id: &str) -> ChatResult<Value> {
        let permission = permissions::find(id).ok_or_else(|| {
            ApiError::not_found(format!("permission {id:?} does not exist"))
                .in_operation("GetPermission")
        })?;
        Ok(json!({ "permission": render_permission(&permission) }))
    }
}

/// Custom permissions are not kept: create, update and delete answer code 4.
pub fn custom_permissions_unsupported(operation: &str) -> ApiError {
    ApiError::input("custom permissions are not supported by eddy; use the built-in ones")
        .in_operation(operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked() {
        assert!(validate_name("special_agent").is_ok());
        assert!(validate_name("Agent-7").is_ok());
        assert_eq!(validate_name("").map_err(|e| e.code.code()), Err(4));
        assert_eq!(
            validate_name("has space").map_err(|e| e.code.code()),
            Err(4)
        );
        assert_eq!(validate_name("dot.ted").map_err(|e| e.code.code()), Err(4));
        assert!(validate_name(&"r".repeat(64)).is_ok());
        assert_eq!(
            validate_name(&"r".repeat(65)).map_err(|e| e.code.code()),
            Err(4)
        );
    }
}
