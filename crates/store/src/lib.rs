//! The storage contract: records, atomic domain operations by aggregate, and the backends that implement them.

mod batch_pages;
mod call_query;
mod channel_query;
mod contract;
mod encoding;
mod import;
mod model;
mod moderation_query;
mod pinned;
pub mod postgres;
pub mod schemas;
mod search_order;
pub mod sqlite;
#[cfg(test)]
mod suite;
mod thread_query;

pub use contract::{
    AppStore, BlockStore, BlocklistStore, BulkStore, CallStore, ChannelStore, EventLog,
    MessageStore, ModerationStore, MuteStore, Store, StoreError, UserStore,
};
pub use encoding::{ban_mirror, BAN_MIRROR_KEYS};
pub use model::*;
