//! Hostile clients against a live server: slowloris connections, a handshake flood past
//! `max_connections`, oversize bodies and frames whose rest never comes, deep JSON over polling,
//! lying attachment counts, room hoarding, ack abuse, and a client that never answers pings.
//! Each test also checks that a well-behaved client on the same server is unaffected.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use actix_socketio::{AckError, Config, Payload, SocketIo};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{
        mpsc::{unbounded_channel, UnboundedReceiver},
        Mutex,
    },
    time::{sleep, timeout},
};
use tokio_tungstenite::tungstenite::Message;

/// One test at a time: the flood test counts this process's file descriptors, and the latency
/// checks must not compete with another test's flood for the machine's cores.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// The slowest echo round trip a well-behaved client may see while a hostile one misbehaves.
const LATENCY_LIMIT: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------
// Helpers

/// What a well-behaved client measured: round trips done, the slowest one, and its socket.
struct EchoStats {
    round_trips: usize,
    worst: Duration,
    ws: Ws,
}

impl EchoStats {
    /// Asserts the latency bound and that the client kept going; closes the socket.
    async fn assert_fast(mut self, what: &str, at_least: usize) {
        assert!(
            self.worst < LATENCY_LIMIT,
            "{what}: slowest echo round trip {:?} (of {})",
            self.worst,
            self.round_trips
        );
        assert!(
            self.round_trips >= at_least,
            "{what}: only {} echo round trips",
            self.round_trips
        );
        let _ = timeout(STEP, self.ws.close(None)).await;
    }
}

/// A well-behaved WebSocket client measuring echo round trips in the background.
struct EchoMonitor {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<EchoStats>,
}

impl EchoMonitor {
    /// Connects to `/` and starts an echo every `every`.
    async fn start(addr: SocketAddr, every: Duration) -> EchoMonitor {
        let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut round_trips = 0;
            // Bounded: 60 s of echoes at most, far past any test here.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Acquire) && Instant::now() < deadline {
                let text = format!(r#"42["echo",{round_trips}]"#);
                let started = Instant::now();
                send_text(&mut ws, &text).await;
                let answer = recv_text_answering_pings(&mut ws).await;
                worst = worst.max(started.elapsed());
                assert_eq!(answer, text, "the well-behaved client's echo");
                round_trips += 1;
                sleep(every).await;
            }
            EchoStats {
                round_trips,
                worst,
                ws,
            }
        });
        EchoMonitor { stop, task }
    }

    /// Stops the echoes; what they measured.
    async fn finish(self) -> EchoStats {
        self.stop.store(true, Ordering::Release);
        match timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(stats)) => stats,
            Ok(Err(err)) => std::panic::resume_unwind(err.into_panic()),
            Err(_) => panic!("the well-behaved client did not stop in time"),
        }
    }
}

/// Asserts that a polling session was closed by the server: the next GET collects the close
/// packet (after whatever was queued) or the sid is already gone; then it is unknown.
async fn expect_polling_closed(addr: SocketAddr, sid: &str, what: &str) {
    let res = poll_get(addr, sid).await;
    if res.status == 200 {
        let text = res.text();
        assert!(
            text.split('\x1e').any(|packet| packet == "1"),
            "{what}: a close packet expected, got {text:?}"
        );
    } else {
        assert_eio_error(&res, 400, 1, "Session ID unknown");
    }
    assert_sid_unknown(addr, sid).await;
}

/// The rest of `text` after `prefix`, split into the leading digits (an ack id) and the JSON.
fn split_ack_id<'a>(text: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let id = rest[..digits].parse().ok()?;
    Some((id, &rest[digits..]))
}

/// Sends `42<id>["<event>",...args]` and reads the ack `43<id>[...]`, skipping nothing else.
async fn call(ws: &mut Ws, id: u64, event: &str, args: &[Value]) -> Vec<Value> {
    let mut items = vec![json!(event)];
    items.extend_from_slice(args);
    send_text(ws, &format!("42{id}{}", Value::Array(items))).await;
    let text = recv_text_answering_pings(ws).await;
    let (got, json) =
        split_ack_id(&text, "43").unwrap_or_else(|| panic!("ack {id} expected, got {text:?}"));
    assert_eq!(got, id, "ack id of {text:?}");
    serde_json::from_str(json).expect("ack JSON")
}

// ---------------------------------------------------------------------------------------------
// 1. Slowloris

