//! W3 room: one livestream channel, W watchers on their own WebSockets, one REST sender at R msg/s; end-to-end latency, loss and server cost.

use crate::api::{now_ns, payload_text, user_token, Api};
use crate::report::{round, Block, Latency};
use crate::server::{own_cpu_seconds, Kind, Nodes};
use crate::socket::{connect, open_fleet, ClientSpec, Shared};
use crate::{Common, Result, Verdict};
use futures::SinkExt;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const CHANNEL: &str = "room";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Watchers (distinct users, one WebSocket each).
    #[arg(long, short = 'w', default_value_t = 1000)]
    pub watchers: usize,
    /// Messages per second from the one sender.
    #[arg(long, short = 'r', default_value_t = 100)]
    pub rate: u32,
    /// Seconds of sending.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 200)]
    pub text_bytes: usize,
    /// Most sends in flight at once (a slow answer must not slow the schedule).
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// Seconds to wait for outstanding deliveries after the last send answered.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Seconds to let the watch-start events drain before sending.
    #[arg(long, default_value_t = 2)]
    pub settle: u64,
    /// Measure the floor instead: a bare tokio-tungstenite broadcast server; the sender sends over a WebSocket.
    #[arg(long)]
    pub floor: bool,
    #[command(flatten)]
    pub common: Common,
}

struct Sent {
    micros: u32,
    error: Option<String>,
}

pub async fn run(args: Args) -> Result<Verdict> {
    if args.watchers == 0 || args.rate == 0 || args.duration == 0 {
        return Err("--watchers, --rate and --duration must be at least 1".into());
    }
    let messages = usize::try_from(u64::from(args.rate) * args.duration)?;
    let kind = if args.floor { Kind::Floor } else { Kind::Eddy };
    let server = Nodes::start_kind(&args.common, kind).await?;
    let api = Api::new(&server.first().url)?;
    // u0 sends; u1..=uW watch.
    let users: Vec<String> = (0..=args.watchers).map(|i| format!("u{i}")).collect();
    if !args.floor {
        api.create_users(&users).await?;
        api.create_channel("livestream", CHANNEL, "u0", &[]).await?;
    }

    let shared = Arc::new(Shared {
        nodes: server.endpoints()?,
        setup_gate: Semaphore::new(args.common.setup_concurrency.max(1)),
        delivered: AtomicU64::new(0),
        messages,
        watch: !args.floor,
    });
    let specs = users
        .iter()
        .skip(1)
        .enumerate()
        .map(|(i, user)| ClientSpec {
            user: user.clone(),
            kind: "livestream",
            channel: CHANNEL.into(),
            node: i,
        })
        .collect();
    eprintln!("w3: opening {} watchers", args.watchers);
    let fleet = open_fleet(&shared, specs).await;
    let watchers = fleet.connected;
    let first_setup_error = fleet.first_setup_error.clone();
    tokio::time::sleep(Duration::from_secs(args.settle)).await;

    eprintln!(
        "w3: sending {messages} messages at {} msg/s to {watchers} watchers",
        args.rate
    );
    let expected = u64::try_from(messages * watchers)?;
    let server_start = server.sample()?;
    let bench_cpu_start = own_cpu_seconds();
    let started = Instant::now();
    let sends = if args.floor {
        send_over_socket(&shared, &args, messages).await?
    } else {
        send_at_rate(&api, &args, messages).await
    };
    let send_seconds = started.elapsed().as_secs_f64();
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain);
    while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let window_seconds = started.elapsed().as_secs_f64();
    let server_end = server.sample()?;
    let bench_cpu = own_cpu_seconds() - bench_cpu_start;

    let reports = fleet.finish().await;
    let mut latencies = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let mut duplicates = 0u64;
    let mut unexpected = 0u64;
    let mut bad_frames = 0u64;
    let mut dropped = Vec::new();
    let mut complete_watchers = 0usize;
    for report in reports {
        if report.setup_error.is_some() {
            continue;
        }
        duplicates += report.duplicates;
        unexpected += report.unexpected;
        bad_frames += report.bad_frames;
        if report.latencies_us.len() == messages {
            complete_watchers += 1;
        }
        if let Some(reason) = report.dropped {
            dropped.push(reason);
        }
        latencies.extend(report.latencies_us);
    }
    let delivered = u64::try_from(latencies.len())?;
    let loss = expected.saturating_sub(delivered);
    let latency = Latency::from_micros(latencies);
    let send_errors: Vec<&str> = sends.iter().filter_map(|s| s.error.as_deref()).collect();
    let send_latency = Latency::from_micros(sends.iter().map(|s| s.micros).collect());
    let cpu = server_end.cpu_seconds - server_start.cpu_seconds;
    let per_100k = if delivered == 0 {
        0.0
    } else {
        cpu * 100_000.0 / delivered as f64
    };
    let per_cpu_second = if cpu > 0.0 {
        delivered as f64 / cpu
    } else {
        0.0
    };
    let log_lines = server.log_tail(1000).len();
    let passed = loss == 0
        && duplicates == 0
        && unexpected == 0
        && send_errors.is_empty()
        && watchers == args.watchers
        && dropped.is_empty();

    let title = if args.floor {
        "W3 room (floor: bare tokio-tungstenite broadcast, no storage)"
    } else {
        "W3 room"
    };
    let mut block = Block::new("w3", title);
    block
        .line("server", if args.floor { "floor" } else { "eddy" })
        .line(
            "shape",
            format!(
                "{watchers}/{} watchers of livestream:{CHANNEL}, {messages} messages of {} bytes at {} msg/s (achieved {:.1}/s)",
                args.watchers,
                args.text_bytes,
                args.rate,
                messages as f64 / send_seconds.max(0.001)
            ),
        )
        .line("latency", latency.line())
        .line(
            "deliveries",
            format!(
                "{delivered} of {expected} expected, {:.0}/s over {window_seconds:.2} s",
                delivered as f64 / window_seconds.max(0.001)
            ),
        )
        .line(
            "loss / dups",
            format!(
                "loss {loss}, duplicates {duplicates}, unexpected {unexpected}, unparsable frames {bad_frames}, watchers with every message {complete_watchers}"
            ),
        )
        .line(
            "server CPU",
            format!(
                "{cpu:.2} CPU-s, {per_100k:.3} CPU-s per 100k deliveries, {per_cpu_second:.0} deliveries per CPU-s"
            ),
        )
        .line(
            "server RSS",
            format!(
                "{} KiB now, peak (VmHWM) {} KiB",
                server_end.rss_kib, server_end.hwm_kib
            ),
        )
        .line("bench CPU", format!("{bench_cpu:.2} CPU-s"))
        .line(
            "sends",
            format!("{} errors; send call {}", send_errors.len(), send_latency.line()),
        )
        .line(
            "connections",
            format!(
                "{} setup errors, {} dropped during the run{}",
                args.watchers - watchers,
                dropped.len(),
                dropped
                    .first()
                    .map(|d| format!(" (first: {d})"))
                    .unwrap_or_default()
            ),
        )
        .line("server log", format!("{log_lines} warning/error lines"))
        .line("result", if passed { "PASS" } else { "FAIL" });
    if let Some(error) = send_errors.first() {
        block.line("first send error", (*error).to_owned());
    }
    if let Some(error) = &first_setup_error {
        block.line("first setup error", error.clone());
    }
    block
        .field("server", json!(if args.floor { "floor" } else { "eddy" }))
        .field("watchers", json!(watchers))
        .field("nodes", json!(server.servers.len()))
        .field("cluster", json!(args.common.cluster.is_some()))
        .field("rate", json!(args.rate))
        .field("messages", json!(messages))
        .field("latency", latency.json())
        .field("expected", json!(expected))
        .field("delivered", json!(delivered))
        .field(
            "deliveries_per_s",
            json!(round(delivered as f64 / window_seconds.max(0.001))),
        )
        .field("loss", json!(loss))
        .field("duplicates", json!(duplicates))
        .field("server_cpu_s", json!(round(cpu)))
        .field("server_cpu_s_per_100k", json!(round(per_100k)))
        .field("deliveries_per_server_cpu_s", json!(per_cpu_second.round()))
        .field("vmhwm_kib", json!(server_end.hwm_kib))
        .field("bench_cpu_s", json!(round(bench_cpu)))
        .field("send_errors", json!(send_errors.len()))
        .field("send_latency", send_latency.json())
        .field("dropped", json!(dropped.len()))
        .field("server_log_lines", json!(log_lines))
        .field("pass", json!(passed));
    block.print();
    Ok(passed)
}

