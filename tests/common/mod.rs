//! Shared harness of the integration tests: a real server on a loopback port in its own thread,
//! a small HTTP/1.1 client, WebSocket helpers, and the "another session still works" check.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::mpsc as std_mpsc,
    time::{Duration, Instant},
};

use actix_socketio::{Config, SocketIo};
use actix_web::{dev::ServerHandle, App, HttpServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest, protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};

/// The client side of a test WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The longest a single step (a frame, a response) may take before a test fails.
pub const STEP: Duration = Duration::from_secs(2);

/// How long an HTTP request may take, long-polling included.
pub const HTTP_LIMIT: Duration = Duration::from_secs(5);

/// A server running on its own thread and actix System; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub io: SocketIo,
    handle: ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent at once; the returned future only reports completion.
        drop(self.handle.stop(false));
    }
}

/// Which server the tests run on: `actix_socketio::Server` (WebSockets on the raw stream), or
/// actix-web's `HttpServer` (WebSockets through actix-ws) when `ACTIX_SOCKETIO_TEST_SERVER=http`.
pub fn http_server() -> bool {
    match std::env::var("ACTIX_SOCKETIO_TEST_SERVER").as_deref() {
        Ok("http") => true,
        Ok("raw") | Err(_) => false,
        Ok(other) => panic!("ACTIX_SOCKETIO_TEST_SERVER={other}: expected http or raw"),
    }
}

/// Starts the server with this configuration; `setup` declares namespaces and handlers.
pub fn start(config: Config, setup: impl FnOnce(&SocketIo) + Send + 'static) -> TestServer {
    start_with_routes(config, setup, |_, _| {})
}

/// `start`, with `routes` adding plain HTTP routes next to the Socket.IO endpoint.
pub fn start_with_routes(
    config: Config,
    setup: impl FnOnce(&SocketIo) + Send + 'static,
    routes: fn(&mut actix_web::web::ServiceConfig, &SocketIo),
) -> TestServer {
    start_on_workers(1, config, setup, routes)
}

/// `start_with_routes` on several worker threads (sessions and the RoomManager then live on
/// different threads).
pub fn start_on_workers(
    workers: usize,
    config: Config,
    setup: impl FnOnce(&SocketIo) + Send + 'static,
    routes: fn(&mut actix_web::web::ServiceConfig, &SocketIo),
) -> TestServer {
    let io = SocketIo::new(config);
    let server_io = io.clone();
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            setup(&server_io);
            let app_io = server_io.clone();
            let app = move || {
                App::new()
                    .configure(app_io.service())
                    .configure(|cfg| routes(cfg, &app_io))
            };
            let (addr, server) = if http_server() {
                let server = HttpServer::new(app)
                    .workers(workers)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", 0))
                    .expect("bind a loopback port");
                (server.addrs()[0], server.run())
            } else {
                let server = actix_socketio::Server::new(&server_io, app)
                    .workers(workers)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(("127.0.0.1", 0))
                    .expect("bind a loopback port");
                (server.addrs()[0], server.run())
            };
            tx.send((addr, server.handle()))
                .expect("the test is waiting for the address");
            let _ = server.await;
        });
    });
    let (addr, handle) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server started");
    TestServer { addr, io, handle }
}

/// `start` with the default configuration and the echo namespace.
pub fn start_echo(config: Config) -> TestServer {
    start(config, echo_setup)
}

/// Namespace `/` with an `echo` handler that emits `echo` back with the same arguments.
pub fn echo_setup(io: &SocketIo) {
    io.ns("/", |socket| {
        socket.on("echo", |s, e| {
            let _ = s.emit_payload("echo", e.payload().clone());
        });
    });
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("JSON body expected ({e}): {:?}", self.text()))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads from `stream` until `buf` holds at least `len` bytes; false on EOF first.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> bool {
    let mut chunk = [0u8; 8192];
    while buf.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// Reads until `needle` appears at or after `from`; its position.
async fn fill_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    from: usize,
    needle: &[u8],
) -> Option<usize> {
    loop {
        if let Some(pos) = find(&buf[from..], needle) {
            return Some(from + pos);
        }
        let want = buf.len() + 1;
        if !fill(stream, buf, want).await {
            return None;
        }
    }
}

