//! Push devices: register, list and remove a user's devices (`me.devices` lists them too).

use crate::requests::CreateDevice;
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_protocol::ApiError;
use eddy_store::{AppId, Device, StoreError};
use serde_json::{json, Value};

const PROVIDERS: [&str; 4] = ["firebase", "apn", "huawei", "xiaomi"];

pub(crate) fn device_json(device: &Device) -> Value {
    let mut out = json!({
        "id": device.id,
        "user_id": device.user_id,
        "push_provider": device.push_provider,
        "created_at": eddy_protocol::time::format(&device.created_at),
        "disabled": false,
    });
    if let Some(name) = &device.push_provider_name {
        out["push_provider_name"] = json!(name);
    }
    out
}

impl Chat {
    /// `POST /devices` (and the `device` of a connect request); registering again changes nothing.
    pub async fn create_device(
        &self,
        app: AppId,
        actor: &Actor,
        request: CreateDevice,
    ) -> ChatResult<Value> {
        const OP: &str = "CreateDevice";
        let user = self
            .required_user(app, actor, request.user_id.as_deref(), None, OP)
            .await?;
        if request.id.is_empty() || request.id.len() > 255 {
            return Err(ApiError::input("id must be 1 to 255 characters").in_operation(OP));
        }
        if !PROVIDERS.contains(&request.push_provider.as_str()) {
            return Err(ApiError::input(format!(
                "push_provider must be one of {}",
                PROVIDERS.join(", ")
            ))
            .in_operation(OP));
        }
        let device = Device {
            id: request.id,
            user_id: user.id,
            push_provider: request.push_provider,
            push_provider_name: request.push_provider_name.filter(|n| !n.is_empty()),
            created_at: Utc::now(),
        };
        self.store
            .add_device(app, &device)
            .await
            .map_err(store_error(OP))?;
        Ok(json!({}))
    }

    pub async fn list_devices(
        &self,
        app: AppId,
        actor: &Actor,
        user_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "ListDevices";
        let user = self.required_user(app, actor, user_id, None, OP).await?;
        let devices = self
            .store
            .devices(app, &user.id)
            .await
            .map_err(store_error(OP))?;
        Ok(json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() }))
    }

    pub async fn delete_device(
        &self,
        app: AppId,
        actor: &Actor,
        id: &str,
        user_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "DeleteDevice";
        let user = self.required_user(app, actor, user_id, None, OP).await?;
        self.store
            .delete_device(app, &user.id, id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => {
                    ApiError::not_found(format!("device {id} of user {} does not exist", user.id))
                        .in_operation(OP)
                }
                other => store_error(OP)(other),
            })?;
        Ok(json!({}))
    }
}
