//! The node's connection hub: who is connected, who watches which channel, and routing bus envelopes to sockets.
//!
//! Invariants: per-connection queues are bounded (a connection whose queue overflows is closed, never
//! buffered without limit); one envelope is serialised once and shared by every recipient without personal
//! fields; the hub never touches the store.

pub mod cluster;
mod hub;

pub use hub::{ConnectionHandle, Hub, Outbound, Unwatched, WatchChange, QUEUE_CAPACITY};

use cluster::{NodeReport, ReportBody, CHANGES_PER_REPORT, SNAPSHOT_EVERY};
use eddy_bus::{Audience, Bus, Envelope};
use std::sync::Arc;
use std::time::Duration;

/// Feeds every envelope from the bus to this node's hub until the bus closes: node reports to the
/// hub's view of the other nodes, events to sockets.
pub async fn run_delivery(hub: Arc<Hub>, mut subscription: eddy_bus::Subscription) {
    while let Some(envelope) = subscription.next().await {
        if envelope.audiences.contains(&Audience::Nodes) {
            match serde_json::from_str::<NodeReport>(&envelope.body) {
                Ok(report) => hub.apply_report(&report),
                Err(error) => tracing::warn!(%error, "unreadable node report skipped"),
            }
        } else {
            hub.deliver(&envelope);
        }
    }
}

/// How long changes are gathered into one report after the first of them.
const REPORT_GATHER: Duration = Duration::from_millis(5);

/// Tells the other nodes of a cluster, over the bus, who is online and who watches what on this
/// node: changes as they happen, the whole state every `SNAPSHOT_EVERY` (see `cluster`). Runs
/// until the task is dropped; only worth running when the bus reaches other nodes.
pub async fn run_cluster_reports(hub: Arc<Hub>, bus: Arc<dyn Bus>) {
    hub.start_reporting();
    let mut snapshot_timer = tokio::time::interval(SNAPSHOT_EVERY);
    loop {
        tokio::select! {
            () = hub.changes_ready() => {
                tokio::time::sleep(REPORT_GATHER).await;
                publish_changes(&hub, bus.as_ref(), hub.take_changes()).await;
            }
            _ = snapshot_timer.tick() => {
                let state = hub.snapshot();
                publish_report(&hub, bus.as_ref(), ReportBody::SnapshotBegin).await;
                publish_changes(&hub, bus.as_ref(), state).await;
                publish_report(&hub, bus.as_ref(), ReportBody::SnapshotEnd).await;
                let forgotten = hub.forget_silent_nodes();
                if forgotten > 0 {
                    tracing::warn!(forgotten, "nodes went silent; their connections are forgotten");
                }
            }
        }
    }
}

async fn publish_changes(hub: &Hub, bus: &dyn Bus, changes: Vec<cluster::Change>) {
    for chunk in changes.chunks(CHANGES_PER_REPORT) {
        let body = ReportBody::Changes {
            changes: chunk.to_vec(),
        };
        publish_report(hub, bus, body).await;
    }
}

async fn publish_report(hub: &Hub, bus: &dyn Bus, body: ReportBody) {
    let report = NodeReport {
        node: hub.node_id().to_owned(),
        body,
    };
    let text = match serde_json::to_string(&report) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!(%error, "node report did not serialise");
            return;
        }
    };
    let envelope = Envelope {
        app: 0,
        audiences: vec![Audience::Nodes],
        body: Arc::from(text),
        personal: Default::default(),
        except: Vec::new(),
    };
    if let Err(error) = bus.publish(envelope).await {
        tracing::warn!(%error, "node report not published");
    }
}
