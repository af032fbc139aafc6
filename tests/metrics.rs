//! `GET /metrics` on a real server: known traffic (WebSocket and polling sessions, two
//! namespaces, events, a room, refused handshakes, recovery, a cluster request that times out),
//! then the body is parsed line by line as the Prometheus text format and its values checked
//! against that traffic.

mod common;

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use actix_socketio::{metrics::CONTENT_TYPE, Config, Recovery, SocketIo};
use common::*;
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

// ------------------------------------------------------------ a text-format parser

/// A sample's identity: its metric name and its labels, sorted by label name.
type Key = (String, Vec<(String, String)>);

/// A parsed exposition: every sample, and each family's type.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<Key, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    /// The value of one sample; panics when it is missing.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        let key = (name.to_owned(), labels);
        *self
            .samples
            .get(&key)
            .unwrap_or_else(|| panic!("no sample {key:?} in {:#?}", self.samples))
    }

    /// The value of a sample without labels.
    fn one(&self, name: &str) -> f64 {
        self.get(name, &[])
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` then the rest of the line, for a `# HELP` or `# TYPE` line.
fn split_comment<'a>(rest: &'a str, line: &str) -> (&'a str, &'a str) {
    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
    assert!(is_metric_name(name), "bad metric name in {line:?}");
    (name, text)
}

/// The labels between `{` and `}`: `name="value"` pairs, comma-separated, values with the
/// escapes `\\`, `\"` and `\n` only. Returns the labels and what follows the `}`.
fn parse_labels<'a>(mut rest: &'a str, line: &str) -> (Vec<(String, String)>, &'a str) {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\" in {line:?}"));
        assert!(is_label_name(name), "bad label name {name:?} in {line:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        assert!(
            labels.iter().all(|(n, _)| n != name),
            "label {name} twice in {line:?}"
        );
        labels.push((name.to_owned(), value));
        rest = &after[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else {
            assert!(rest.starts_with('}'), "expected , or }} in {line:?}");
        }
    }
}

fn parse_value(text: &str, line: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => text
            .parse()
            .unwrap_or_else(|_| panic!("bad value {text:?} in {line:?}")),
    }
}

/// Parses a whole exposition, failing on any line that is not valid text format, on a sample
/// whose family has no `# TYPE` before it, on a family split in two, on a repeated sample and
/// on a counter whose name does not end in `_total`.
fn parse(body: &str) -> Scrape {
    assert!(body.ends_with('\n'), "the last line ends with a line feed");
    let mut scrape = Scrape::default();
    let mut helps = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut finished: Vec<String> = Vec::new();
    for line in body.lines() {
        assert!(!line.is_empty(), "an empty line in {body:?}");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = split_comment(rest, line);
            assert!(!text.is_empty(), "empty HELP in {line:?}");
            assert!(
                helps.insert(name.to_owned(), text.to_owned()).is_none(),
                "HELP twice for {name}"
            );
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = split_comment(rest, line);
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad type in {line:?}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} without _total");
            }
            assert!(
                scrape
                    .types
                    .insert(name.to_owned(), kind.to_owned())
                    .is_none(),
                "TYPE twice for {name}"
            );
            if let Some(previous) = current.replace(name.to_owned()) {
                finished.push(previous);
            }
        } else if line.starts_with('#') {
            panic!("a comment other than HELP or TYPE: {line:?}");
        } else {
            let name_end = line
                .find(['{', ' '])
                .unwrap_or_else(|| panic!("a sample without a value: {line:?}"));
            let name = &line[..name_end];
            assert!(is_metric_name(name), "bad metric name in {line:?}");
            let (mut labels, rest) = match line[name_end..].strip_prefix('{') {
                Some(rest) => parse_labels(rest, line),
                None => (Vec::new(), &line[name_end..]),
            };
            let rest = rest
                .strip_prefix(' ')
                .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
            let mut fields = rest.split(' ');
            let value = parse_value(fields.next().unwrap_or(""), line);
            if let Some(stamp) = fields.next() {
                stamp
                    .parse::<i64>()
                    .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
            }
            assert!(fields.next().is_none(), "trailing text in {line:?}");
            assert!(
                scrape.types.contains_key(name),
                "sample {name} before (or without) its TYPE"
            );
            assert_eq!(
                current.as_deref(),
                Some(name),
                "sample {name} outside its family's block"
            );
            assert!(!finished.iter().any(|f| f == name), "{name} split in two");
            labels.sort();
            let key = (name.to_owned(), labels);
            assert!(
                scrape.samples.insert(key.clone(), value).is_none(),
                "sample {key:?} twice"
            );
        }
    }
    for name in scrape.types.keys() {
        assert!(helps.contains_key(name), "{name} has no HELP");
    }
    scrape
}