async fn read_response(stream: &mut TcpStream) -> HttpResponse {
    let mut buf = Vec::new();
    let head_end = fill_until(stream, &mut buf, 0, b"\r\n\r\n")
        .await
        .unwrap_or_else(|| panic!("connection closed before the response head: {buf:?}"));
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let mut rest = buf.split_off(head_end + 4);
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut pos = 0;
        loop {
            let line_end = fill_until(stream, &mut rest, pos, b"\r\n")
                .await
                .expect("chunk size line");
            let size_text = std::str::from_utf8(&rest[pos..line_end]).expect("chunk size");
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
            let data_start = line_end + 2;
            assert!(
                fill(stream, &mut rest, data_start + size + 2).await,
                "truncated chunk"
            );
            if size == 0 {
                break;
            }
            response
                .body
                .extend_from_slice(&rest[data_start..data_start + size]);
            pos = data_start + size + 2;
        }
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().expect("numeric Content-Length");
        assert!(fill(stream, &mut rest, len).await, "truncated body");
        rest.truncate(len);
        response.body = rest;
    } else if status != 101 {
        // No length: the body runs to the end of the connection.
        let _ = fill(stream, &mut rest, usize::MAX).await;
        response.body = rest;
    }
    response
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the response.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> HttpResponse {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut head =
            format!("{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let chunked = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
        if !chunked && (method != "GET" || !body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).await.expect("send request");
        read_response(&mut stream).await
    };
    timeout(HTTP_LIMIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path_and_query}: no response in {HTTP_LIMIT:?}"))
}

/// `GET /socket.io/?<query>`.
pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> HttpResponse {
    http_request(addr, "GET", path_and_query, b"", &[]).await
}

/// `POST` with a body and extra headers (text/plain unless a Content-Type is given).
pub async fn http_post(
    addr: SocketAddr,
    path_and_query: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        all.push(("Content-Type", "text/plain;charset=UTF-8"));
    }
    http_request(addr, "POST", path_and_query, body, &all).await
}

/// The polling URL of a session.
pub fn poll_url(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

/// `GET` on a session's polling URL.
pub async fn poll_get(addr: SocketAddr, sid: &str) -> HttpResponse {
    http_get(addr, &poll_url(sid)).await
}

/// `POST` on a session's polling URL; asserts the `ok` answer.
pub async fn poll_post_ok(addr: SocketAddr, sid: &str, body: &str) {
    let res = http_post(addr, &poll_url(sid), body.as_bytes(), &[]).await;
    assert_eq!(
        (res.status, res.text()),
        (200, "ok".to_owned()),
        "POST {body:?}"
    );
}

/// GETs on a session's polling URL until `count` EVENT packets (`42[`) came; them joined by
/// the record separator, as one body would carry them.
pub async fn poll_events(addr: SocketAddr, sid: &str, count: usize) -> String {
    let mut got = String::new();
    while got.matches("42[").count() < count {
        let res = poll_get(addr, sid).await;
        assert_eq!(res.status, 200);
        if !got.is_empty() {
            got.push('\x1e');
        }
        got.push_str(&res.text());
    }
    got
}

/// Asserts a JSON Engine.IO error: status, `Content-Type: application/json` and exact body.
pub fn assert_eio_error(res: &HttpResponse, status: u16, code: u8, message: &str) {
    assert_eq!(
        res.status,
        status,
        "status of {:?}",
        String::from_utf8_lossy(&res.body)
    );
    let content_type = res.header("content-type").unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&res.body),
        format!(r#"{{"code":{code},"message":"{message}"}}"#)
    );
}

