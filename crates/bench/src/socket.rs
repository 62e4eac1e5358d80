//! WebSocket clients: one task per simulated user that connects, watches one channel, then reads and times events until told to stop.

use crate::api::{now_ns, urlencode, user_token, Api};
use crate::server::API_KEY;
use crate::Result;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Clients send a health check this often (Stream's SDKs use 25-30 s; the server drops silence after 70 s).
const HEALTH_EVERY: Duration = Duration::from_secs(25);
/// The health check frame the JS SDK sends.
const HEALTH_CHECK: &str = r#"[{"type":"health.check","client_id":"eddy-bench"}]"#;
/// Longest wait for a connect, the first frame or the watch call during setup.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Who a client is and what it watches.
pub struct ClientSpec {
    pub user: String,
    pub kind: &'static str,
    pub channel: String,
    /// Index of the node (in `Shared::nodes`) the client connects to.
    pub node: usize,
}

/// One node as clients reach it.
pub struct Endpoint {
    pub api: Api,
    pub ws_base: String,
}

/// What the clients share with the workload driver.
pub struct Shared {
    /// The nodes; clients spread over them, setup requests go to the first.
    pub nodes: Vec<Endpoint>,
    /// Bounds concurrent setups (connect + watch) so connect storms do not fail.
    pub setup_gate: Semaphore,
    /// First deliveries of bench messages, summed over all clients.
    pub delivered: AtomicU64,
    /// Messages the sender will send (sequence numbers 0..messages).
    pub messages: usize,
    /// Whether clients watch their channel over REST after connecting (the floor server has no REST).
    pub watch: bool,
}

/// One client's account of the run.
#[derive(Default)]
pub struct ClientReport {
    /// Latency of each first delivery, microseconds since `sent_at_ns`.
    pub latencies_us: Vec<u32>,
    /// Deliveries of a sequence number seen before.
    pub duplicates: u64,
    /// Bench messages whose sequence number is out of range (not sent by this run).
    pub unexpected: u64,
    /// Frames that were not bench `message.new` events (health checks, watching events).
    pub other_frames: u64,
    /// Frames that did not parse as JSON events.
    pub bad_frames: u64,
    /// Why the setup failed, if it did.
    pub setup_error: Option<String>,
    /// Why the connection ended before the stop signal, if it did.
    pub dropped: Option<String>,
    /// How long the WebSocket connect up to the first frame took, microseconds.
    pub connect_us: u32,
    /// How long the watch call took, microseconds.
    pub watch_us: u32,
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    message: Option<Probe>,
}

#[derive(Deserialize)]
struct Probe {
    sent_at_ns: Option<i64>,
    bench_seq: Option<u64>,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects `user` to a node, waits for the first `health.check`, returns the socket and its
/// connection id.
pub async fn connect(node: &Endpoint, user: &str, token: &str) -> Result<(Socket, String)> {
    let payload = json!({ "user_id": user, "user_details": { "id": user } });
    let url = format!(
        "{}/connect?json={}&api_key={API_KEY}&authorization={token}&stream-auth-type=jwt",
        node.ws_base,
        urlencode(&payload.to_string())
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let first: serde_json::Value = serde_json::from_str(&text)?;
                if first["type"] != "health.check" {
                    return Err(format!("first frame is not health.check: {text}").into());
                }
                let id = first["connection_id"]
                    .as_str()
                    .ok_or("health.check without connection_id")?
                    .to_owned();
                return Ok((socket, id));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed before health.check: {frame:?}").into())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("closed before health.check".into()),
        }
    }
}

async fn setup(shared: &Shared, spec: &ClientSpec, report: &mut ClientReport) -> Result<Socket> {
    let token = user_token(&spec.user)?;
    let started = Instant::now();
    let node = shared
        .nodes
        .get(spec.node % shared.nodes.len().max(1))
        .ok_or("no node to connect to")?;
    let (socket, connection_id) = connect(node, &spec.user, &token).await?;
    report.connect_us = micros(started);
    if shared.watch {
        let started = Instant::now();
        // The watch goes to the node holding the connection.
        node.api
            .watch(spec.kind, &spec.channel, &token, &connection_id)
            .await?;
        report.watch_us = micros(started);
    }
    Ok(socket)
}

/// Runs one client: setup (reported on `ready`), then reading until `stop` turns true.
async fn run_client(
    shared: Arc<Shared>,
    spec: ClientSpec,
    ready: mpsc::UnboundedSender<Option<String>>,
    mut stop: watch::Receiver<bool>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let socket = {
        let Ok(_permit) = shared.setup_gate.acquire().await else {
            report.setup_error = Some("setup gate closed".into());
            let _ = ready.send(report.setup_error.clone());
            return report;
        };
        match tokio::time::timeout(SETUP_TIMEOUT, setup(&shared, &spec, &mut report)).await {
            Ok(Ok(socket)) => socket,
            Ok(Err(e)) => {
                report.setup_error = Some(e.to_string());
                let _ = ready.send(report.setup_error.clone());
                return report;
            }
            Err(_) => {
                report.setup_error = Some("setup timed out".into());
                let _ = ready.send(report.setup_error.clone());
                return report;
            }
        }
    };
    let _ = ready.send(None);
    drop(ready);
    read_loop(&shared, socket, &mut stop, &mut report).await;
    report
}

async fn read_loop(
    shared: &Shared,
    mut socket: Socket,
    stop: &mut watch::Receiver<bool>,
    report: &mut ClientReport,
) {
    let mut seen = vec![0u8; shared.messages];
    let mut health =
        tokio::time::interval_at(tokio::time::Instant::now() + HEALTH_EVERY, HEALTH_EVERY);
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => on_text(shared, &text, &mut seen, report),
                Some(Ok(Message::Close(close))) => {
                    report.dropped = Some(format!("closed by server: {close:?}"));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    report.dropped = Some(e.to_string());
                    break;
                }
                None => {
                    report.dropped = Some("stream ended".into());
                    break;
                }
            },
            _ = health.tick() => {
                if let Err(e) = socket.send(Message::Text(HEALTH_CHECK.into())).await {
                    report.dropped = Some(format!("health check send failed: {e}"));
                    break;
                }
            }
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}

