//! W7 send throughput: REST sends into 100 messaging channels of 10 members from 32 concurrent senders, as fast as the server answers.

use crate::api::{now_ns, payload_text, Api};
use crate::report::{round, Block, Latency};
use crate::server::{own_cpu_seconds, Nodes};
use crate::{Common, Result, Verdict};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Messaging channels.
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Members per channel (distinct users; the first one is the sender).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Concurrent REST senders.
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
    /// Seconds of sending.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 200)]
    pub text_bytes: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Default)]
struct SenderReport {
    micros: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

pub async fn run(args: Args) -> Result<Verdict> {
    if args.channels == 0 || args.members == 0 || args.senders == 0 || args.duration == 0 {
        return Err("--channels, --members, --senders and --duration must be at least 1".into());
    }
    let server = Nodes::start(&args.common).await?;
    let api = Api::new(&server.first().url)?;
    // Senders spread over the nodes, as behind a load balancer.
    let node_apis = server
        .servers
        .iter()
        .map(|node| Api::new(&node.url))
        .collect::<Result<Vec<_>>>()?;
    let users: Vec<String> = (0..args.channels * args.members)
        .map(|i| format!("u{i}"))
        .collect();
    api.create_users(&users).await?;
    let members = args.members;
    stream::iter(0..args.channels)
        .map(|c| {
            let api = api.clone();
            let group = users[c * members..(c + 1) * members].to_vec();
            async move {
                api.create_channel("messaging", &format!("tp{c}"), &group[0], &group)
                    .await
            }
        })
        .buffer_unordered(args.common.setup_concurrency.clamp(1, 64))
        .try_collect::<Vec<()>>()
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!(
        "w7: {} senders into {} channels for {} s",
        args.senders, args.channels, args.duration
    );
    let server_start = server.sample()?;
    let bench_cpu_start = own_cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let tasks: Vec<_> = (0..args.senders)
        .map(|k| {
            let api = node_apis[k % node_apis.len()].clone();
            let channels = args.channels;
            let senders = args.senders;
            let text_bytes = args.text_bytes;
            tokio::spawn(async move {
                let mut report = SenderReport::default();
                let mut j = 0usize;
                while Instant::now() < deadline {
                    let c = (k + j * senders) % channels;
                    let seq = (j * senders + k) as u64;
                    j += 1;
                    let sender = format!("u{}", c * members);
                    let text = payload_text(seq, text_bytes);
                    let sent_at = now_ns();
                    let begun = Instant::now();
                    let answer = api
                        .send_message(
                            "messaging",
                            &format!("tp{c}"),
                            &sender,
                            &text,
                            &[("sent_at_ns", json!(sent_at))],
                        )
                        .await;
                    let micros = u32::try_from(begun.elapsed().as_micros()).unwrap_or(u32::MAX);
                    match answer {
                        Ok(answer) if answer.ok() => report.micros.push(micros),
                        Ok(answer) => {
                            let code = answer.body["code"].as_i64().unwrap_or(-1);
                            *report
                                .errors
                                .entry(format!("HTTP {} code {code}", answer.status))
                                .or_default() += 1;
                        }
                        Err(e) => *report.errors.entry(e.to_string()).or_default() += 1,
                    }
                }
                report
            })
        })
        .collect();
    let mut micros = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        match task.await {
            Ok(report) => {
                micros.extend(report.micros);
                for (kind, count) in report.errors {
                    *errors.entry(kind).or_default() += count;
                }
            }
            Err(e) => *errors.entry(format!("sender task: {e}")).or_default() += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let server_end = server.sample()?;
    let bench_cpu = own_cpu_seconds() - bench_cpu_start;

    let ok = micros.len();
    let error_count: u64 = errors.values().sum();
    let latency = Latency::from_micros(micros);
    let cpu = server_end.cpu_seconds - server_start.cpu_seconds;
    let rate = ok as f64 / seconds.max(0.001);
    let log_lines = server.log_tail(1000).len();
    let passed = error_count == 0;

    let mut block = Block::new("w7", "W7 send throughput");
    block
        .line(
            "shape",
            format!(
                "{} messaging channels x {} members, {} concurrent REST senders (server token), {:.2} s",
                args.channels, args.members, args.senders, seconds
            ),
        )
        .line(
            "nodes",
            match &args.common.cluster {
                Some(_) => format!("{} (PostgreSQL + NATS)", server.servers.len()),
                None => "1 (embedded SQLite, in-process bus)".to_owned(),
            },
        )
        .line("persisted sends", format!("{ok} ({rate:.0}/s)"))
        .line("send latency", latency.line())
        .line(
            "errors",
            if errors.is_empty() {
                "0".to_owned()
            } else {
                format!("{error_count}: {errors:?}")
            },
        )
        .line(
            "server CPU",
            format!(
                "{cpu:.2} CPU-s ({:.0} sends per CPU-s)",
                if cpu > 0.0 { ok as f64 / cpu } else { 0.0 }
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
        .line("server log", format!("{log_lines} warning/error lines"))
        .line("result", if passed { "PASS" } else { "FAIL" });
    block
        .field("channels", json!(args.channels))
        .field("members", json!(args.members))
        .field("senders", json!(args.senders))
        .field("nodes", json!(server.servers.len()))
        .field("cluster", json!(args.common.cluster.is_some()))
        .field("seconds", json!(round(seconds)))
        .field("persisted", json!(ok))
        .field("sends_per_s", json!(round(rate)))
        .field("latency", latency.json())
        .field("errors", json!(error_count))
        .field("server_cpu_s", json!(round(cpu)))
        .field("vmhwm_kib", json!(server_end.hwm_kib))
        .field("bench_cpu_s", json!(round(bench_cpu)))
        .field("server_log_lines", json!(log_lines))
        .field("pass", json!(passed));
    block.print();
    Ok(passed)
}