/// Sends `messages` messages on a fixed schedule; each send runs in its own task so a slow answer
/// does not delay the next one (up to `max_in_flight` at once).
async fn send_at_rate(api: &Api, args: &Args, messages: usize) -> Vec<Sent> {
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let gate = Arc::new(Semaphore::new(args.max_in_flight.max(1)));
    let mut tasks = Vec::with_capacity(messages);
    for seq in 0..messages {
        ticker.tick().await;
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let api = api.clone();
        let text = payload_text(seq as u64, args.text_bytes);
        tasks.push(tokio::spawn(async move {
            let sent_at = now_ns();
            let started = Instant::now();
            let answer = api
                .send_message(
                    "livestream",
                    CHANNEL,
                    "u0",
                    &text,
                    &[("sent_at_ns", json!(sent_at)), ("bench_seq", json!(seq))],
                )
                .await;
            let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            drop(permit);
            let error = match answer {
                Ok(answer) if answer.ok() => None,
                Ok(answer) => Some(format!("HTTP {} {}", answer.status, answer.body)),
                Err(e) => Some(e.to_string()),
            };
            Sent { micros, error }
        }));
    }
    let mut sent = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => sent.push(result),
            Err(e) => sent.push(Sent {
                micros: 0,
                error: Some(format!("send task failed: {e}")),
            }),
        }
    }
    sent
}

/// The floor's sender: frames shaped like a `message.new` over its own WebSocket, on the same schedule.
async fn send_over_socket(shared: &Shared, args: &Args, messages: usize) -> Result<Vec<Sent>> {
    let node = shared.nodes.first().ok_or("no server")?;
    let (mut socket, _) = connect(node, "u0", &user_token("u0")?).await?;
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = Vec::with_capacity(messages);
    for seq in 0..messages {
        ticker.tick().await;
        let frame = json!({
            "type": "message.new",
            "cid": format!("livestream:{CHANNEL}"),
            "message": {
                "id": format!("floor-{seq}"),
                "text": payload_text(seq as u64, args.text_bytes),
                "sent_at_ns": now_ns(),
                "bench_seq": seq,
            },
        });
        let started = Instant::now();
        let error = socket
            .send(Message::Text(frame.to_string()))
            .await
            .err()
            .map(|e| e.to_string());
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        sent.push(Sent { micros, error });
    }
    Ok(sent)
}
