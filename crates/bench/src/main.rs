//! `eddy-bench`: starts a release `eddy` on loopback in a fresh data dir and runs one named workload (W1, W3, W7, W8) against it.

mod api;
mod floor;
mod report;
mod server;
mod socket;
mod w1;
mod w3;
mod w7;
mod w8;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Parser)]
#[command(
    name = "eddy-bench",
    version,
    about = "Named benchmark workloads for eddy (see docs/benchmarks.md)"
)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// W1 idle connections: N authenticated WebSockets each watching a livestream channel, idle S seconds.
    W1(w1::Args),
    /// W3 room: W watchers of one livestream channel, one REST sender at R msg/s for D seconds.
    W3(w3::Args),
    /// W7 send throughput: 100 messaging channels of 10 members, 32 concurrent REST senders for D seconds.
    W7(w7::Args),
    /// W8 queries: seeds 10k users, 100k channels, 1M messages, then times queryChannels, queryUsers and search.
    W8(w8::Args),
    /// Internal: the bare broadcast server that `w3 --floor` and `w1 --floor` start.
    #[command(hide = true)]
    FloorServer,
}

/// Flags every workload takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// The eddy binary to start (default: `eddy` next to this executable).
    #[arg(long, env = "EDDY_BENCH_EDDY_BIN")]
    pub eddy_bin: Option<PathBuf>,
    /// Clients set up (connect + watch) or setup requests made at the same time.
    #[arg(long, default_value_t = 200)]
    pub setup_concurrency: usize,
    /// Run eddy as a cluster on this PostgreSQL (a fresh schema) and NATS (`--nats`), with
    /// `--nodes` nodes and clients spread over them (W3, W7).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Nodes of the cluster.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// NATS of the cluster.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
}

/// Outcome of a workload: whether it passed its rule (loss, duplicates, errors).
pub type Verdict = bool;

async fn run(cli: Cli) -> Result<Verdict> {
    match cli.workload {
        Workload::W1(args) => w1::run(args).await,
        Workload::W3(args) => w3::run(args).await,
        Workload::W7(args) => w7::run(args).await,
        Workload::W8(args) => w8::run(args).await,
        Workload::FloorServer => floor::serve().await.map(|()| true),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(error) => {
            eprintln!("eddy-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