/// One slowloris connection: an unfinished request head, then one more byte every 100 ms
/// (`trickle`) or nothing more at all. How long the server kept it open (`None`: still open
/// after 9 s), and what the server sent.
async fn slowloris(addr: SocketAddr, trickle: bool) -> (Option<Duration>, Vec<u8>) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: slo"
    );
    let head = head.as_bytes();
    let mut sent = 0;
    if !trickle {
        stream.write_all(head).await.expect("send the partial head");
        sent = head.len();
    }
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = started + Duration::from_secs(9);
    while Instant::now() < deadline {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return (Some(started.elapsed()), received),
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
            _ = sleep(Duration::from_millis(100)) => {
                if trickle {
                    // The head never ends: after the request line, a header value that grows.
                    let byte = head.get(sent).copied().unwrap_or(b'w');
                    if stream.write_all(&[byte]).await.is_err() {
                        return (Some(started.elapsed()), received);
                    }
                    sent += 1;
                }
            }
        }
    }
    (None, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_dropped_while_echo_stays_fast() {
    let _serial = SERIAL.lock().await;
    let server = start_echo(Config::default());
    let addr = server.addr;
    let monitor = EchoMonitor::start(addr, Duration::from_millis(50)).await;
    let hostile: Vec<_> = (0..50)
        .map(|i| tokio::spawn(slowloris(addr, i % 2 == 0)))
        .collect();
    // A newcomer gets in while the 50 hold their connections.
    sleep(Duration::from_millis(500)).await;
    well_behaved_check(addr).await;
    let mut longest = Duration::ZERO;
    for (i, task) in hostile.into_iter().enumerate() {
        let (lifetime, received) = timeout(Duration::from_secs(10), task)
            .await
            .expect("slowloris task ends")
            .expect("slowloris task did not panic");
        let lifetime = lifetime.unwrap_or_else(|| {
            panic!(
                "slowloris connection {i} still open after 9 s (server sent {:?})",
                String::from_utf8_lossy(&received)
            )
        });
        assert!(
            received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
            "connection {i}: {:?}",
            String::from_utf8_lossy(&received)
        );
        longest = longest.max(lifetime);
    }
    assert!(
        longest <= Duration::from_secs(7),
        "a slowloris connection lived {longest:?}"
    );
    monitor
        .finish()
        .await
        .assert_fast("during slowloris", 40)
        .await;
    let io = server.io.clone();
    assert!(
        eventually(STEP, || async { io.session_count() == 0 }).await,
        "slowloris opened no session: {:?}",
        io.stats()
    );
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Handshake flood past max_connections

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_flood_past_max_connections_is_refused_and_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let server = start_echo(Config::default().with_max_connections(50));
    let addr = server.addr;
    let io = server.io.clone();
    // Warm up both transports, so that resources the server creates lazily are not counted
    // as a leak.
    well_behaved_check(addr).await;
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "1").await;
    assert!(eventually(STEP, || async { io.session_count() == 0 }).await);
    let fds_before = open_fds();

    // 50 sessions: the well-behaved client and 49 polling sessions.
    let monitor = EchoMonitor::start(addr, Duration::from_millis(20)).await;
    let mut sids = Vec::new();
    for _ in 0..49 {
        sids.push(polling_handshake(addr).await);
    }
    assert_eq!(io.session_count(), 50);

    let refusals: Vec<(usize, u16, String, String)> = futures_util::stream::iter(0..500)
        .map(|i| async move {
            if i % 2 == 0 {
                let res = http_get(addr, "/socket.io/?EIO=4&transport=polling").await;
                let content_type = res.header("content-type").unwrap_or("").to_owned();
                let body = String::from_utf8_lossy(&res.body).into_owned();
                (i, res.status, content_type, body)
            } else {
                match ws_try_connect(addr, "EIO=4&transport=websocket").await {
                    Ok(_) => (i, 101, String::new(), String::new()),
                    Err(err) => {
                        let (status, content_type, body) = ws_refusal(err);
                        (i, status, content_type, body)
                    }
                }
            }
        })
        .buffer_unordered(25)
        .collect()
        .await;
    assert_eq!(refusals.len(), 500);
    for (i, status, content_type, body) in &refusals {
        let transport = if i % 2 == 0 { "polling" } else { "websocket" };
        assert_eq!(*status, 503, "{transport} handshake {i}: {body:?}");
        assert!(
            content_type.starts_with("application/json"),
            "{transport} handshake {i}: Content-Type {content_type:?}"
        );
        let json: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{transport} handshake {i}: JSON body ({e}): {body:?}"));
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }
    assert_eq!(io.session_count(), 50, "the refusals opened nothing");
    let stats = monitor.finish().await;
    stats.assert_fast("during the handshake flood", 3).await;

    // The 49 polling sessions are alive: each takes a close packet.
    for sid in &sids {
        poll_post_ok(addr, sid, "1").await;
    }
    assert!(
        eventually(STEP, || async { io.session_count() == 0 }).await,
        "{} sessions left",
        io.session_count()
    );
    let settled = eventually(Duration::from_secs(3), || async {
        open_fds() <= fds_before + 10
    })
    .await;
    assert!(
        settled,
        "file descriptors: {fds_before} before the flood, {} after",
        open_fds()
    );
    assert_eq!(io.stats().sessions, 0);
    assert_eq!(io.stats().sockets, 0);

    let sid = polling_handshake(addr).await;
    assert_eq!(io.session_count(), 1);
    poll_post_ok(addr, &sid, "1").await;
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Oversize bodies and frames, the rest held back

/// Sends a POST head and the first part of its body on a raw connection; the stream.
async fn partial_post(addr: SocketAddr, sid: &str, headers: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain;charset=UTF-8\r\n{headers}\r\n",
        poll_url(sid)
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    timeout(STEP, stream.write_all(&request))
        .await
        .expect("send in time")
        .expect("send the partial request");
    stream
}

/// `n` bytes of a message packet: `4` then `x`s.
fn message_bytes(n: usize) -> Vec<u8> {
    let mut data = vec![b'x'; n];
    data[0] = b'4';
    data
}

/// Asserts that the server ends a raw HTTP connection (EOF or reset) within `limit`.
async fn assert_connection_ends(stream: &mut TcpStream, limit: Duration, what: &str) {
    let drain = async {
        let mut buf = [0u8; 4096];
        // Bounded: at most 4 MB of whatever the server still sends.
        for _ in 0..1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        panic!("{what}: endless response");
    };
    timeout(limit, drain)
        .await
        .unwrap_or_else(|_| panic!("{what}: the server kept the connection open for {limit:?}"));
}

/// Runs `hostile` on an echo server while a well-behaved client measures its echo latency;
/// afterwards no session is left but a fresh one works.
async fn with_echo_monitor<F, Fut>(what: &str, hostile: F)
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let server = start_echo(Config::default());
    let addr = server.addr;
    let monitor = EchoMonitor::start(addr, Duration::from_millis(50)).await;
    hostile(addr).await;
    // Keep measuring a little after the hostile client is done (a fast refusal ends it early).
    tokio::time::sleep(Duration::from_millis(200)).await;
    monitor.finish().await.assert_fast(what, 3).await;
    let io = server.io.clone();
    assert!(
        eventually(STEP, || async { io.session_count() == 0 }).await,
        "{what}: {:?}",
        io.stats()
    );
    well_behaved_check(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_post_is_refused_without_reading_the_rest() {
    let _serial = SERIAL.lock().await;
    with_echo_monitor("10 MB Content-Length", |addr| async move {
        // Content-Length 10 MB, 64 KB of it sent: 413 while the rest is held back.
        let (sid, _) = polling_connect(addr).await;
        let mut stream = partial_post(
            addr,
            &sid,
            "Content-Length: 10000000\r\n",
            &message_bytes(64 * 1024),
        )
        .await;
        let started = Instant::now();
        let res = timeout(STEP, read_http_response(&mut stream))
            .await
            .expect("an answer while the body is held back");
        assert_eq!(res.status, 413, "{:?}", String::from_utf8_lossy(&res.body));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_connection_ends(&mut stream, STEP, "10 MB Content-Length").await;
        expect_polling_closed(addr, &sid, "10 MB Content-Length").await;
    })
    .await;
}

/// One chunk of a chunked body: 64 KB of a message packet (`first`) or of its continuation.
fn body_chunk(first: bool) -> Vec<u8> {
    let len = 64 * 1024;
    let mut data = format!("{len:x}\r\n").into_bytes();
    let mut payload = vec![b'x'; len];
    if first {
        payload[0] = b'4';
    }
    data.extend_from_slice(&payload);
    data.extend_from_slice(b"\r\n");
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_chunked_post_is_refused_past_max_payload() {
    let _serial = SERIAL.lock().await;
    with_echo_monitor("endless chunked POST", |addr| async move {
        // Chunked, no length: nothing until max_payload (1e6) is passed, then 413.
        let (sid, _) = polling_connect(addr).await;
        let mut stream = partial_post(
            addr,
            &sid,
            "Transfer-Encoding: chunked\r\n",
            &body_chunk(true),
        )
        .await;
        for _ in 1..15 {
            timeout(STEP, stream.write_all(&body_chunk(false)))
                .await
                .expect("send in time")
                .expect("send a chunk");
        }
        // 15 chunks = 983 040 bytes: under the limit, so no answer yet.
        let mut peek = [0u8; 1];
        let early = timeout(Duration::from_millis(300), stream.peek(&mut peek)).await;
        assert!(early.is_err(), "an answer under max_payload: {early:?}");
        for _ in 0..2 {
            timeout(STEP, stream.write_all(&body_chunk(false)))
                .await
                .expect("send in time")
                .expect("send a chunk");
        }
        let res = timeout(STEP, read_http_response(&mut stream))
            .await
            .expect("an answer once max_payload is passed, the last chunk held back");
        assert_eq!(res.status, 413, "{:?}", String::from_utf8_lossy(&res.body));
        expect_polling_closed(addr, &sid, "chunked 1.1 MB").await;
        // The body never ends: the server must not keep the connection waiting for it (a
        // client could hold it open for ever, sending chunks the server discards).
        assert_connection_ends(
            &mut stream,
            STEP,
            "chunked body over max_payload, answered 413 and never finished",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_websocket_frame_is_refused_without_reading_the_rest() {
    let _serial = SERIAL.lock().await;
    with_echo_monitor("10 MB WebSocket frame", |addr| async move {
        // A text, then a binary frame announcing 10 MB, 64 KB of it sent, then still.
        for opcode in [0x81u8, 0x82] {
            let (mut stream, sid) = raw_ws_session(addr).await;
            let mut frame = client_frame_header(opcode, 10_000_000);
            frame.extend_from_slice(&message_bytes(64 * 1024));
            timeout(STEP, stream.write_all(&frame))
                .await
                .expect("send in time")
                .expect("send the partial frame");
            let started = Instant::now();
            let ending = raw_ws_ending(&mut stream, STEP).await;
            assert!(
                matches!(ending, RawEnding::Close(Some(1009)) | RawEnding::Dropped),
                "opcode {opcode:#x}: close 1009 expected, got {ending:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "opcode {opcode:#x}: closed after {:?}",
                started.elapsed()
            );
            assert_sid_unknown(addr, &sid).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_fragmented_websocket_message_is_refused_past_max_payload() {
    let _serial = SERIAL.lock().await;
    with_echo_monitor("endless fragmented message", |addr| async move {
        // 64 KB fragments of one text message, never a final one.
        let (mut stream, sid) = raw_ws_session(addr).await;
        let fragment = message_bytes(64 * 1024);
        let mut ending = None;
        for i in 0..20 {
            let first = if i == 0 { 0x01 } else { 0x00 };
            let mut frame = client_frame_header(first, fragment.len() as u64);
            frame.extend_from_slice(&fragment);
            if stream.write_all(&frame).await.is_err() {
                break;
            }
            let mut peek = [0u8; 1];
            if i == 14 {
                // 983 040 bytes so far: still under the limit.
                let early = timeout(Duration::from_millis(200), stream.peek(&mut peek)).await;
                assert!(early.is_err(), "closed under max_payload: {early:?}");
            }
            if i >= 15
                && timeout(Duration::from_millis(100), stream.peek(&mut peek))
                    .await
                    .is_ok()
            {
                ending = Some(raw_ws_ending(&mut stream, STEP).await);
                break;
            }
        }
        let ending = match ending {
            Some(ending) => ending,
            None => raw_ws_ending(&mut stream, STEP).await,
        };
        assert!(
            matches!(ending, RawEnding::Close(Some(1009)) | RawEnding::Dropped),
            "fragments over max_payload: close 1009 expected, got {ending:?}"
        );
        assert_sid_unknown(addr, &sid).await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Deeply nested JSON over polling

#[tokio::test]
async fn deeply_nested_json_over_polling_closes_the_session() {
    let _serial = SERIAL.lock().await;
    let server = start_echo(Config::default());
    let addr = server.addr;
    let cases = [
        format!("42{}", "[".repeat(100_000)),
        format!(
            "42[\"echo\",{}{}]",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(
            "42[\"echo\",{}1{}]",
            "{\"a\":".repeat(50_000),
            "}".repeat(50_000)
        ),
        format!("4{}", "[".repeat(100_000)),
    ];
    for body in &cases {
        let what = format!("{}… ({} bytes)", &body[..12], body.len());
        let (sid, _) = polling_connect(addr).await;
        let waiting = {
            let sid = sid.clone();
            tokio::spawn(async move { poll_get(addr, &sid).await })
        };
        sleep(Duration::from_millis(100)).await;
        let res = http_post(addr, &poll_url(&sid), body.as_bytes(), &[]).await;
        assert!(
            res.status == 200 || res.status == 400,
            "{what}: POST answered {} {:?}",
            res.status,
            String::from_utf8_lossy(&res.body)
        );
        let waiting = timeout(STEP, waiting)
            .await
            .expect("the waiting GET is answered")
            .expect("GET task");
        assert_eq!(waiting.status, 200, "{what}");
        assert!(
            waiting.text().ends_with('1'),
            "{what}: close packet expected, got {:?}",
            waiting.text()
        );
        assert_sid_unknown(addr, &sid).await;
        assert_eq!(server.io.session_count(), 0, "{what}");
        well_behaved_check(addr).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Attachment counts that lie

fn placeholders(count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    format!(r#"45{count}-["echo",{}]"#, items.join(","))
}

#[tokio::test]
async fn attachment_counts_that_lie_close_only_that_session() {
    let _serial = SERIAL.lock().await;
    let server = start_echo(Config::default());
    let addr = server.addr;
    let (mut good, _, _) = sio_connect_ws(addr).await;

    // Three announced, one sent: the session waits (no event, still open)...
    let (mut ws, sid, _) = sio_connect_ws(addr).await;
    send_text(&mut ws, &placeholders(3)).await;
    send_binary(&mut ws, &[1]).await;
    expect_silence(&mut ws, Duration::from_millis(300)).await;
    assert_eq!(server.io.session_count(), 2);
    // ...and the next text packet closes it.
    send_text(&mut ws, r#"42["echo",1]"#).await;
    let (before, _) = expect_closed(&mut ws).await;
    assert!(before.is_empty(), "{before:?}");
    assert_sid_unknown(addr, &sid).await;

    // One announced, three sent: the first completes the event, the second closes.
    let (mut ws, sid, _) = sio_connect_ws(addr).await;
    send_text(&mut ws, &placeholders(1)).await;
    for byte in [1u8, 2, 3] {
        // The server may have closed already: a failed send is fine here.
        let _ = timeout(STEP, ws.send(Message::binary(vec![byte]))).await;
    }
    let (before, _) = expect_closed(&mut ws).await;
    let echo_text = Message::text(placeholders(1));
    let echo_binary = Message::binary(vec![1u8]);
    assert!(
        before.iter().all(|m| *m == echo_text || *m == echo_binary),
        "only the completed event's echo may come before the close: {before:?}"
    );
    assert_sid_unknown(addr, &sid).await;

    // The same over polling: three announced, one `b` record, then a text packet.
    let (sid, _) = polling_connect(addr).await;
    poll_post_ok(addr, &sid, &format!("{}\x1ebAQ==", placeholders(3))).await;
    let res = http_post(addr, &poll_url(&sid), br#"42["echo",1]"#, &[]).await;
    assert!(res.status == 200 || res.status == 400, "{}", res.status);
    expect_polling_closed(addr, &sid, "text while attachments are due").await;
    // One announced, three records.
    let (sid, _) = polling_connect(addr).await;
    let body = format!("{}\x1ebAQ==\x1ebAg==\x1ebAw==", placeholders(1));
    let res = http_post(addr, &poll_url(&sid), body.as_bytes(), &[]).await;
    assert!(res.status == 200 || res.status == 400, "{}", res.status);
    expect_polling_closed(addr, &sid, "extra attachments").await;

    // The well-behaved client never noticed.
    send_text(&mut good, r#"42["echo","still here"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut good).await,
        r#"42["echo","still here"]"#
    );
    assert_eq!(server.io.session_count(), 1);
    well_behaved_check(addr).await;
}

// ---------------------------------------------------------------------------------------------
// 6. One socket hoarding rooms

/// `/` with `join` (room `r<i>`), `join_many` (rooms `r<from>`..`r<to>`), `leave` and `count`;
/// each acks `[accepted, socket.rooms().len()]`.
fn rooms_server(config: Config) -> TestServer {
    start(config, |io| {
        io.ns("/", |socket| {
            socket.on("echo", |s, e| {
                let _ = s.emit_payload("echo", e.payload().clone());
            });
            socket.on("join", |s, mut e| {
                let i: u64 = e.payload().get(0).unwrap_or(0);
                let accepted = s.join(format!("r{i}"));
                if let Some(ack) = e.take_ack() {
                    ack.send_payload(
                        Payload::new()
                            .value(json!(accepted))
                            .value(json!(s.rooms().len())),
                    );
                }
            });
            socket.on("join_many", |s, mut e| {
                let from: u64 = e.payload().get(0).unwrap_or(0);
                let to: u64 = e.payload().get(1).unwrap_or(0);
                let rooms: Vec<String> = (from..to).map(|i| format!("r{i}")).collect();
                let accepted = s.join(rooms);
                if let Some(ack) = e.take_ack() {
                    ack.send_payload(
                        Payload::new()
                            .value(json!(accepted))
                            .value(json!(s.rooms().len())),
                    );
                }
            });
            socket.on("leave", |s, mut e| {
                let i: u64 = e.payload().get(0).unwrap_or(0);
                s.leave(format!("r{i}"));
                if let Some(ack) = e.take_ack() {
                    ack.send_payload(
                        Payload::new()
                            .value(json!(true))
                            .value(json!(s.rooms().len())),
                    );
                }
            });
        });
    })
}

/// Rooms of `/` whose name starts with `r` and a digit, as the RoomManager holds them.
async fn hoarded_rooms(io: &SocketIo) -> usize {
    let rooms = timeout(STEP, io.of("/").all_rooms())
        .await
        .expect("all_rooms in time");
    rooms
        .iter()
        .filter(|(name, _)| {
            name.strip_prefix('r')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

/// Joins `r0`..`r<total>` one event each (pipelined) and checks every ack against `max`.
async fn hoard(ws: &mut Ws, max: usize, total: usize) {
    for i in 0..total {
        send_text(ws, &format!(r#"42{i}["join",{i}]"#)).await;
    }
    for i in 0..total {
        let text = recv_text_answering_pings(ws).await;
        let expected = if i < max {
            json!([true, i + 2])
        } else {
            json!([false, max + 1])
        };
        assert_eq!(
            text,
            format!("43{i}{expected}"),
            "join r{i} with max_rooms_per_socket {max}"
        );
    }
}

#[tokio::test]
async fn a_socket_cannot_join_more_than_max_rooms() {
    let _serial = SERIAL.lock().await;

    // The default limit, 1000, against 2000 joins, then 5000 rooms in one call.
    let server = rooms_server(Config::default());
    let addr = server.addr;
    let io = server.io.clone();
    let (mut good, _, _) = sio_connect_ws(addr).await;
    let (mut ws, _, _) = sio_connect_ws(addr).await;
    hoard(&mut ws, 1000, 2000).await;
    assert_eq!(
        call(&mut ws, 5000, "join_many", &[json!(2000), json!(7000)]).await,
        vec![json!(false), json!(1001)]
    );
    assert!(
        eventually(STEP, || async { hoarded_rooms(&io).await == 1000 }).await,
        "the RoomManager holds {} rooms r*",
        hoarded_rooms(&io).await
    );
    // Own rooms of the two sockets, and the 1000.
    assert!(
        eventually(STEP, || async { io.stats().rooms == 1002 }).await,
        "{:?}",
        io.stats()
    );
    // A room past the limit gets nothing; one within it does.
    io.of("/").to("r1500").emit("x", &1).expect("emit");
    io.of("/").to("r999").emit("y", &2).expect("emit");
    assert_eq!(recv_text_answering_pings(&mut ws).await, r#"42["y",2]"#);
    // Leaving one makes room for one.
    assert_eq!(
        call(&mut ws, 5001, "leave", &[json!(0)]).await,
        vec![json!(true), json!(1000)]
    );
    assert_eq!(
        call(&mut ws, 5002, "join", &[json!(4242)]).await,
        vec![json!(true), json!(1001)]
    );
    assert_eq!(
        call(&mut ws, 5003, "join", &[json!(4243)]).await,
        vec![json!(false), json!(1001)]
    );
    // The well-behaved client is unaffected.
    send_text(&mut good, r#"42["echo","ok"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut good).await,
        r#"42["echo","ok"]"#
    );
    // Leaving frees every room.
    let _ = timeout(STEP, ws.close(None)).await;
    assert!(
        eventually(STEP, || async { io.stats().rooms == 1 }).await,
        "rooms left after the hoarder's disconnect: {:?}",
        io.stats()
    );
    drop(server);

    // A configured limit.
    let server = rooms_server(Config::default().with_max_rooms_per_socket(10));
    let (mut ws, _, _) = sio_connect_ws(server.addr).await;
    hoard(&mut ws, 10, 30).await;
    assert!(eventually(STEP, || async { hoarded_rooms(&server.io).await == 10 }).await);
    well_behaved_check(server.addr).await;
}

// ---------------------------------------------------------------------------------------------
// 7. Acks never answered, answered twice, answered with ids never issued

type AskReport = (String, Result<Payload, AckError>, Duration);

/// `/` with `ask`: the handler emits `q` with the client's tag and a 300 ms ack timeout, and
/// reports (tag, outcome, time taken).
fn ask_server() -> (TestServer, UnboundedReceiver<AskReport>) {
    let (tx, rx) = unbounded_channel();
    let server = start(Config::default(), move |io| {
        io.ns("/", move |socket| {
            socket.on("echo", |s, e| {
                let _ = s.emit_payload("echo", e.payload().clone());
            });
            let tx = tx.clone();
            socket.on("ask", move |s, e| {
                let tag: String = e.payload().get(0).unwrap_or_default();
                let started = Instant::now();
                let answer = s.emit_with_ack("q", &tag, Duration::from_millis(300));
                let tx = tx.clone();
                actix::spawn(async move {
                    let outcome = answer.await;
                    let _ = tx.send((tag, outcome, started.elapsed()));
                });
            });
        });
    });
    (server, rx)
}

/// Asks the server to ask us; the ack id of its question.
async fn ask(ws: &mut Ws, tag: &str) -> u64 {
    send_text(ws, &format!(r#"42["ask","{tag}"]"#)).await;
    let text = recv_text_answering_pings(ws).await;
    let (id, json) =
        split_ack_id(&text, "42").unwrap_or_else(|| panic!("a question expected, got {text:?}"));
    assert_eq!(json, format!(r#"["q","{tag}"]"#), "{text}");
    id
}

/// Asserts that no report comes for `quiet`.
async fn no_report(reports: &mut UnboundedReceiver<AskReport>, quiet: Duration) {
    if let Ok(report) = timeout(quiet, reports.recv()).await {
        panic!("no ack outcome expected, got {report:?}");
    }
}

#[tokio::test]
async fn acks_never_answered_answered_twice_or_never_issued() {
    let _serial = SERIAL.lock().await;
    let (server, mut reports) = ask_server();
    let addr = server.addr;
    let io = server.io.clone();
    let (mut ws, _, _) = sio_connect_ws(addr).await;

    // Answers to ids never issued, id 0 (the next one) included, and a binary one: ignored.
    for text in [
        r#"430["early"]"#,
        r#"4312345["x"]"#,
        r#"4318446744073709551615["x"]"#,
        "43[]",
    ] {
        send_text(&mut ws, text).await;
    }
    send_text(&mut ws, r#"461-77[{"_placeholder":true,"num":0}]"#).await;
    send_binary(&mut ws, &[9]).await;
    expect_silence(&mut ws, Duration::from_millis(100)).await;

    // Never answered: Timeout after 300 ms, not the early answer.
    let id = ask(&mut ws, "never").await;
    assert_eq!(id, 0, "ack ids start at 0");
    let (tag, outcome, took) = next_seen(&mut reports).await;
    assert_eq!((tag.as_str(), &outcome), ("never", &Err(AckError::Timeout)));
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_secs(1),
        "timed out after {took:?}"
    );
    // A late answer to it is ignored.
    send_text(&mut ws, &format!(r#"43{id}["late"]"#)).await;

    // Answered twice: the first answer counts, the second is ignored.
    let id = ask(&mut ws, "twice").await;
    send_text(&mut ws, &format!(r#"43{id}["first"]"#)).await;
    send_text(&mut ws, &format!(r#"43{id}["second"]"#)).await;
    let (tag, outcome, took) = next_seen(&mut reports).await;
    assert_eq!(tag, "twice");
    assert_eq!(
        outcome.expect("answered").args(),
        &[json!("first")],
        "the first answer"
    );
    assert!(took < Duration::from_millis(300), "{took:?}");
    no_report(&mut reports, Duration::from_millis(400)).await;
    assert_eq!(io.stats().pending_acks, 0);

    // 200 questions never answered: all time out, none stays pending.
    for i in 0..200 {
        send_text(&mut ws, &format!(r#"42["ask","mass{i}"]"#)).await;
    }
    let mut questions = 0;
    while questions < 200 {
        let text = recv_text_answering_pings(&mut ws).await;
        assert!(text.contains(r#"["q","mass"#), "{text}");
        questions += 1;
    }
    assert!(
        io.stats().pending_acks > 0,
        "the questions are pending: {:?}",
        io.stats()
    );
    for _ in 0..200 {
        let (tag, outcome, _) = next_seen(&mut reports).await;
        assert!(tag.starts_with("mass"), "{tag}");
        assert_eq!(outcome, Err(AckError::Timeout), "{tag}");
    }
    assert!(
        eventually(STEP, || async { io.stats().pending_acks == 0 }).await,
        "{:?}",
        io.stats()
    );

    // The session is healthy.
    send_text(&mut ws, r#"42["echo","alive"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["echo","alive"]"#
    );

    // Questions pending when the client leaves resolve at once with Disconnected.
    for i in 0..20 {
        let _ = ask(&mut ws, &format!("gone{i}")).await;
    }
    let _ = timeout(STEP, ws.close(None)).await;
    for _ in 0..20 {
        let (tag, outcome, took) = next_seen(&mut reports).await;
        assert!(tag.starts_with("gone"), "{tag}");
        assert_eq!(outcome, Err(AckError::Disconnected), "{tag}");
        assert!(took < Duration::from_millis(300), "{tag}: {took:?}");
    }
    assert!(
        eventually(STEP, || async { io.stats().pending_acks == 0 }).await,
        "{:?}",
        io.stats()
    );
    well_behaved_check(addr).await;
    assert!(eventually(STEP, || async { io.stats().sessions == 0 }).await);
}

// ---------------------------------------------------------------------------------------------
// 8. A client that never answers pings while a broadcast flood comes in

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_under_a_broadcast_flood_is_dropped_on_ping_timeout() {
    let _serial = SERIAL.lock().await;
    let server = start_echo(
        Config::default()
            .with_ping_interval(Duration::from_millis(200))
            .with_ping_timeout(Duration::from_millis(200)),
    );
    let addr = server.addr;
    let io = server.io.clone();
    let (mut good, _, _) = sio_connect_ws(addr).await;

    // A tick to every socket of `/` every 2 ms, for at most 3 s.
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let io = io.clone();
        let flooding = flooding.clone();
        tokio::spawn(async move {
            let mut sent = 0u64;
            while flooding.load(Ordering::Acquire) && sent < 1500 {
                io.of("/").emit("tick", &sent).expect("broadcast");
                sent += 1;
                sleep(Duration::from_millis(2)).await;
            }
            sent
        })
    };

    // The good client answers pings and reads ticks in the background.
    let good_task = tokio::spawn(async move {
        let mut ticks = 0usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let text = recv_text_answering_pings(&mut good).await;
            if text == r#"42["done"]"# {
                return (ticks, good);
            }
            assert!(text.starts_with(r#"42["tick","#), "{text}");
            ticks += 1;
        }
        panic!("no end marker");
    });

    // WebSocket: reads everything, never answers a ping.
    let started = Instant::now();
    let (mut silent, sid, _) = sio_connect_ws(addr).await;
    let (before, _) = wait_closed_within(&mut silent, Duration::from_secs(2)).await;
    let lived = started.elapsed();
    assert!(
        lived >= Duration::from_millis(350) && lived < Duration::from_secs(1),
        "the silent WebSocket client lived {lived:?}"
    );
    let ticks_seen = before
        .iter()
        .filter(|m| matches!(m, Message::Text(t) if t.as_str().starts_with(r#"42["tick","#)))
        .count();
    assert!(ticks_seen > 10, "it was receiving the flood: {ticks_seen}");
    assert_sid_unknown(addr, &sid).await;

    // Polling: GETs in a loop (ticks and pings come back), never a `3`.
    // Its own connect: ticks may already follow the CONNECT answer in the first GET.
    let started = Instant::now();
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "40").await;
    let first = poll_get(addr, &sid).await.text();
    assert!(
        first.starts_with("40{"),
        "CONNECT answer expected: {first:?}"
    );
    let mut polled_ticks = first.matches("tick").count();
    let mut gone = false;
    for _ in 0..5000 {
        let res = poll_get(addr, &sid).await;
        if res.status != 200 {
            assert_eio_error(&res, 400, 1, "Session ID unknown");
            gone = true;
            break;
        }
        let text = res.text();
        polled_ticks += text.matches("tick").count();
        if text.split('\x1e').any(|packet| packet == "1") {
            gone = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let lived = started.elapsed();
    assert!(
        gone,
        "the silent polling client was not dropped in {lived:?}"
    );
    assert!(
        lived >= Duration::from_millis(350) && lived < Duration::from_secs(1),
        "the silent polling client lived {lived:?}"
    );
    assert!(
        polled_ticks > 10,
        "it was receiving the flood: {polled_ticks}"
    );
    assert_sid_unknown(addr, &sid).await;

    // The good client kept receiving and is still connected.
    sleep(Duration::from_millis(500)).await;
    flooding.store(false, Ordering::Release);
    let sent = timeout(STEP, flood)
        .await
        .expect("flood ends")
        .expect("flood task");
    io.of("/")
        .emit_payload("done", Payload::new())
        .expect("end marker");
    let (ticks, mut good) = match timeout(Duration::from_secs(5), good_task).await {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => std::panic::resume_unwind(err.into_panic()),
        Err(_) => panic!("the good client did not finish"),
    };
    assert_eq!(ticks as u64, sent, "the good client got every tick");
    assert_eq!(io.session_count(), 1);
    send_text(&mut good, r#"42["echo","fine"]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut good).await,
        r#"42["echo","fine"]"#
    );
    well_behaved_check(addr).await;
}