/// Asserts that a polling GET on `sid` is refused with "Session ID unknown".
pub async fn assert_sid_unknown(addr: SocketAddr, sid: &str) {
    let res = poll_get(addr, sid).await;
    assert_eio_error(&res, 400, 1, "Session ID unknown");
}

/// The OPEN packet's JSON (the text after `0`).
pub fn parse_open(text: &str) -> Value {
    let json = text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("OPEN packet expected, got {text:?}"));
    serde_json::from_str(json).expect("OPEN JSON")
}

/// Opens a polling session; its sid.
pub async fn polling_handshake(addr: SocketAddr) -> String {
    let res = http_get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(res.status, 200, "handshake: {:?}", res.text());
    let open = parse_open(&res.text());
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    open["sid"].as_str().expect("sid").to_owned()
}

/// Opens a polling session and joins `/`: (engine sid, socket id).
pub async fn polling_connect(addr: SocketAddr) -> (String, String) {
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "40").await;
    let res = poll_get(addr, &sid).await;
    assert_eq!(res.status, 200);
    let text = res.text();
    let json = text
        .strip_prefix("40")
        .unwrap_or_else(|| panic!("CONNECT answer expected, got {text:?}"));
    let json: Value = serde_json::from_str(json).expect("CONNECT JSON");
    let id = json["sid"].as_str().expect("socket sid").to_owned();
    (sid, id)
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/// The WebSocket URL for a query string.
pub fn ws_url(addr: SocketAddr, query: &str) -> String {
    format!("ws://{addr}/socket.io/?{query}")
}

/// Tries to open a WebSocket; the handshake error as tungstenite reports it.
pub async fn ws_try_connect(addr: SocketAddr, query: &str) -> Result<Ws, tungstenite::Error> {
    let request = ws_url(addr, query).into_client_request()?;
    // Without Nagle: a test writes small frames back to back, like real clients do.
    timeout(
        STEP,
        tokio_tungstenite::connect_async_with_config(request, None, true),
    )
    .await
    .expect("WebSocket handshake in time")
    .map(|(ws, _)| ws)
}

/// Opens a WebSocket with this query string.
pub async fn ws_connect(addr: SocketAddr, query: &str) -> Ws {
    ws_try_connect(addr, query)
        .await
        .unwrap_or_else(|e| panic!("WebSocket {query:?}: {e}"))
}

/// The HTTP refusal of a WebSocket handshake: (status, Content-Type, body).
pub fn ws_refusal(err: tungstenite::Error) -> (u16, String, String) {
    match err {
        tungstenite::Error::Http(res) => {
            let content_type = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = res
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (res.status().as_u16(), content_type, body)
        }
        other => panic!("HTTP refusal expected, got {other:?}"),
    }
}

/// Opens a WebSocket session without sid; (socket, engine sid) from the OPEN packet.
pub async fn eio_handshake_ws(addr: SocketAddr) -> (Ws, String) {
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    let open = parse_open(&recv_text(&mut ws).await);
    assert_eq!(open["upgrades"], serde_json::json!([]));
    let sid = open["sid"].as_str().expect("sid").to_owned();
    (ws, sid)
}

/// Opens a WebSocket session and joins `/`: (socket, engine sid, socket id).
pub async fn sio_connect_ws(addr: SocketAddr) -> (Ws, String, String) {
    let (mut ws, sid) = eio_handshake_ws(addr).await;
    send_text(&mut ws, "40").await;
    let id = expect_connect(&mut ws, "").await;
    (ws, sid, id)
}

/// Reads the CONNECT answer of namespace `prefix` (`""` for `/`, `"/admin,"`...); the socket id.
pub async fn expect_connect(ws: &mut Ws, prefix: &str) -> String {
    let text = recv_text_answering_pings(ws).await;
    let json = text
        .strip_prefix(&format!("40{prefix}"))
        .unwrap_or_else(|| panic!("CONNECT answer for {prefix:?} expected, got {text:?}"));
    let json: Value = serde_json::from_str(json).expect("CONNECT JSON");
    json["sid"].as_str().expect("socket sid").to_owned()
}

