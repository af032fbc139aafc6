//! One node of a Redis cluster, driven by the cluster tests (tests/cluster) through the official
//! client; tests/cluster/node_node.mjs is the same contract on Node's socket.io with
//! @socket.io/redis-adapter, so the tests can mix both.
//!
//! Env: `PORT` (0 = ephemeral), `REDIS_URL`, `NODE_NAME`, `REQUESTS_TIMEOUT_MS` (default 5000).
//! First stdout line: `LISTENING 127.0.0.1:<port>`. On connect: `welcome {id, node}`.
//! A client sends `ctl` with `{op, ...}` and an ack; see tests/cluster/README.md for the ops
//! (join, leave, data, emit, broadcast, emitWithAck, fetchSockets, socketsJoin, socketsLeave,
//! disconnectSockets, serverSideEmit, serverSideEmitWithAck, serverEvents, allRooms,
//! serverCount). Server-side events `node-hello` (recorded) and `node-ask` (recorded, answered
//! with `{node, args}`).

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_socketio::{
    adapter::{RedisAdapter, RedisAdapterConfig},
    AckSender, BroadcastOperator, Config, Payload, Server, Socket, SocketIo,
};
use actix_web::App;
use serde_json::{json, Value};

type Log = Arc<Mutex<Vec<Value>>>;

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `io.to(rooms).except(except)` as the command says.
fn target(io: &SocketIo, cmd: &Value) -> BroadcastOperator {
    io.of("/")
        .to(strings(&cmd["rooms"]))
        .except(strings(&cmd["except"]))
}

/// The first argument of each answer, binary kept, into `reply`; false if any did not answer.
fn first_args(
    answers: Vec<Result<Payload, actix_socketio::AckError>>,
    reply: &mut Payload,
) -> (bool, Vec<Value>) {
    let mut ok = true;
    let mut out = Vec::new();
    for answer in answers {
        match answer {
            Ok(payload) => {
                let first = payload.args().first().cloned().unwrap_or(Value::Null);
                out.push(reply.adopt(&first, payload.attachments()));
            }
            Err(_) => ok = false,
        }
    }
    (ok, out)
}

