//! Chat services: every operation of the Chat API as one method that checks, stores and publishes events.
//!
//! Handlers call these with a typed request and an [`Actor`]; services reach data only through the
//! store contract and sockets only through the bus.

mod apps;
mod bans;
mod blocklists;
mod blocks;
mod caches;
mod channels;
mod context;
mod cursor;
mod delivery;
mod devices;
mod events;
mod messages;
mod moderation;
mod pinned;
mod presence;
mod render;
pub mod requests;
mod roles;
mod search;
pub mod slow_mode;
pub mod sync;
mod tasks;
mod teams;
mod threads;
mod users;

pub use context::{Actor, Chat};
pub use presence::OFFLINE_GRACE;
pub use roles::custom_permissions_unsupported;
pub use tasks::TaskRegistry;

use eddy_protocol::ApiError;
use eddy_store::StoreError;

pub type ChatResult<T> = Result<T, ApiError>;

/// The explicit mapping from storage failures to wire errors; unexpected ones are logged once here.
pub(crate) fn store_error(operation: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |error| match error {
        StoreError::NotFound => ApiError::not_found(format!("{operation}: not found")),
        StoreError::Conflict(message) => ApiError::input(message).in_operation(operation),
        StoreError::Query(message) => ApiError::input(message).in_operation(operation),
        StoreError::Backend(message) => {
            tracing::error!(operation, %message, "storage failure");
            ApiError::internal()
        }
    }
}
