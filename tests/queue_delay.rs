//! `Config::max_queue_delay`: a broadcast that waited inside the server past the bound before
//! its delivery began is dropped and counted (`Stats::broadcasts_shed`), and the next one is
//! delivered as usual; without a bound, or within it, nothing is dropped.

mod common;

use std::time::Duration;

use actix_socketio::{Config, SocketIo};
use actix_web::{web, HttpResponse};
use common::*;

/// `/block` broadcasts `n` 1, then keeps the (only) worker thread busy for 100 ms, so that the
/// RoomManager on it sees the first broadcast late, then broadcasts `n` 2.
fn routes(cfg: &mut web::ServiceConfig, io: &SocketIo) {
    let io = io.clone();
    cfg.route(
        "/block",
        web::get().to(move || {
            let ns = io.of("/");
            ns.emit("n", &1).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            ns.emit("n", &2).unwrap();
            async { HttpResponse::Ok().finish() }
        }),
    );
}

/// The first two event packets the client gets after a `/block`.
async fn after_block(config: Config) -> (Vec<String>, u64) {
    let server = start_with_routes(
        config,
        |io| {
            io.ns("/", |_socket| {});
        },
        routes,
    );
    let (mut ws, _sid, _id) = sio_connect_ws(server.addr).await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            server.io.of("/").fetch_sockets().await.len() == 1
        })
        .await
    );
    assert_eq!(http_get(server.addr, "/block").await.status, 200);
    // A marker after both, so that a dropped broadcast shows as the marker coming early.
    server.io.of("/").emit("n", &3).unwrap();
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some(r#"42["n",3]"#) {
        got.push(recv_text_answering_pings(&mut ws).await);
    }
    (got, server.io.stats().broadcasts_shed)
}

#[tokio::test]
async fn a_broadcast_late_past_the_bound_is_dropped_and_counted() {
    let config = Config::default().with_max_queue_delay(Some(Duration::from_millis(20)));
    let (got, shed) = after_block(config).await;
    assert_eq!(got, vec![r#"42["n",2]"#, r#"42["n",3]"#]);
    assert_eq!(shed, 1);
}

#[tokio::test]
async fn within_the_default_bound_nothing_is_dropped() {
    let (got, shed) = after_block(Config::default()).await;
    assert_eq!(got, vec![r#"42["n",1]"#, r#"42["n",2]"#, r#"42["n",3]"#]);
    assert_eq!(shed, 0);
}

#[tokio::test]
async fn without_a_bound_nothing_is_dropped() {
    let config = Config::default().with_max_queue_delay(None);
    let (got, shed) = after_block(config).await;
    assert_eq!(got, vec![r#"42["n",1]"#, r#"42["n",2]"#, r#"42["n",3]"#]);
    assert_eq!(shed, 0);
}
