//! The node's connection hub: who is connected, who watches which channel, and routing bus envelopes to sockets.
//!
//! Invariants: per-connection queues are bounded (a connection whose queue overflows is closed, never
//! buffered without limit); one envelope is serialised once and shared by every recipient without personal
//! fields; the hub never touches the store.

mod hub;

pub use hub::{ConnectionHandle, Hub, Outbound, Unwatched, WatchChange, QUEUE_CAPACITY};

/// Feeds every envelope from the bus to this node's hub until the bus closes.
pub async fn run_delivery(hub: std::sync::Arc<Hub>, mut subscription: eddy_bus::Subscription) {
    while let Some(envelope) = subscription.next().await {
        hub.deliver(&envelope);
    }
}
