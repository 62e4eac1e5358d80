//! The server under test: starts `eddy serve` on 127.0.0.1:0 in a fresh temp dir and reads its CPU and memory from /proc.

use crate::{Common, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// API key of the app the bench creates in its fresh data dir.
pub const API_KEY: &str = "eddy-bench-key";
/// Its secret (the data dir is thrown away after the run).
pub const API_SECRET: &str = "eddy-bench-secret-0123456789abcdef0123456789abcdef";

/// Which server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The real `eddy serve`.
    Eddy,
    /// `eddy-bench floor-server`: bare WebSocket broadcast, for the floor figure.
    Floor,
}

/// A running server process; killed and its temp dir removed on drop.
pub struct Server {
    child: Child,
    /// The floor server exits when this pipe closes.
    _stdin: Option<std::process::ChildStdin>,
    pub url: String,
    pub pid: u32,
    root: PathBuf,
    log: PathBuf,
    ticks_per_second: f64,
}

/// One reading of the server process.
#[derive(Clone, Copy, Debug)]
pub struct ProcSample {
    /// User + system CPU time so far, seconds.
    pub cpu_seconds: f64,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far, KiB.
    pub hwm_kib: u64,
}

/// The `eddy` binary next to this executable (both land in the same target dir).
fn default_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .ok_or("cannot find the directory of eddy-bench")?;
    Ok(dir.join("eddy"))
}

/// Kernel clock ticks per second for /proc/<pid>/stat (CLK_TCK, practically always 100).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

impl Server {
    pub async fn start(common: &Common, kind: Kind) -> Result<Server> {
        Server::start_on(common, kind, None).await
    }

    /// Like [`Server::start`]; with `data_dir`, `eddy serve` uses that (already seeded) data dir,
    /// which is left in place on drop (the caller owns it).
    pub async fn start_on(common: &Common, kind: Kind, data_dir: Option<&Path>) -> Result<Server> {
        Server::start_with(common, kind, data_dir, &[]).await
    }