#[test]
fn the_parser_refuses_what_is_not_text_format() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\\\\\"} 1\n";
    let scrape = parse(good);
    assert_eq!(scrape.get("a_total", &[("x", "q\"\n\\")]), 1.0);
    let bad = [
        "a 1\n",                                                           // no TYPE
        "# HELP a A.\n# TYPE a counter\na 1\n",                            // counter without _total
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",                   // bad escape
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"}1\n",                      // no space
        "# HELP a A.\n# TYPE a gauge\na one\n",                            // not a number
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                         // repeated
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\n", // outside its block
        "# TYPE a gauge\na 1\n",                                           // no HELP
        "# HELP a A.\n# TYPE a gauge\na{1x=\"1\"} 1\n",                    // bad label name
    ];
    for body in bad {
        let caught = std::panic::catch_unwind(|| parse(body));
        assert!(caught.is_err(), "accepted {body:?}");
    }
}

// ------------------------------------------------------------ helpers

fn with_metrics(cfg: &mut actix_web::web::ServiceConfig, io: &SocketIo) {
    io.metrics_service()(cfg);
}

/// `GET /metrics` (or `path`): checks the status and Content-Type, parses the body.
async fn scrape_at(addr: SocketAddr, path: &str) -> Scrape {
    let res = http_get(addr, path).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some(CONTENT_TYPE));
    parse(&res.text())
}

async fn scrape(addr: SocketAddr) -> Scrape {
    scrape_at(addr, "/metrics").await
}

