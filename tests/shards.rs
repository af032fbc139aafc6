//! A namespace's RoomManager is sharded per worker thread: each worker that has had a socket
//! runs one, which owns that worker's sockets. Seen from outside nothing changes: with sockets
//! on two workers, a room spans both, broadcasts (from a socket and from the server) reach every
//! member once, joins and leaves addressed by selector reach sockets on either worker, and the
//! counts (`stats().rooms`, `all_rooms`, `fetch_sockets`) count each room and socket once.

mod common;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    thread::ThreadId,
    time::Duration,
};

use actix_socketio::{Config, SocketIo};
use common::*;
use tokio::time::timeout;

const CLIENTS: usize = 12;

type Threads = Arc<Mutex<HashSet<ThreadId>>>;

/// Every socket joins `r`; `shout` goes to the rest of `r`, and `private` to `p` only.
fn setup(io: &SocketIo, threads: Threads) {
    io.ns("/", move |socket| {
        threads.lock().unwrap().insert(std::thread::current().id());
        socket.join("r");
        socket.on("shout", |socket, event| {
            let text: String = event.payload().get(0).unwrap_or_default();
            let _ = socket.to("r").emit("shout", &text);
        });
    });
}

/// Reads until a text message arrives that starts with `prefix`, answering pings.
async fn next_starting(ws: &mut Ws, prefix: &str) -> String {
    timeout(Duration::from_secs(5), async {
        loop {
            let text = recv_text_answering_pings(ws).await;
            if text.starts_with(prefix) {
                return text;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {prefix} message"))
}

#[tokio::test]
async fn rooms_span_workers_and_count_once() {
    let threads = Threads::default();
    let seen = threads.clone();
    let server = start_on_workers(2, Config::default(), move |io| setup(io, seen), |_, _| {});
    let addr = server.addr;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (ws, _sid, id) = sio_connect_ws(addr).await;
        clients.push((ws, id));
    }
    let ns = server.io.of("/");
    assert!(
        eventually(Duration::from_secs(3), || async {
            ns.to("r").fetch_sockets().await.len() == CLIENTS
        })
        .await
    );
    assert_eq!(
        threads.lock().unwrap().len(),
        2,
        "the sockets did not land on both workers"
    );

    // Each socket once, each room once.
    let ids: HashSet<String> = ns
        .fetch_sockets()
        .await
        .iter()
        .map(|s| s.id().to_owned())
        .collect();
    let expected: HashSet<String> = clients.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids, expected);
    assert_eq!(ns.all_rooms().await, vec![("r".to_owned(), CLIENTS)]);
    assert_eq!(server.io.stats().rooms, CLIENTS + 1, "private rooms and r");

    // A socket's broadcast reaches every other member once, on both workers.
    send_text(&mut clients[0].0, r#"42["shout","hi"]"#).await;
    for (ws, _) in clients.iter_mut().skip(1) {
        assert_eq!(next_starting(ws, "42").await, r#"42["shout","hi"]"#);
    }
    // A server broadcast reaches all of them, and only once each: the next message each one
    // gets is the marker that follows it.
    ns.to("r").emit("all", "x").unwrap();
    ns.to("r").emit("marker", "m").unwrap();
    for (ws, _) in clients.iter_mut() {
        assert_eq!(next_starting(ws, "42").await, r#"42["all","x"]"#);
        assert_eq!(next_starting(ws, "42").await, r#"42["marker","m"]"#);
    }

    // Joins by selector reach sockets on either worker.
    let (first, second) = (clients[0].1.clone(), clients[1].1.clone());
    ns.to(vec![first.clone(), second.clone()])
        .sockets_join("pair");
    assert!(
        eventually(Duration::from_secs(3), || async {
            ns.to("pair").fetch_sockets().await.len() == 2
        })
        .await
    );
    assert_eq!(server.io.stats().rooms, CLIENTS + 2);
    ns.to("pair").emit("pair", "y").unwrap();
    for (ws, _) in clients.iter_mut().take(2) {
        assert_eq!(next_starting(ws, "42").await, r#"42["pair","y"]"#);
    }

    // Everyone leaves r: it is gone from every shard and counted out once.
    ns.all().sockets_leave("r");
    assert!(
        eventually(Duration::from_secs(3), || async {
            ns.all_rooms().await == vec![("pair".to_owned(), 2)]
        })
        .await
    );
    assert_eq!(server.io.stats().rooms, CLIENTS + 1);

    // Disconnects are counted out of the shard each socket lived in.
    drop(clients);
    assert!(
        eventually(Duration::from_secs(5), || async {
            server.io.stats().rooms == 0 && ns.fetch_sockets().await.is_empty()
        })
        .await
    );
}
