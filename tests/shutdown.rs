//! Graceful shutdown of the demo server: on SIGTERM or SIGINT it tells every client (WebSocket
//! close 1001 after everything queued for it, a close packet for a waiting poll), their sockets
//! see "server shutting down", and the process exits 0.

mod common;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

/// The demo binary on an ephemeral port, killed if the test ends early.
struct Demo {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_actix-socketio"))
        .args(["--port", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the LISTENING line");
    let addr = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Demo { child, addr }
}

fn signal(demo: &Demo, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &demo.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Waits (bounded) for the process to exit and returns its exit code.
fn exit_code_within(demo: &mut Demo, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = demo.child.try_wait().expect("poll the child") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Sends an event with an ack id and returns the ack's first argument.
async fn call(ws: &mut Ws, id: u32, event: &str, arg: Value) -> Value {
    send_text(ws, &format!("42{id}{}", json!([event, arg]))).await;
    loop {
        let text = recv_text_answering_pings(ws).await;
        if let Some(rest) = text.strip_prefix(&format!("43{id}")) {
            let args: Value = serde_json::from_str(rest).expect("ack JSON");
            return args[0].clone();
        }
    }
}

async fn chat_client(addr: SocketAddr) -> Ws {
    let (mut ws, _, _) = sio_connect_ws(addr).await;
    // The welcome comes first; presence notices later are skipped by `call`.
    let text = recv_text_answering_pings(&mut ws).await;
    assert!(text.starts_with("42[\"welcome\""), "{text}");
    ws
}

#[tokio::test]
async fn sigterm_flushes_queued_packets_then_closes_with_1001_and_exits_0() {
    let mut demo = start_demo();
    let mut reader = chat_client(demo.addr).await;
    let mut writer = chat_client(demo.addr).await;
    assert_eq!(
        call(&mut reader, 1, "join", json!("room")).await["ok"],
        true
    );
    assert_eq!(
        call(&mut writer, 1, "join", json!("room")).await["ok"],
        true
    );

    // 50 messages for the reader, every one acknowledged (so queued) before the signal.
    for i in 0..50u32 {
        let ack = call(
            &mut writer,
            10 + i,
            "message",
            json!({"room": "room", "text": format!("m{i}")}),
        )
        .await;
        assert_eq!(ack["ok"], true);
    }
    // A polling client with a GET waiting when the signal comes: it polls until the close packet
    // (its first GETs may still carry the welcome).
    let addr = demo.addr;
    let sid = polling_handshake(addr).await;
    poll_post_ok(addr, &sid, "40").await;
    let waiting = tokio::spawn(async move {
        for _ in 0..4 {
            let res = poll_get(addr, &sid).await;
            if res.status != 200 || res.text().ends_with('1') {
                return res;
            }
        }
        panic!("no close packet in four polls");
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    signal(&demo, "TERM");

    let mut texts = Vec::new();
    let close = loop {
        match timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut reader),
        )
        .await
        {
            Ok(Some(Ok(Message::Text(text)))) => texts.push(text.to_string()),
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let received: Vec<String> = texts
        .iter()
        .filter_map(|t| t.strip_prefix("42[\"message\","))
        .filter_map(|rest| serde_json::from_str::<Value>(&format!("[{rest}")).ok())
        .map(|args| args[0]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(
        received, expected,
        "every queued message arrives before the close"
    );
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));

    let polled = timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting GET is answered")
        .expect("poll task");
    assert_eq!(polled.status, 200);
    assert!(polled.text().ends_with('1'), "{:?}", polled.text());

    assert_eq!(exit_code_within(&mut demo, Duration::from_secs(8)), Some(0));
}

#[tokio::test]
async fn sigint_shuts_down_too() {
    let mut demo = start_demo();
    let mut client = chat_client(demo.addr).await;
    signal(&demo, "INT");
    let (_, ending) = wait_closed_within(&mut client, Duration::from_secs(5)).await;
    assert!(
        matches!(&ending, Ending::Close(Some(frame)) if frame.code == CloseCode::Away),
        "{ending:?}"
    );
    assert_eq!(exit_code_within(&mut demo, Duration::from_secs(8)), Some(0));
}