/// Scrapes until `check` holds (or [`STEP`] passes); the last scrape.
async fn scrape_until(addr: SocketAddr, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let scrape = scrape(addr).await;
        if check(&scrape) || std::time::Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ws_with_origin(addr: SocketAddr, origin: &str) -> tokio_tungstenite::tungstenite::Error {
    let mut request = ws_url(addr, "EIO=4&transport=websocket")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade answered in time")
        .map(|_| ())
        .expect_err("a foreign origin is refused")
}

/// Counters never go down between two scrapes.
fn assert_counters_grew_or_held(before: &Scrape, after: &Scrape) {
    for ((name, labels), value) in &before.samples {
        if before.types[name] != "counter" {
            continue;
        }
        let now = after.samples[&(name.clone(), labels.clone())];
        assert!(now >= *value, "{name}{labels:?} went from {value} to {now}");
    }
}

// ------------------------------------------------------------ the tests

#[tokio::test]
async fn metrics_follow_sessions_sockets_rooms_packets_and_refusals() {
    let config = Config::default().with_max_connections(2);
    let server = start_with_routes(
        config,
        |io| {
            io.ns("/", |socket| {
                socket.on("echo", |s, e| {
                    let _ = s.emit_payload("echo", e.payload().clone());
                });
                socket.on("join", |s, e| {
                    if let Ok(room) = e.data::<String>() {
                        s.join(room.as_str());
                        let _ = s.emit("joined", &room);
                    }
                });
            });
            io.ns("/chat", |_| {});
        },
        with_metrics,
    );
    let addr = server.addr;

    let idle = scrape(addr).await;
    assert_eq!(idle.types.len(), 21, "every family: {:?}", idle.types);
    assert_eq!(
        idle.get("socketio_sessions", &[("transport", "websocket")]),
        0.0
    );
    assert_eq!(idle.one("socketio_packets_in_total"), 0.0);
    assert_eq!(idle.get("socketio_sockets", &[("namespace", "/")]), 0.0);
    assert_eq!(idle.get("socketio_sockets", &[("namespace", "/chat")]), 0.0);

    // One WebSocket session with a socket on `/` and one on `/chat`.
    let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
    send_text(&mut ws, "40/chat,").await;
    expect_connect(&mut ws, "/chat,").await;
    send_text(&mut ws, r#"42["echo","hi"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["echo","hi"]"#
    );
    send_text(&mut ws, r#"42["join","lobby"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["joined","lobby"]"#
    );
    // One polling session, with no socket.
    let _polling = polling_handshake(addr).await;
    // Refusals: a protocol version the server does not speak, a third session past
    // max_connections, a WebSocket from a foreign origin.
    let res = http_get(addr, "/socket.io/?EIO=3&transport=polling").await;
    assert_eio_error(&res, 400, 5, "Unsupported protocol version");
    let res = http_get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 503, "{}", res.text());
    let refusal = ws_refusal(ws_with_origin(addr, "http://elsewhere.example").await);
    assert_eq!(refusal.0, 400);

    // The rooms: each socket's own, and `lobby`.
    let busy = scrape_until(addr, |s| s.one("socketio_rooms") >= 3.0).await;
    assert_eq!(
        busy.get("socketio_sessions", &[("transport", "websocket")]),
        1.0
    );
    assert_eq!(
        busy.get("socketio_sessions", &[("transport", "polling")]),
        1.0
    );
    assert_eq!(busy.one("socketio_sessions_opened_total"), 2.0);
    assert_eq!(busy.get("socketio_sockets", &[("namespace", "/")]), 1.0);
    assert_eq!(busy.get("socketio_sockets", &[("namespace", "/chat")]), 1.0);
    assert_eq!(busy.one("socketio_rooms"), 3.0);
    assert_eq!(busy.one("socketio_pending_acks"), 0.0);
    // In: 40, 40/chat, two events. Out: the polling OPEN is a control packet; the two
    // CONNECT answers and two events are messages.
    assert!(busy.one("socketio_packets_in_total") >= 4.0, "{busy:?}");
    assert!(busy.one("socketio_packets_out_total") >= 4.0, "{busy:?}");
    let echo_bytes = r#"42["echo","hi"]"#.len() as f64;
    assert!(busy.one("socketio_bytes_in_total") >= 2.0 * echo_bytes);
    assert!(busy.one("socketio_bytes_out_total") >= 2.0 * echo_bytes);
    let refused =
        |s: &Scrape, reason| s.get("socketio_handshakes_refused_total", &[("reason", reason)]);
    assert!(refused(&busy, "bad_request") >= 1.0, "{busy:?}");
    assert_eq!(refused(&busy, "full"), 1.0);
    // Once under `Server`; under HttpServer the CORS middleware counts the WebSocket too.
    assert!(refused(&busy, "cors") >= 1.0, "{busy:?}");
    assert_eq!(busy.one("socketio_upgrades_total"), 0.0);
    assert_eq!(busy.one("socketio_slow_consumers_total"), 0.0);
    assert_eq!(busy.one("socketio_cluster_requests_total"), 0.0);
    assert_eq!(busy.one("socketio_recovery_hits_total"), 0.0);
    assert_counters_grew_or_held(&idle, &busy);

    // The WebSocket client leaves.
    let _ = timeout(STEP, ws.close(None)).await;
    drop(ws);
    let after = scrape_until(addr, |s| {
        s.get("socketio_sessions", &[("transport", "websocket")]) == 0.0
            && s.get("socketio_sockets", &[("namespace", "/")]) == 0.0
    })
    .await;
    assert_eq!(
        after.get("socketio_sessions", &[("transport", "websocket")]),
        0.0
    );
    assert_eq!(after.get("socketio_sockets", &[("namespace", "/")]), 0.0);
    assert_eq!(
        after.get("socketio_sockets", &[("namespace", "/chat")]),
        0.0
    );
    assert_eq!(
        after.get(
            "socketio_sessions_closed_total",
            &[("reason", "transport close")]
        ),
        1.0
    );
    assert_counters_grew_or_held(&busy, &after);
    assert_eq!(server.io.stats().sockets, 0);
}

