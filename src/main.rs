//! The demo server: `cargo run --release` serves the chat page, the project's own Socket.IO
//! client at `/socket.io/socket.io.js` and the Socket.IO endpoint on http://127.0.0.1:8080.

mod chat;

use std::{io::Write, path::PathBuf};

use actix_files::{Files, NamedFile};
use actix_socketio::{Config, Cors, SocketIo};
use actix_web::{web, App, HttpServer};
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
    /// Directory of the page's files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/static"))]
    static_dir: PathBuf,
}

fn config(args: &Args) -> Config {
    let cors = if args.cors_origins.iter().any(|o| o == "*") {
        Cors::Any
    } else if args.cors_origins.is_empty() {
        Cors::SameOrigin
    } else {
        Cors::Allow(args.cors_origins.clone())
    };
    let mut config = Config::default().with_cors(cors);
    if let Some(max) = args.max_connections {
        config = config.with_max_connections(max);
    }
    config
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let io = SocketIo::new(config(&args));
    chat::install(&io);

    let static_dir = args.static_dir.clone();
    let server = HttpServer::new(move || {
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
            .service(Files::new("/", &static_dir).index_file("index.html"))
    })
    .bind((args.host.as_str(), args.port))?;
    for addr in server.addrs() {
        log::info!("chat demo on http://{addr}");
        if args.port == 0 {
            println!("LISTENING {addr}");
        }
    }
    std::io::stdout().flush()?;
    server.run().await
}