/// Sends a text frame.
pub async fn send_text(ws: &mut Ws, text: &str) {
    timeout(STEP, ws.send(Message::text(text)))
        .await
        .expect("send in time")
        .expect("send text frame");
}

/// Sends a binary frame.
pub async fn send_binary(ws: &mut Ws, data: &[u8]) {
    timeout(STEP, ws.send(Message::binary(data.to_vec())))
        .await
        .expect("send in time")
        .expect("send binary frame");
}

/// The next data frame (text or binary; WebSocket pings and pongs skipped), within [`STEP`].
pub async fn recv_message(ws: &mut Ws) -> Message {
    recv_message_within(ws, STEP).await
}

/// `recv_message`, waiting up to `limit` (for frames that come on a timer of their own).
pub async fn recv_message_within(ws: &mut Ws, limit: Duration) -> Message {
    let next = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return message,
                Some(Err(e)) => panic!("WebSocket error while waiting for a frame: {e}"),
                None => panic!("WebSocket ended while waiting for a frame"),
            }
        }
    };
    timeout(limit, next).await.expect("a frame in time")
}

/// The next frame, which must be text. Engine.IO pings are returned like anything else.
pub async fn recv_text(ws: &mut Ws) -> String {
    match recv_message(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("text frame expected, got {other:?}"),
    }
}

/// The next frame, which must be binary.
pub async fn recv_binary(ws: &mut Ws) -> Vec<u8> {
    match recv_message(ws).await {
        Message::Binary(data) => data.to_vec(),
        other => panic!("binary frame expected, got {other:?}"),
    }
}

/// The next text frame other than an Engine.IO ping; each ping is answered with `3`.
pub async fn recv_text_answering_pings(ws: &mut Ws) -> String {
    recv_text_answering_pings_within(ws, STEP).await
}

/// `recv_text_answering_pings`, waiting up to `limit` for each frame.
pub async fn recv_text_answering_pings_within(ws: &mut Ws, limit: Duration) -> String {
    loop {
        match recv_message_within(ws, limit).await {
            Message::Text(text) if text.as_str() == "2" => send_text(ws, "3").await,
            Message::Text(text) => return text.to_string(),
            other => panic!("text frame expected, got {other:?}"),
        }
    }
}

/// How a WebSocket ended.
#[derive(Debug)]
pub enum Ending {
    /// A close frame (with its code and reason, if any).
    Close(Option<CloseFrame>),
    /// The TCP connection ended (or failed) without a close frame.
    Eof,
}

/// Waits (up to `limit`) for the server to end the WebSocket, returning the frames it sent first.
pub async fn wait_closed_within(ws: &mut Ws, limit: Duration) -> (Vec<Message>, Ending) {
    let mut before = Vec::new();
    let wait = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return Ending::Close(frame),
                Some(Ok(message)) => before.push(message),
                Some(Err(_)) | None => return Ending::Eof,
            }
        }
    };
    match timeout(limit, wait).await {
        Ok(ending) => (before, ending),
        Err(_) => panic!("the server did not close the WebSocket within {limit:?}; got {before:?}"),
    }
}

/// Waits (up to [`STEP`]) for the server to end the WebSocket; the frames it sent first.
pub async fn expect_closed(ws: &mut Ws) -> (Vec<Message>, Ending) {
    wait_closed_within(ws, STEP).await
}

/// Asserts that nothing arrives (other than Engine.IO pings, answered) for `quiet`, and that the
/// socket stays open meanwhile.
pub async fn expect_silence(ws: &mut Ws, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match timeout(left, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => send_text(ws, "3").await,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("nothing expected, got {other:?}"),
        }
    }
}

