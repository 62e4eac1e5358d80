//! `GET /metrics`: this node's gauges and counters in Prometheus' text format (connections, the
//! other nodes it hears from, the event bus's connection), for scrapers and for operators' eyes.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let chat = &state.chat;
    let mut out = String::new();
    metric(
        &mut out,
        "eddy_websocket_connections",
        "gauge",
        "Live WebSocket connections on this node.",
        chat.hub.connection_count() as u64,
    );
    metric(
        &mut out,
        "eddy_cluster_nodes",
        "gauge",
        "Other nodes this node hears reports from.",
        chat.hub.remote_node_count() as u64,
    );
    if let Some(bus) = chat.bus.health() {
        metric(
            &mut out,
            "eddy_bus_connected",
            "gauge",
            "1 while the event bus (NATS) is connected, 0 while it reconnects.",
            u64::from(!bus.disconnected),
        );
        metric(
            &mut out,
            "eddy_bus_reconnects_total",
            "counter",
            "Event bus connections made after the first.",
            bus.reconnects,
        );
        metric(
            &mut out,
            "eddy_bus_disconnects_total",
            "counter",
            "Event bus connections lost.",
            bus.disconnects,
        );
        metric(
            &mut out,
            "eddy_bus_publish_failures_total",
            "counter",
            "Events the bus could not publish (dropped; the requests that caused them succeeded).",
            bus.publish_failures,
        );
        metric(
            &mut out,
            "eddy_bus_decode_errors_total",
            "counter",
            "Messages on the bus subject that were not readable envelopes (skipped).",
            bus.decode_errors,
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
