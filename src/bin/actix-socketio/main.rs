//! The demo server: `cargo run --release` serves the chat page, the project's own Socket.IO
//! client at `/socket.io/socket.io.js` and the Socket.IO endpoint on http://127.0.0.1:8080.

mod chat;

use std::{io::Write, path::PathBuf, time::Duration};

use actix_files::{Files, NamedFile};
use actix_socketio::{
    admin::{self, AdminAuth, AdminOptions},
    Config, Cors, Recovery, Server, SocketIo,
};
use actix_web::{web, App};
use clap::Parser;

/// actix-socketio demo: a chat with rooms and direct messages.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one and prints `LISTENING <addr>`).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Most clients connected at once (past it, handshakes get HTTP 503).
    #[arg(long)]
    max_connections: Option<usize>,
    /// An origin allowed to connect from another site (repeatable; `*` for any). Default:
    /// same-origin only.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Join a cluster through Redis (`redis://host:port`): broadcasts, rooms and direct
    /// messages then reach users on every node (nodes may be Node.js socket.io servers with
    /// @socket.io/redis-adapter too).
    #[arg(long, env = "REDIS_URL")]
    redis: Option<String>,
    /// Turn connection state recovery off (on by default: a user whose connection drops
    /// comes back within two minutes with the same id, name, rooms and the messages missed).
    #[arg(long)]
    no_recovery: bool,
    /// Wire format of Socket.IO packets: `json` (socket.io's default, the one the bundled page
    /// speaks) or `msgpack` (for clients using socket.io-msgpack-parser).
    #[arg(long, env = "PARSER", value_enum, default_value_t = ParserArg::Json)]
    parser: ParserArg,
    /// Open the Socket.IO Admin UI's namespace (/admin) with these credentials (`USER:PASSWORD`,
    /// the password plain or as a bcrypt hash), and allow the hosted UI's origin
    /// (https://admin.socket.io) with credentials.
    #[arg(long, env = "ADMIN_AUTH")]
    admin: Option<String>,
    /// With --admin: the UI may watch but not act (no emit, join, leave or disconnect).
    #[arg(long, requires = "admin")]
    admin_readonly: bool,
    /// Serve the server's counters at `/metrics` in the Prometheus text format (this also
    /// turns per-packet counting on).
    #[arg(long, env = "METRICS", value_parser = clap::builder::BoolishValueParser::new())]
    metrics: bool,
    /// Directory of the page's files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/static"))]
    static_dir: PathBuf,
}

/// The `--parser` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ParserArg {
    /// socket.io's default JSON parser.
    Json,
    /// socket.io-msgpack-parser.
    Msgpack,
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(|| format!("--cors-origin {origin:?}: must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "--cors-origin {origin:?}: must be scheme://host[:port] with no path"
        ));
    }
    Ok(())
}

fn config(args: &Args) -> Config {
    let mut origins = args.cors_origins.clone();
    if args.admin.is_some() && !origins.iter().any(|o| o == "*") {
        origins.push(HOSTED_ADMIN_UI.to_owned());
    }
    let cors = if origins.iter().any(|o| o == "*") {
        Cors::Any
    } else if origins.is_empty() {
        Cors::SameOrigin
    } else {
        Cors::Allow(origins)
    };
    let mut config = Config::default().with_cors(cors);
    if let Some(max) = args.max_connections {
        config = config.with_max_connections(max);
    }
    if !args.no_recovery {
        config = config.connection_state_recovery(Recovery::default());
    }
    if args.parser == ParserArg::Msgpack {
        config = config.parser(actix_socketio::Parser::MsgPack);
    }
    config
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    for origin in &args.cors_origins {
        if let Err(why) = check_origin(origin) {
            eprintln!("error: {why}");
            std::process::exit(2);
        }
    }
    let io = SocketIo::new(config(&args));
    #[cfg(feature = "redis")]
    if let Some(url) = &args.redis {
        match actix_socketio::adapter::RedisAdapter::new(url) {
            Ok(adapter) => {
                io.set_adapter(adapter);
                log::info!("cluster node: Redis adapter on {url}");
            }
            Err(err) => {
                eprintln!("error: --redis {url:?}: {err}");
                std::process::exit(2);
            }
        }
    }
    #[cfg(not(feature = "redis"))]
    if args.redis.is_some() {
        eprintln!("error: --redis: this build has no Redis adapter (cargo feature `redis`)");
        std::process::exit(2);
    }
    chat::install(&io);
    if let Some(credentials) = &args.admin {
        let Some((user, password)) = credentials.split_once(':') else {
            eprintln!("error: --admin: expected USER:PASSWORD");
            std::process::exit(2);
        };
        let mut options = AdminOptions::new(AdminAuth::basic(user, password));
        options.readonly = args.admin_readonly;
        if let Err(err) = admin::instrument(&io, options) {
            eprintln!("error: --admin: {err}");
            std::process::exit(2);
        }
        log::info!("admin UI namespace /admin open (hosted UI: {HOSTED_ADMIN_UI})");
    }

    let static_dir = args.static_dir.clone();
    let metrics = args.metrics;
    let app_io = io.clone();
    // `Server` is actix-web's HttpServer with lean WebSockets: after the handshake they leave
    // the HTTP dispatcher (and its buffers) for the session.
    let server = Server::new(&io, move || {
        let io = app_io.clone();
        let client = static_dir.join("socket.io.js");
        App::new()
            .route(
                "/socket.io/socket.io.js",
                web::get().to(move || {
                    let client = client.clone();
                    async move { NamedFile::open_async(client).await }
                }),
            )
            .configure(io.service())
            .configure(|cfg| {
                if metrics {
                    io.metrics_service()(cfg);
                }
            })
            .service(Files::new("/", &static_dir).index_file("index.html"))
    })
    // Signals are ours: the sessions are told before the HTTP server stops. TCP_NODELAY is
    // always on (realtime frames are small: each goes out at once, not after Nagle's ~40 ms).
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .bind((args.host.as_str(), args.port))?;
    for addr in server.addrs() {
        log::info!("chat demo on http://{addr}");
        if metrics {
            log::info!("metrics on http://{addr}/metrics");
        }
        if args.port == 0 {
            println!("LISTENING {addr}");
        }
    }
    std::io::stdout().flush()?;
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let signal = wait_for_signal().await;
        log::info!("{signal} received: shutting down");
        io.shutdown(SHUTDOWN_GRACE).await;
        handle.stop(true).await;
    });
    server.await
}

/// Where the official Admin UI is hosted.
const HOSTED_ADMIN_UI: &str = "https://admin.socket.io";

/// How long queued packets get to leave, and connections to close, on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming the one that came.
async fn wait_for_signal() -> &'static str {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = actix_web::rt::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = actix_web::rt::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