fn on_ctl(io: SocketIo, log: Log, socket: Socket, payload: Payload, ack: Option<AckSender>) {
    let cmd = payload.args().first().cloned().unwrap_or(Value::Null);
    let args = Payload::from_parts(
        cmd["args"].as_array().cloned().unwrap_or_default(),
        payload.attachments().to_vec(),
    );
    let event = cmd["event"].as_str().unwrap_or("").to_owned();
    let timeout = Duration::from_millis(cmd["timeout"].as_u64().unwrap_or(5000));
    let op = cmd["op"].as_str().unwrap_or("").to_owned();
    actix::spawn(async move {
        let ns = io.of("/");
        // Binary parts of the answer (emitWithAck responses) are attached here.
        let mut binary = Payload::new();
        let reply = match op.as_str() {
            "join" => {
                socket.join(cmd["room"].as_str().unwrap_or(""));
                json!({ "ok": true })
            }
            "leave" => {
                socket.leave(cmd["room"].as_str().unwrap_or(""));
                json!({ "ok": true })
            }
            "data" => {
                socket.set_data(cmd["data"].clone());
                json!({ "ok": true })
            }
            "emit" => match target(&io, &cmd).emit_payload(&event, args) {
                Ok(()) => json!({ "ok": true }),
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            "broadcast" => match socket.broadcast().emit_payload(&event, args) {
                Ok(()) => json!({ "ok": true }),
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            "emitWithAck" => {
                let result = target(&io, &cmd)
                    .timeout(timeout)
                    .emit_payload_with_ack(&event, args)
                    .await;
                match result {
                    Ok(pairs) => {
                        let answers = pairs.into_iter().map(|(_, a)| a).collect();
                        let (ok, responses) = first_args(answers, &mut binary);
                        if ok {
                            json!({ "ok": true, "responses": responses })
                        } else {
                            json!({ "ok": false, "error": "operation has timed out", "responses": responses })
                        }
                    }
                    Err(err) => json!({ "ok": false, "error": err.to_string(), "responses": [] }),
                }
            }
            "fetchSockets" => match target(&io, &cmd).fetch_remote_sockets().await {
                Ok(sockets) => {
                    let sockets: Vec<Value> = sockets
                        .iter()
                        .map(|s| {
                            json!({ "id": s.id(), "rooms": s.rooms(), "data": s.data(), "auth": s.auth() })
                        })
                        .collect();
                    json!({ "ok": true, "sockets": sockets })
                }
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            "socketsJoin" => {
                target(&io, &cmd).sockets_join(cmd["room"].as_str().unwrap_or(""));
                json!({ "ok": true })
            }
            "socketsLeave" => {
                target(&io, &cmd).sockets_leave(cmd["room"].as_str().unwrap_or(""));
                json!({ "ok": true })
            }
            "disconnectSockets" => {
                let close = cmd["close"].as_bool().unwrap_or(false);
                target(&io, &cmd).disconnect_sockets(close).await;
                json!({ "ok": true })
            }
            "serverSideEmit" => match ns.server_side_emit_payload(&event, args) {
                Ok(()) => json!({ "ok": true }),
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            "serverSideEmitWithAck" => {
                match ns.server_side_emit_with_ack(&event, args, timeout).await {
                    Ok(responses) => json!({ "ok": true, "responses": responses }),
                    Err(err) => json!({ "ok": false, "error": err.to_string(), "responses": [] }),
                }
            }
            "serverEvents" => {
                let events = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
                json!({ "ok": true, "events": events })
            }
            "allRooms" => match ns.cluster_rooms().await {
                Ok(rooms) => json!({ "ok": true, "rooms": rooms }),
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            "serverCount" => match ns.server_count().await {
                Ok(count) => json!({ "ok": true, "count": count }),
                Err(err) => json!({ "ok": false, "error": err.to_string() }),
            },
            _ => json!({ "ok": false, "error": "unknown op" }),
        };
        if let Some(ack) = ack {
            let (_, attachments) = binary.into_parts();
            ack.send_payload(Payload::from_parts(vec![reply], attachments));
        }
    });
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let node = std::env::var("NODE_NAME").unwrap_or_else(|_| "rust".into());
    let mut config = RedisAdapterConfig::new(url);
    if let Some(ms) = std::env::var("REQUESTS_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.requests_timeout = Duration::from_millis(ms);
    }

    let io = SocketIo::new(Config::default());
    let adapter = RedisAdapter::with_config(config).map_err(std::io::Error::other)?;
    io.set_adapter(adapter);
    let log: Log = Arc::default();
    let ns = io.of("/");
    {
        let log = log.clone();
        ns.on_server_side_emit("node-hello", move |payload, _| {
            let entry = json!({ "event": "node-hello", "args": payload.args() });
            log.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        });
    }
    {
        let log = log.clone();
        let node = node.clone();
        ns.on_server_side_emit("node-ask", move |payload, ack| {
            let entry = json!({ "event": "node-ask", "args": payload.args() });
            log.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
            if let Some(ack) = ack {
                let _ = ack.send(&json!({ "node": node, "args": payload.args() }));
            }
        });
    }
    {
        let io2 = io.clone();
        let node = node.clone();
        ns.on_connect(move |socket| {
            let _ = socket.emit("welcome", &json!({ "id": socket.id(), "node": node }));
            let (io, log) = (io2.clone(), log.clone());
            socket.on("ctl", move |socket, event| {
                let (_, payload, ack) = event.into_parts();
                on_ctl(io.clone(), log.clone(), socket, payload, ack);
            });
        });
    }

    let app_io = io.clone();
    let server = Server::new(&io, move || App::new().configure(app_io.service()))
        .workers(2)
        .bind(("127.0.0.1", port))?;
    let addr = server.addrs()[0];
    println!("LISTENING {addr}");
    std::io::stdout().flush()?;
    server.run().await
}
