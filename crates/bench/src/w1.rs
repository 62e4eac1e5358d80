//! W1 idle connections: memory per authenticated, watching WebSocket and the server's CPU while they sit idle.

use crate::api::Api;
use crate::report::Latency;
use crate::report::{round, Block};
use crate::server::{own_cpu_seconds, Kind, Server};
use crate::socket::{open_fleet, ClientSpec, Shared};
use crate::{Common, Result, Verdict};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::json;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Connections (distinct users, one WebSocket each).
    #[arg(long, short = 'n', default_value_t = 2000)]
    pub connections: usize,
    /// Seconds to stay idle after every client watches (health checks every 25 s when longer).
    #[arg(long, short = 's', default_value_t = 20)]
    pub seconds: u64,
    /// Livestream channels the clients are spread over (client i watches channel i mod C).
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Seconds to let the watch-start events drain before the "after" memory reading.
    #[arg(long, default_value_t = 3)]
    pub settle: u64,
    /// Measure the floor instead: a bare tokio-tungstenite server, no auth, no watch, no storage.
    #[arg(long)]
    pub floor: bool,
    #[command(flatten)]
    pub common: Common,
}

pub async fn run(args: Args) -> Result<Verdict> {
    if args.connections == 0 || args.channels == 0 {
        return Err("--connections and --channels must be at least 1".into());
    }
    let kind = if args.floor { Kind::Floor } else { Kind::Eddy };
    let server = Server::start(&args.common, kind).await?;
    let api = Api::new(&server.url)?;
    let users: Vec<String> = (0..args.connections).map(|i| format!("u{i}")).collect();
    let channels: Vec<String> = (0..args.channels).map(|i| format!("idle{i}")).collect();
    if !args.floor {
        api.create_users(&users).await?;
        stream::iter(channels.iter())
            .map(|id| {
                let api = api.clone();
                async move { api.create_channel("livestream", id, "u0", &[]).await }
            })
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.sample()?;

    let shared = Arc::new(Shared {
        nodes: vec![crate::socket::Endpoint {
            api: api.clone(),
            ws_base: server.ws_url(),
        }],
        setup_gate: Semaphore::new(args.common.setup_concurrency.max(1)),
        delivered: AtomicU64::new(0),
        messages: 0,
        watch: !args.floor,
    });
    let specs = users
        .iter()
        .enumerate()
        .map(|(i, user)| ClientSpec {
            user: user.clone(),
            kind: "livestream",
            channel: channels[i % channels.len()].clone(),
            node: 0,
        })
        .collect();
    eprintln!(
        "w1: opening {} connections over {} channels",
        args.connections, args.channels
    );
    let fleet = open_fleet(&shared, specs).await;
    let connected = fleet.connected;
    let setup_errors = fleet.setup_errors;
    let first_setup_error = fleet.first_setup_error.clone();
    let setup_seconds = fleet.setup_seconds;
    tokio::time::sleep(Duration::from_secs(args.settle)).await;

    let after_connect = server.sample()?;
    let bench_cpu_start = own_cpu_seconds();
    eprintln!("w1: idle for {} s", args.seconds);
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let idle_seconds = idle_started.elapsed().as_secs_f64();
    let after_idle = server.sample()?;
    let bench_cpu = own_cpu_seconds() - bench_cpu_start;

    let reports = fleet.finish().await;
    let dropped: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.dropped.as_deref())
        .collect();
    let connect = Latency::from_micros(
        reports
            .iter()
            .filter(|r| r.setup_error.is_none())
            .map(|r| r.connect_us)
            .collect(),
    );
    let watch = Latency::from_micros(
        reports
            .iter()
            .filter(|r| r.setup_error.is_none() && r.watch_us > 0)
            .map(|r| r.watch_us)
            .collect(),
    );
    let other_frames: u64 = reports.iter().map(|r| r.other_frames).sum();
    let bad_frames: u64 = reports.iter().map(|r| r.bad_frames).sum();
    let log_lines = server.log_tail(1000).len();

    let per_conn = |rss: u64| -> f64 {
        if connected == 0 {
            0.0
        } else {
            (rss as f64 - before.rss_kib as f64) / connected as f64
        }
    };
    let idle_cpu = after_idle.cpu_seconds - after_connect.cpu_seconds;
    let passed = setup_errors == 0 && dropped.is_empty();

    let title = if args.floor {
        "W1 idle connections (floor: bare tokio-tungstenite)"
    } else {
        "W1 idle connections"
    };
    let mut block = Block::new("w1", title);
    block
        .line("server", if args.floor { "floor" } else { "eddy" })
        .line(
            "clients",
            format!(
                "{connected} connected{}, {setup_errors} setup errors, over {} livestream channels, setup {setup_seconds:.2} s",
                if args.floor { "" } else { " + watching" },
                args.channels
            ),
        )
        .line(
            "setup",
            format!(
                "{:.0} clients/s; connect {}; watch {}",
                connected as f64 / setup_seconds.max(0.001),
                connect.line(),
                watch.line()
            ),
        )
        .line(
            "server RSS",
            format!(
                "before {} KiB, after connect {} KiB, after idle {} KiB, peak (VmHWM) {} KiB",
                before.rss_kib, after_connect.rss_kib, after_idle.rss_kib, after_idle.hwm_kib
            ),
        )
        .line(
            "per connection",
            format!(
                "{:.2} KiB after connect, {:.2} KiB after idle",
                per_conn(after_connect.rss_kib),
                per_conn(after_idle.rss_kib)
            ),
        )
        .line(
            "server CPU idle",
            format!(
                "{idle_cpu:.2} CPU-s over {idle_seconds:.1} s ({:.2}% of one core)",
                100.0 * idle_cpu / idle_seconds.max(0.001)
            ),
        )
        .line("bench CPU idle", format!("{bench_cpu:.2} CPU-s"))
        .line(
            "frames",
            format!("{other_frames} received (watch events, health checks), {bad_frames} unparsable"),
        )
        .line(
            "dropped",
            format!(
                "{} connections ended early{}",
                dropped.len(),
                dropped.first().map(|d| format!(" (first: {d})")).unwrap_or_default()
            ),
        )
        .line("server log", format!("{log_lines} warning/error lines"))
        .line("result", if passed { "PASS" } else { "FAIL" });
    if let Some(error) = &first_setup_error {
        block.line("first setup error", error.clone());
    }
    block
        .field("server", json!(if args.floor { "floor" } else { "eddy" }))
        .field("connections", json!(args.connections))
        .field("connected", json!(connected))
        .field("channels", json!(args.channels))
        .field("setup_errors", json!(setup_errors))
        .field("setup_s", json!(round(setup_seconds)))
        .field("connect_latency", connect.json())
        .field("watch_latency", watch.json())
        .field("idle_s", json!(round(idle_seconds)))
        .field("rss_before_kib", json!(before.rss_kib))
        .field("rss_after_connect_kib", json!(after_connect.rss_kib))
        .field("rss_after_idle_kib", json!(after_idle.rss_kib))
        .field("vmhwm_kib", json!(after_idle.hwm_kib))
        .field(
            "kib_per_connection",
            json!(round(per_conn(after_connect.rss_kib))),
        )
        .field(
            "kib_per_connection_after_idle",
            json!(round(per_conn(after_idle.rss_kib))),
        )
        .field("server_cpu_s_idle", json!(round(idle_cpu)))
        .field("bench_cpu_s_idle", json!(round(bench_cpu)))
        .field("dropped", json!(dropped.len()))
        .field("server_log_lines", json!(log_lines))
        .field("pass", json!(passed));
    block.print();
    Ok(passed)
}
