//! Domain vocabulary without IO: validated ids, JWT verification, channel-type configs and default grants.

pub mod auth;
pub mod config;
pub mod grants;
pub mod ids;

pub use ids::{ChannelId, ChannelTypeName, Cid, IdError, MessageId, UserId};