#[tokio::test]
async fn an_upgrade_moves_a_session_between_transports() {
    let server = start_with_routes(Config::default(), echo_setup, with_metrics);
    let addr = server.addr;
    let sid = polling_handshake(addr).await;
    let mut ws = ws_connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    let upgraded = scrape_until(addr, |s| s.one("socketio_upgrades_total") == 1.0).await;
    assert_eq!(upgraded.one("socketio_upgrades_total"), 1.0);
    assert_eq!(
        upgraded.get("socketio_sessions", &[("transport", "websocket")]),
        1.0
    );
    assert_eq!(
        upgraded.get("socketio_sessions", &[("transport", "polling")]),
        0.0
    );
}

#[tokio::test]
async fn the_path_is_configurable() {
    let server = start_with_routes(Config::default(), echo_setup, |cfg, io| {
        io.metrics_service_at("internal/metrics")(cfg)
    });
    let scrape = scrape_at(server.addr, "/internal/metrics").await;
    assert_eq!(scrape.one("socketio_sessions_opened_total"), 0.0);
    assert_eq!(http_get(server.addr, "/metrics").await.status, 404);
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn without_the_service_packets_are_not_counted() {
    let server = start_echo(Config::default());
    well_behaved_check(server.addr).await;
    assert_eq!(http_get(server.addr, "/metrics").await.status, 404);
    let reading = server.io.meter().read();
    assert_eq!((reading.packets_in, reading.packets_out), (0, 0));
    assert_eq!(reading.opened, 1, "sessions are counted anyway");
}

/// The CONNECT answer's body for `/`.
async fn connect_answer(ws: &mut Ws) -> Value {
    let text = recv_text_answering_pings(ws).await;
    let body = text
        .strip_prefix("40")
        .unwrap_or_else(|| panic!("CONNECT answer expected, got {text:?}"));
    serde_json::from_str(body).expect("CONNECT JSON")
}

#[tokio::test]
async fn recovery_hits_misses_and_stored_sessions() {
    let config = Config::default().connection_state_recovery(
        Recovery::default().max_disconnection_duration(Duration::from_secs(5)),
    );
    let server = start_with_routes(
        config,
        |io| {
            io.ns("/", |_| {});
        },
        with_metrics,
    );
    let addr = server.addr;
    let (mut ws, _) = eio_handshake_ws(addr).await;
    send_text(&mut ws, "40").await;
    let first = connect_answer(&mut ws).await;
    drop(ws); // the connection is lost under the server: the socket is kept
    let dropped = scrape_until(addr, |s| s.one("socketio_recovery_sessions") == 1.0).await;
    assert_eq!(dropped.one("socketio_recovery_sessions"), 1.0);
    assert_eq!(dropped.one("socketio_recovery_hits_total"), 0.0);

    // The client comes back with its pid: a hit.
    let (mut ws, _) = eio_handshake_ws(addr).await;
    send_text(&mut ws, &format!("40{}", json!({ "pid": first["pid"] }))).await;
    let again = connect_answer(&mut ws).await;
    assert_eq!(again["sid"], first["sid"], "recovered");
    // Another one presents a pid nobody knows: a miss, and a fresh socket.
    let (mut other, _) = eio_handshake_ws(addr).await;
    send_text(&mut other, r#"40{"pid":"nobody-knows-this-pid"}"#).await;
    assert!(connect_answer(&mut other).await["sid"].is_string());
    // A client without a pid is neither.
    let (_plain, _, _) = sio_connect_ws(addr).await;

    let after = scrape(addr).await;
    assert_eq!(after.one("socketio_recovery_hits_total"), 1.0);
    assert_eq!(after.one("socketio_recovery_misses_total"), 1.0);
    assert_eq!(after.one("socketio_recovery_sessions"), 0.0);
    assert_eq!(after.get("socketio_sockets", &[("namespace", "/")]), 3.0);
    let stats = server.io.stats();
    assert_eq!((stats.recovery_hits, stats.recovery_misses), (1, 1));
}

/// A "Redis" that accepts connections and never says a word: every request of the adapter
/// waits for its deadline.
#[cfg(feature = "redis")]
#[tokio::test]
async fn cluster_requests_that_get_no_answer_count_as_timeouts() {
    use actix_socketio::{
        adapter::{RedisAdapter, RedisAdapterConfig},
        Payload,
    };

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut adapter_config = RedisAdapterConfig::new(url);
    adapter_config.requests_timeout = Duration::from_millis(200);
    let adapter = RedisAdapter::with_config(adapter_config).expect("a redis:// URL");
    let server = start_with_routes(
        Config::default(),
        move |io| {
            echo_setup(io);
            assert!(io.set_adapter(adapter));
        },
        with_metrics,
    );
    let before = scrape(server.addr).await;
    assert_eq!(before.one("socketio_cluster_requests_total"), 0.0);

    let ns = server.io.of("/");
    let count = timeout(Duration::from_secs(5), ns.server_count())
        .await
        .expect("the adapter gives up at its deadline");
    assert!(count.is_err(), "{count:?}");
    let answers = timeout(
        Duration::from_secs(5),
        ns.server_side_emit_with_ack(
            "hello",
            Payload::new().arg(&1).unwrap(),
            Duration::from_millis(200),
        ),
    )
    .await
    .expect("the adapter gives up at its deadline");
    assert!(answers.is_err(), "{answers:?}");

    let after = scrape(server.addr).await;
    assert_eq!(after.one("socketio_cluster_requests_total"), 2.0);
    assert_eq!(after.one("socketio_cluster_request_timeouts_total"), 2.0);
    well_behaved_check(server.addr).await;
}

/// A redis-server of this machine's on a free loopback port, killed when dropped.
#[cfg(feature = "redis")]
struct LocalRedis {
    child: std::process::Child,
    url: String,
}

#[cfg(feature = "redis")]
impl LocalRedis {
    /// `None` when there is no `redis-server` on the PATH.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let redis = LocalRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }
}

#[cfg(feature = "redis")]
impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes on a real Redis: answered requests count without timeouts, an unanswered one
/// with. It needs a redis-server on the PATH, so plain `cargo test` lists it as ignored and
/// `make test-cluster` (which installs Debian's redis-server when missing) runs it; without
/// redis-server it fails rather than passing unrun.
#[cfg(feature = "redis")]
#[tokio::test]
#[ignore = "needs redis-server on the PATH; `make test-cluster` runs it"]
async fn cluster_requests_between_two_nodes_on_redis() {
    use actix_socketio::{
        adapter::{RedisAdapter, RedisAdapterConfig},
        Payload,
    };

    let redis = LocalRedis::start().expect(
        "no redis-server on the PATH: install it (make cluster-tools does) to run this test",
    );
    let adapter = |url: &str| {
        let mut config = RedisAdapterConfig::new(url);
        config.requests_timeout = Duration::from_secs(2);
        RedisAdapter::with_config(config).expect("a redis:// URL")
    };
    let (first, second) = (adapter(&redis.url), adapter(&redis.url));
    let a = start_with_routes(
        Config::default(),
        move |io| {
            echo_setup(io);
            io.set_adapter(first);
        },
        with_metrics,
    );
    let _b = start(Config::default(), move |io| {
        echo_setup(io);
        io.set_adapter(second);
        io.of("/").on_server_side_emit("answer", |_, ack| {
            if let Some(ack) = ack {
                let _ = ack.send(&42);
            }
        });
        io.of("/").on_server_side_emit("silent", |_, _| {});
    });
    let ns = a.io.of("/");
    let both = eventually(Duration::from_secs(5), || {
        let ns = ns.clone();
        async move { ns.server_count().await == Ok(2) }
    })
    .await;
    assert!(both, "the two nodes see each other on Redis");

    let before = scrape(a.addr).await;
    let requests = before.one("socketio_cluster_requests_total");
    assert!(requests >= 1.0, "the server counts above: {before:?}");
    assert_eq!(before.one("socketio_cluster_request_timeouts_total"), 0.0);

    ns.cluster_rooms()
        .await
        .expect("the other node lists its rooms");
    let answers = ns
        .server_side_emit_with_ack("answer", Payload::new(), Duration::from_secs(2))
        .await;
    assert_eq!(answers, Ok(vec![json!(42)]));
    let silent = ns
        .server_side_emit_with_ack("silent", Payload::new(), Duration::from_millis(200))
        .await;
    assert!(silent.is_err(), "{silent:?}");

    let after = scrape(a.addr).await;
    assert_eq!(after.one("socketio_cluster_requests_total"), requests + 3.0);
    assert_eq!(after.one("socketio_cluster_request_timeouts_total"), 1.0);
}
