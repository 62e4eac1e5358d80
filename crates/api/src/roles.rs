//! Routes of roles and permissions (`/roles`, `/permissions`): server-side only, like app settings.

use crate::context::RequestContext;
use crate::reply::Outcome;
use crate::routes::answer;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// The routes this module serves, merged into the main table.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/roles", get(list_roles).post(create_role))
        .route("/roles/search", get(search_roles))
        .route("/roles/{name}", axum::routing::delete(delete_role))
        .route(
            "/permissions",
            get(list_permissions).post(create_permission),
        )
        .route(
            "/permissions/{id}",
            get(get_permission)
                .put(update_permission)
                .delete(delete_permission),
        )
}

#[derive(Deserialize, Default)]
struct CreateRole {
    #[serde(default)]
    name: Option<String>,
}

async fn list_roles(State(state): State<AppState>, context: RequestContext) -> Outcome {
    context.require_server("ListRoles")?;
    let result = state.chat.list_roles(&context.app).await;
    answer(&context, StatusCode::OK, result)
}

/// Users may search too: Stream offers it to clients for mention autocomplete.
async fn search_roles(State(state): State<AppState>, context: RequestContext) -> Outcome {
    let text = |name: &str| context.param(name).map(str::to_owned);
    let limit = match context.param("limit").map(str::parse::<i64>) {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(_)) => {
            return Err(context.fail(
                eddy_protocol::ApiError::input("limit must be an integer")
                    .in_operation("SearchRoles"),
            ))
        }
    };
    let request = eddy_chat::requests::SearchRolesRequest {
        query: text("query"),
        limit,
        name_gt: text("name_gt"),
        role_type: text("role_type"),
        include_global_roles: context.flag("include_global_roles"),
    };
    let result = state.chat.search_roles(&context.app, &request).await;
    answer(&context, StatusCode::OK, result)
}

async fn create_role(
    State(state): State<AppState>,
    context: RequestContext,
    body: Bytes,
) -> Outcome {
    context.require_server("CreateRole")?;
    let request: CreateRole = context.body(&body)?;
    let result = state
        .chat
        .create_role(&context.app, request.name.as_deref())
        .await;
    answer(&context, StatusCode::CREATED, result)
}

async fn delete_role(
    State(state): State<AppState>,
    context: RequestContext,
    Path(name): Path<String>,
) -> Outcome {
    context.require_server("DeleteRole")?;
    let result = state.chat.delete_role(&context.app, &name).await;
    answer(&context, StatusCode::OK, result)
}

async fn list_permissions(State(state): State<AppState>, context: RequestContext) -> Outcome {
    context.require_server("ListPermissions")?;
    let result = Ok(state.chat.list_permissions());
    answer(&context, StatusCode::OK, result)
}

async fn get_permission(
    State(state): State<AppState>,
    context: RequestContext,
    Path(id): Path<String>,
) -> Outcome {
    context.require_server("GetPermission")?;
    let result = state.chat.get_permission(&id);
    answer(&context, StatusCode::OK, result)
}

async fn create_permission(context: RequestContext) -> Outcome {
    context.require_server("CreatePermission")?;
    Err(context.fail(eddy_chat::custom_permissions_unsupported(
        "CreatePermission",
    )))
}

async fn update_permission(context: RequestContext, Path(_id): Path<String>) -> Outcome {
    context.require_server("UpdatePermission")?;
    Err(context.fail(eddy_chat::custom_permissions_unsupported(
        "UpdatePermission",
    )))
}

async fn delete_permission(context: RequestContext, Path(_id): Path<String>) -> Outcome {
    context.require_server("DeletePermission")?;
    Err(context.fail(eddy_chat::custom_permissions_unsupported(
        "DeletePermission",
    )))
}