fn on_text(shared: &Shared, text: &str, seen: &mut [u8], report: &mut ClientReport) {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        report.bad_frames += 1;
        return;
    };
    let parsed_at = now_ns();
    let probe = match (frame.kind.as_ref(), frame.message) {
        ("message.new", Some(probe)) => probe,
        _ => {
            report.other_frames += 1;
            return;
        }
    };
    let (Some(seq), Some(sent)) = (probe.bench_seq, probe.sent_at_ns) else {
        report.other_frames += 1;
        return;
    };
    let Some(count) = usize::try_from(seq).ok().and_then(|i| seen.get_mut(i)) else {
        report.unexpected += 1;
        return;
    };
    *count = count.saturating_add(1);
    if *count > 1 {
        report.duplicates += 1;
        return;
    }
    let micros = (parsed_at - sent).max(0) / 1_000;
    report
        .latencies_us
        .push(u32::try_from(micros).unwrap_or(u32::MAX));
    shared.delivered.fetch_add(1, Ordering::Relaxed);
}

/// Clients that finished setup, plus what the setup cost.
pub struct Fleet {
    pub tasks: Vec<JoinHandle<ClientReport>>,
    pub stop: watch::Sender<bool>,
    pub connected: usize,
    pub setup_errors: usize,
    pub first_setup_error: Option<String>,
    pub setup_seconds: f64,
}

/// Starts one task per spec and waits until each has connected and watched (or failed).
pub async fn open_fleet(shared: &Arc<Shared>, specs: Vec<ClientSpec>) -> Fleet {
    let (stop, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let total = specs.len();
    let tasks: Vec<_> = specs
        .into_iter()
        .map(|spec| {
            tokio::spawn(run_client(
                shared.clone(),
                spec,
                ready_tx.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    drop(ready_tx);
    let mut fleet = Fleet {
        tasks,
        stop,
        connected: 0,
        setup_errors: 0,
        first_setup_error: None,
        setup_seconds: 0.0,
    };
    let mut last_note = Instant::now();
    while fleet.connected + fleet.setup_errors < total {
        let Some(outcome) = ready_rx.recv().await else {
            break;
        };
        match outcome {
            None => fleet.connected += 1,
            Some(error) => {
                fleet.setup_errors += 1;
                fleet.first_setup_error.get_or_insert(error);
            }
        }
        if last_note.elapsed() > Duration::from_secs(2) {
            eprintln!(
                "  setup: {} connected, {} failed of {total}",
                fleet.connected, fleet.setup_errors
            );
            last_note = Instant::now();
        }
    }
    fleet.setup_seconds = started.elapsed().as_secs_f64();
    fleet
}

impl Fleet {
    /// Tells every client to stop and collects their reports.
    pub async fn finish(self) -> Vec<ClientReport> {
        let _ = self.stop.send(true);
        let mut reports = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match task.await {
                Ok(report) => reports.push(report),
                Err(e) => reports.push(ClientReport {
                    dropped: Some(format!("client task failed: {e}")),
                    ..ClientReport::default()
                }),
            }
        }
        reports
    }
}