/// A fresh session on the same server works: connect `/`, emit `echo`, get it back.
pub async fn well_behaved_check(addr: SocketAddr) {
    let (mut ws, _sid, _id) = sio_connect_ws(addr).await;
    send_text(&mut ws, r#"42["echo",1]"#).await;
    assert_eq!(
        recv_text_answering_pings(&mut ws).await,
        r#"42["echo",1]"#,
        "echo on a fresh session"
    );
    let _ = timeout(STEP, ws.close(None)).await;
}

/// Polls `check` every 20 ms until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next value a server handler sent on a test channel, within [`STEP`].
pub async fn next_seen<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    timeout(STEP, rx.recv())
        .await
        .expect("a server handler reported in time")
        .expect("the server side of the channel is alive")
}

/// Reads one HTTP response from a stream the test wrote a request to by hand.
pub async fn read_http_response(stream: &mut TcpStream) -> HttpResponse {
    read_response(stream).await
}

/// Number of file descriptors this process has open (the in-process server's included).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- hand-made WebSockets

/// Reads one frame of a hand-made WebSocket (servers never mask): (opcode, payload); `None` on
/// EOF or a connection error.
pub async fn read_raw_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).await.ok()?;
    let len = match header[1] & 0x7f {
        126 => u64::from(stream.read_u16().await.ok()?),
        127 => stream.read_u64().await.ok()?,
        n => u64::from(n),
    };
    assert!(len <= 16 << 20, "implausible frame length {len}");
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some((header[0] & 0x0f, payload))
}

/// The header of a client frame: `first` (FIN bit and opcode), the announced length, and an
/// all-zero mask key, so that the payload goes out as written.
pub fn client_frame_header(first: u8, len: u64) -> Vec<u8> {
    let mut header = vec![first];
    if len < 126 {
        header.push(0x80 | len as u8);
    } else if len <= 0xffff {
        header.push(0x80 | 126);
        header.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        header.push(0x80 | 127);
        header.extend_from_slice(&len.to_be_bytes());
    }
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}

/// Opens a WebSocket session by hand on a raw TCP stream, so that the test can write partial
/// frames: (stream, engine sid).
pub async fn raw_ws_session(addr: SocketAddr) -> (TcpStream, String) {
    let handshake = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send upgrade");
        // One byte at a time, so that no frame after the head is swallowed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            assert!(head.len() < 8192, "endless response head");
            let byte = stream.read_u8().await.expect("response head");
            head.push(byte);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "upgrade refused: {}",
            String::from_utf8_lossy(&head)
        );
        let (opcode, payload) = read_raw_frame(&mut stream).await.expect("OPEN frame");
        assert_eq!(opcode, 1, "OPEN is a text frame");
        let open = parse_open(&String::from_utf8(payload).expect("UTF-8 OPEN"));
        let sid = open["sid"].as_str().expect("sid").to_owned();
        (stream, sid)
    };
    timeout(STEP, handshake)
        .await
        .expect("raw WebSocket handshake in time")
}

/// How a hand-made WebSocket ended.
#[derive(Debug, PartialEq)]
pub enum RawEnding {
    /// A close frame with this code.
    Close(Option<u16>),
    /// EOF or reset without a close frame.
    Dropped,
}

/// Waits up to `limit` for the server to end a hand-made WebSocket; text frames (pings) are
/// skipped.
pub async fn raw_ws_ending(stream: &mut TcpStream, limit: Duration) -> RawEnding {
    let wait = async {
        loop {
            match read_raw_frame(stream).await {
                Some((8, payload)) => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return RawEnding::Close(code);
                }
                Some(_) => continue,
                None => return RawEnding::Dropped,
            }
        }
    };
    timeout(limit, wait).await.unwrap_or_else(|_| {
        panic!(
            "the server kept the WebSocket open for {limit:?} (server bug if a frame over \
             max_payload was announced: its length must be refused from the frame header, \
             not after buffering the payload)"
        )
    })
}
