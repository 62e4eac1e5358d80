//! Command-line settings: one typed tree from flags and environment, passed explicitly.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where data lives: the embedded SQLite file under `data_dir`, or PostgreSQL when `database` is set.
#[derive(Args, Debug, Clone)]
pub struct StorageConfig {
    /// Directory for the embedded database (used when --database is not set).
    #[arg(long, env = "EDDY_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...) to store data there instead of the embedded SQLite.
    #[arg(long, env = "EDDY_DATABASE_URL", hide_env_values = true, global = true)]
    pub database: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, env = "EDDY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageConfig,
    /// NATS URL (nats://...) to share events with other eddy nodes; in-process when unset.
    #[arg(long, env = "EDDY_BUS_URL")]
    pub bus: Option<String>,
    /// NATS subject the nodes of one cluster share.
    #[arg(long, env = "EDDY_BUS_SUBJECT", default_value = "eddy.events")]
    pub bus_subject: String,
    /// API key of the default app (generated and stored when unset).
    #[arg(long, env = "EDDY_API_KEY")]
    pub api_key: Option<String>,
    /// API secret of the default app.
    #[arg(long, env = "EDDY_API_SECRET", hide_env_values = true)]
    pub api_secret: Option<String>,
    /// Requests per minute allowed per app, endpoint and platform on this node.
    #[arg(long, env = "EDDY_RATE_LIMIT_PER_MINUTE", default_value_t = 60_000)]
    pub rate_limit_per_minute: u32,
    /// Base URL of the media server (SFU) that video `join` sends clients to, e.g.
    /// `http://127.0.0.1:3031`; without it `join` answers that no media server is configured.
    #[arg(long, env = "EDDY_SFU_URL")]
    pub sfu_url: Option<String>,
}
