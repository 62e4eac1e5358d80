//! The HTTP and WebSocket edge: one route table, authentication, request parsing and Stream's error JSON.

mod context;
mod reply;
mod routes;
mod socket;

pub use routes::router;

use eddy_chat::Chat;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}
