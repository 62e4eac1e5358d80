//! Domain vocabulary without IO: validated ids, JWT verification, channel-type configs, default grants and the permission catalogue.

pub mod auth;
pub mod config;
pub mod grants;
pub mod ids;
pub mod permissions;

pub use ids::{ChannelId, ChannelTypeName, Cid, IdError, MessageId, UserId};