    /// Like [`Server::start_on`], with extra environment (a database and bus for cluster nodes).
    async fn start_with(
        common: &Common,
        kind: Kind,
        data_dir: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Server> {
        let binary = match (kind, &common.eddy_bin) {
            (Kind::Floor, _) => std::env::current_exe()?,
            (Kind::Eddy, Some(path)) => path.clone(),
            (Kind::Eddy, None) => default_binary()?,
        };
        if !binary.exists() {
            return Err(format!(
                "eddy binary not found at {} (build it or pass --eddy-bin)",
                binary.display()
            )
            .into());
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = std::env::temp_dir().join(format!("eddy-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        let log = root.join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(&binary);
        match kind {
            Kind::Eddy => command
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(data_dir.map_or_else(|| root.join("data"), Path::to_path_buf))
                .stdin(Stdio::null()),
            Kind::Floor => command.arg("floor-server").stdin(Stdio::piped()),
        };
        let mut child = command
            .envs(env.iter().map(|(name, value)| (name, value)))
            .env("EDDY_API_KEY", API_KEY)
            .env("EDDY_API_SECRET", API_SECRET)
            // The per-minute budget would otherwise cap the send workloads; the bench measures, it does not police.
            .env("EDDY_RATE_LIMIT_PER_MINUTE", "4000000000")
            .env(
                "RUST_LOG",
                std::env::var("EDDY_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stdin = child.stdin.take();
        let mut server = Server {
            child,
            _stdin: stdin,
            url: String::new(),
            pid,
            root,
            log,
            ticks_per_second: clock_ticks(),
        };
        let reader = tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("EDDY_URL=") {
                    return Some(url.to_owned());
                }
            }
            None
        });
        let url = match tokio::time::timeout(Duration::from_secs(30), reader).await {
            Ok(Ok(Some(url))) => url,
            _ => {
                return Err(format!(
                    "eddy did not print EDDY_URL; its log:\n{}",
                    server.log_tail(20).join("\n")
                )
                .into())
            }
        };
        server.url = url;
        if kind == Kind::Eddy {
            server.wait_healthy().await?;
        }
        Ok(server)
    }

    async fn wait_healthy(&self) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", self.url)).send().await {
                if response.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("eddy did not answer /healthz with 200 within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    /// CPU and memory of the server process now.
    pub fn sample(&self) -> Result<ProcSample> {
        sample_process(self.pid, self.ticks_per_second)
    }

    /// The last `count` lines the server wrote to stderr (warnings and errors).
    pub fn log_tail(&self, count: usize) -> Vec<String> {
        read_lines(&self.log, count)
    }
}

fn read_lines(path: &Path, count: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let skip = lines.len().saturating_sub(count);
    lines.into_iter().skip(skip).collect()
}

/// The bench's own CPU time (the load generator shares the cores with the server).
pub fn own_cpu_seconds() -> f64 {
    sample_process(std::process::id(), clock_ticks())
        .map(|s| s.cpu_seconds)
        .unwrap_or(0.0)
}

fn sample_process(pid: u32, ticks_per_second: f64) -> Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the full line.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: f64 = fields.get(12).ok_or("no stime")?.parse()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_seconds: (utime + stime) / ticks_per_second,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines = read_lines(&self.log, 20);
        if !lines.is_empty() {
            eprintln!("--- last server log lines ({}) ---", self.log.display());
            for line in lines {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The eddy nodes of one run: one embedded node by default; with `--cluster <PostgreSQL URL>`,
/// `--nodes` nodes sharing a fresh PostgreSQL schema (made with psql, dropped afterwards) and a
/// NATS subject of their own, as several nodes behind a load balancer.
pub struct Nodes {
    /// Dropped (killed) before the schema is dropped.
    pub servers: Vec<Server>,
    schema: Option<(String, String)>,
}

fn psql(base: &str, sql: &str) -> Result<()> {
    let status = Command::new("psql")
        .args([base, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .env("PGOPTIONS", "-c client_min_messages=warning")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("psql failed: {sql}").into())
    }
}

impl Nodes {
    pub async fn start(common: &Common) -> Result<Nodes> {
        Nodes::start_kind(common, Kind::Eddy).await
    }

    /// Eddy nodes as [`Nodes::start`] says, or the floor server alone.
    pub async fn start_kind(common: &Common, kind: Kind) -> Result<Nodes> {
        let cluster = common.cluster.as_ref().filter(|_| kind == Kind::Eddy);
        let Some(base) = cluster else {
            if common.nodes > 1 || common.cluster.is_some() {
                return Err("--nodes and --cluster are for eddy: the floor runs alone, and more than one node needs --cluster <PostgreSQL URL>".into());
            }
            return Ok(Nodes {
                servers: vec![Server::start(common, kind).await?],
                schema: None,
            });
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let schema = format!("eddy_bench_{}_{nanos}", std::process::id());
        psql(base, &format!("CREATE SCHEMA \"{schema}\""))?;
        let mut nodes = Nodes {
            servers: Vec::new(),
            schema: Some((base.clone(), schema.clone())),
        };
        let separator = if base.contains('?') { '&' } else { '?' };
        let env = vec![
            (
                "EDDY_DATABASE_URL".to_owned(),
                format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            ),
            ("EDDY_BUS_URL".to_owned(), common.nats.clone()),
            (
                "EDDY_BUS_SUBJECT".to_owned(),
                format!("eddy.bench.{schema}"),
            ),
        ];
        for _ in 0..common.nodes.max(1) {
            // One at a time: the first runs the migrations.
            let server = Server::start_with(common, Kind::Eddy, None, &env).await?;
            nodes.servers.push(server);
        }
        Ok(nodes)
    }

    pub fn first(&self) -> &Server {
        &self.servers[0]
    }

    /// Where clients reach each node.
    pub fn endpoints(&self) -> Result<Vec<crate::socket::Endpoint>> {
        self.servers
            .iter()
            .map(|server| {
                Ok(crate::socket::Endpoint {
                    api: crate::api::Api::new(&server.url)?,
                    ws_base: server.ws_url(),
                })
            })
            .collect()
    }

    /// The nodes' CPU and memory, summed.
    pub fn sample(&self) -> Result<ProcSample> {
        let mut total = ProcSample {
            cpu_seconds: 0.0,
            rss_kib: 0,
            hwm_kib: 0,
        };
        for server in &self.servers {
            let sample = server.sample()?;
            total.cpu_seconds += sample.cpu_seconds;
            total.rss_kib += sample.rss_kib;
            total.hwm_kib += sample.hwm_kib;
        }
        Ok(total)
    }

    /// Warning and error lines the nodes logged.
    pub fn log_tail(&self, count: usize) -> Vec<String> {
        self.servers
            .iter()
            .flat_map(|s| s.log_tail(count))
            .collect()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.servers.clear();
        if let Some((base, schema)) = &self.schema {
            if let Err(error) = psql(base, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")) {
                eprintln!("could not drop {schema}: {error}");
            }
        }
    }
}
