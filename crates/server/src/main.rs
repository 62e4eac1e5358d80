//! The `eddy` binary: CLI, configuration and wiring of the concrete backends.

mod config;

use clap::{Parser, Subcommand};
use config::{ServeConfig, StorageConfig};
use eddy_api::AppState;
use eddy_bus::{Bus, InProcessBus};
use eddy_chat::Chat;
use eddy_realtime::Hub;
use eddy_store::postgres::PostgresStore;
use eddy_store::sqlite::SqliteStore;
use eddy_store::{App, Store};
use rand::distributions::{Alphanumeric, DistString};

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Responses are built as JSON trees of many small allocations; mimalloc serves them several
/// times faster than the system allocator (W8: queryChannels spent a third of its time in malloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "eddy",
    version,
    about = "Self-hosted server for Stream's Chat API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeConfig),
    /// Print a user token signed with the default app's secret.
    Token {
        user_id: String,
        /// Seconds until the token expires; without it the token never expires.
        #[arg(long)]
        ttl: Option<i64>,
        #[command(flatten)]
        storage: StorageConfig,
        #[arg(long, env = "EDDY_API_SECRET", hide_env_values = true)]
        api_secret: Option<String>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        storage: StorageConfig,
    },
    /// Manage the apps this server hosts.
    App {
        #[command(subcommand)]
        command: AppCommand,
        #[command(flatten)]
        storage: StorageConfig,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create an app with generated credentials and print them.
    Create {
        #[arg(long, default_value = "eddy app")]
        name: String,
    },
    /// List apps and their API keys.
    List,
}

fn random(length: usize) -> String {
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), length)
        .to_lowercase()
}

/// Opens the configured database (applying migrations): PostgreSQL when a URL is given, else SQLite.
async fn open_store(storage: &StorageConfig) -> Result<Arc<dyn Store>, String> {
    if let Some(url) = &storage.database {
        let store = PostgresStore::connect(url)
            .await
            .map_err(|e| format!("cannot open PostgreSQL: {e}"))?;
        return Ok(Arc::new(store));
    }
    let dir = &storage.data_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
    let store = SqliteStore::open(&dir.join("eddy.sqlite3"))
        .await
        .map_err(|e| format!("cannot open database: {e}"))?;
    Ok(Arc::new(store))
}

/// The event bus: NATS when a URL is given (several nodes), else in-process (one node).
async fn open_bus(config: &ServeConfig) -> Result<Arc<dyn Bus>, String> {
    match &config.bus {
        Some(url) => {
            let bus = eddy_bus::NatsBus::connect(url, &config.bus_subject)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(subject = %config.bus_subject, "events go through NATS");
            Ok(Arc::new(bus))
        }
        None => Ok(Arc::new(InProcessBus::new(65_536))),
    }
}

/// The default app: the one named by EDDY_API_KEY/SECRET, else the first app, else a new generated one.
async fn default_app(
    store: &dyn Store,
    key: Option<&str>,
    secret: Option<&str>,
) -> Result<App, String> {
    match (key, secret) {
        (Some(key), Some(secret)) => {
            let app = store
                .ensure_app(key, secret, "eddy")
                .await
                .map_err(|e| e.to_string())?;
            if app.api_secret != secret {
                return Err(format!(
                    "app {key} exists with a different secret; refusing to start"
                ));
            }
            Ok(app)
        }
        (Some(_), None) | (None, Some(_)) => {
            Err("set both EDDY_API_KEY and EDDY_API_SECRET, or neither".into())
        }
        (None, None) => match store
            .list_apps()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
        {
            Some(app) => Ok(app),
            None => store
                .ensure_app(&random(16), &random(48), "eddy")
                .await
                .map_err(|e| e.to_string()),
        },
    }
}

async fn serve(config: ServeConfig) -> Result<(), String> {
    if config.listen.port() == 3030 {
        return Err(
            "port 3030 is reserved: Stream's JS SDK rewrites it to 8800 for WebSockets".into(),
        );
    }
    let store = open_store(&config.storage).await?;
    let app = default_app(
        store.as_ref(),
        config.api_key.as_deref(),
        config.api_secret.as_deref(),
    )
    .await?;
    let bus = open_bus(&config).await?;
    let hub = Arc::new(Hub::new());
    tokio::spawn(eddy_realtime::run_delivery(hub.clone(), bus.subscribe()));
    if config.bus.is_some() {
        // Other nodes share this bus: tell them who is online and who watches what here.
        tokio::spawn(eddy_realtime::run_cluster_reports(hub.clone(), bus.clone()));
    }
    let ready = Arc::new(AtomicBool::new(false));
    let mut video = eddy_video::Video::new(store.clone(), bus.clone(), hub.clone());
    video.sfu = config.sfu_url.as_ref().map(|url| eddy_video::Sfu {
        url: url.trim_end_matches('/').to_owned(),
        edge_name: "eddy-sfu".into(),
    });
    video.ingress_host = config.listen.ip().to_string();
    let mut chat = Chat::new(store, bus, hub);
    chat.keep_events();
    let state = AppState {
        chat,
        video,
        ready: ready.clone(),
        rate_limiter: Arc::new(eddy_api::RateLimiter::new(config.rate_limit_per_minute)),
        longpoll: Arc::default(),
    };
    tokio::spawn(eddy_api::longpoll::expire_idle_sessions(state.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Whoever started us may have stopped reading stdout; that must not stop the server.
    let banner = format!(
        "EDDY_URL=http://{address}\nEDDY_API_KEY={}\nEDDY_API_SECRET={}\n",
        app.api_key, app.api_secret
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let storage = config.storage.database.as_ref().map_or_else(
        || config.storage.data_dir.display().to_string(),
        |_| "postgres".into(),
    );
    tracing::info!(%address, %storage, "eddy is serving");
    ready.store(true, Ordering::Relaxed);
    axum::serve(listener, eddy_api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Resolves on Ctrl-C or SIGTERM (how service managers stop us).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Token {
            user_id,
            ttl,
            storage,
            api_secret,
        } => {
            eddy_core::UserId::parse(&user_id).map_err(|e| e.to_string())?;
            let secret = match api_secret {
                Some(secret) => secret,
                None => {
                    let store = open_store(&storage).await?;
                    default_app(store.as_ref(), None, None).await?.api_secret
                }
            };
            let now = chrono::Utc::now().timestamp();
            let expires_at = match ttl {
                Some(ttl) if ttl <= 0 => {
                    return Err("--ttl must be a positive number of seconds".into())
                }
                Some(ttl) => Some(now.checked_add(ttl).ok_or("--ttl is out of range")?),
                None => None,
            };
            let token = eddy_core::auth::sign_user_token(&secret, &user_id, Some(now), expires_at)
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate { storage } => {
            open_store(&storage).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::App { command, storage } => {
            let store = open_store(&storage).await?;
            match command {
                AppCommand::Create { name } => {
                    let app = store
                        .ensure_app(&random(16), &random(48), &name)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!(
                        "EDDY_API_KEY={}\nEDDY_API_SECRET={}",
                        app.api_key, app.api_secret
                    );
                }
                AppCommand::List => {
                    for app in store.list_apps().await.map_err(|e| e.to_string())? {
                        println!("{}\t{}", app.api_key, app.name);
                    }
                }
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("eddy: {message}");
            ExitCode::FAILURE
        }
    }
}
