//! User blocks: a user stops getting another user's messages over the socket and in unread counts (`/users/block`, `/users/unblock`).

use crate::requests::BlockUserRequest;
use crate::{store_error, Actor, Chat, ChatResult};
use chrono::Utc;
use eddy_protocol::ApiError;
use eddy_store::{AppId, Block, User};
use serde_json::{json, Value};

impl Chat {
    /// The user a block request acts for: the token's user, or `user_id`/`user` on server calls.
    async fn blocking_user(
        &self,
        app: AppId,
        actor: &Actor,
        request: &BlockUserRequest,
        operation: &'static str,
    ) -> ChatResult<User> {
        if matches!(actor, Actor::Anonymous) {
            return Err(
                ApiError::not_allowed("anonymous users cannot block users").in_operation(operation)
            );
        }
        self.required_user(
            app,
            actor,
            request.user_id.as_deref().filter(|id| !id.is_empty()),
            request.user.as_ref(),
            operation,
        )
        .await
    }

    /// `blocked_user_id`, which must be given and not empty.
    fn blocked_id(request: &BlockUserRequest, operation: &'static str) -> ChatResult<String> {
        request
            .blocked_user_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ApiError::input("blocked_user_id is required").in_operation(operation))
    }

    /// `POST /users/block`: blocking again answers the first block.
    pub async fn block_user(
        &self,
        app: AppId,
        actor: &Actor,
        request: BlockUserRequest,
    ) -> ChatResult<Value> {
        const OP: &str = "BlockUsers";
        let blocked_id = Self::blocked_id(&request, OP)?;
        let user = self.blocking_user(app, actor, &request, OP).await?;
        if blocked_id == user.id {
            return Err(ApiError::input("a user cannot block themselves").in_operation(OP));
        }
        if self.user(app, &blocked_id).await?.is_none() {
            return Err(
                ApiError::input(format!("user {blocked_id} does not exist")).in_operation(OP)
            );
        }
        let block = self
            .store
            .put_block(
                app,
                &Block {
                    user_id: user.id.clone(),
                    blocked_user_id: blocked_id,
                    created_at: Utc::now(),
                },
            )
            .await
            .map_err(store_error(OP))?;
        let at = eddy_protocol::time::format(&block.created_at);
        // The JS SDK's type names the time `blocked_at`; the API names it `created_at`.
        Ok(json!({
            "blocked_by_user_id": block.user_id,
            "blocked_user_id": block.blocked_user_id,
            "created_at": at,
            "blocked_at": at,
        }))
    }

    /// `POST /users/unblock`: lifting a block that does not exist changes nothing.
    pub async fn unblock_user(
        &self,
        app: AppId,
        actor: &Actor,
        request: BlockUserRequest,
    ) -> ChatResult<Value> {
        const OP: &str = "UnblockUsers";
        let blocked_id = Self::blocked_id(&request, OP)?;
        let user = self.blocking_user(app, actor, &request, OP).await?;
        self.store
            .remove_block(app, &user.id, &blocked_id)
            .await
            .map_err(store_error(OP))?;
        Ok(json!({}))
    }

    /// `GET /users/block`: the blocks the user made, oldest first, with both users.
    pub async fn blocked_users(
        &self,
        app: AppId,
        actor: &Actor,
        user_id: Option<&str>,
    ) -> ChatResult<Value> {
        const OP: &str = "GetBlockedUsers";
        let request = BlockUserRequest {
            user_id: user_id.map(str::to_owned),
            ..BlockUserRequest::default()
        };
        let user = self.blocking_user(app, actor, &request, OP).await?;
        let blocks = self
            .store
            .blocks_by(app, &user.id)
            .await
            .map_err(store_error(OP))?;
        let mut ids: Vec<String> = blocks.iter().map(|b| b.blocked_user_id.clone()).collect();
        ids.push(user.id.clone());
        let users = self.load_users(app, ids).await?;
        let rendered: Vec<Value> = blocks
            .iter()
            .map(|block| {
                json!({
                    "user_id": block.user_id,
                    "user": users.get(&block.user_id),
                    "blocked_user_id": block.blocked_user_id,
                    "blocked_user": users.get(&block.blocked_user_id),
                    "created_at": eddy_protocol::time::format(&block.created_at),
                })
            })
            .collect();
        Ok(json!({ "blocks": rendered }))
    }

    /// The ids `user_id` blocked, as `me.blocked_user_ids` lists them (empty if the store fails).
    pub(crate) async fn blocked_user_ids(&self, app: AppId, user_id: &str) -> Vec<String> {
        match self.store.blocks_by(app, user_id).await {
            Ok(blocks) => blocks.into_iter().map(|b| b.blocked_user_id).collect(),
            Err(error) => {
                tracing::warn!(%error, "blocked users not read");
                Vec::new()
            }
        }
    }

    /// The users who blocked `user_id`, kept out of that user's message events. A store failure
    /// is logged and delivers to everyone rather than failing a message that is already stored.
    pub(crate) async fn blockers_of(&self, app: AppId, user_id: &str) -> Vec<String> {
        match self.store.blockers_of(app, user_id).await {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error, "blockers not read; delivering to everyone");
                Vec::new()
            }
        }
    }
}
