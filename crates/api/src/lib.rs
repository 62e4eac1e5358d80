//! The HTTP and WebSocket edge: one route table, authentication, request parsing and Stream's error JSON.

mod context;
pub mod longpoll;
mod metrics;
mod rate_limit;
mod reply;
mod roles;
mod routes;
mod socket;
pub mod v2;
mod video;

pub use rate_limit::RateLimiter;
pub use routes::router;

use eddy_chat::Chat;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub video: eddy_video::Video,
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    pub rate_limiter: Arc<RateLimiter>,
    pub longpoll: Arc<longpoll::LongPollSessions>,
}
