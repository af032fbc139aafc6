//! Engine.IO v4 / Socket.IO v5 over WebSocket: connect, handshake, close.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    client_async_with_config,
    tungstenite::{protocol::WebSocketConfig, Message, Utf8Bytes},
    WebSocketStream,
};

use crate::{mp, Target};

pub type Ws = WebSocketStream<TcpStream>;

/// The fields of the Engine.IO OPEN packet we look at.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    pub sid: String,
    #[allow(dead_code)]
    pub ping_interval: Option<u64>,
}

pub fn parse_open(packet: &str) -> Result<Open, String> {
    let body = packet
        .strip_prefix('0')
        .ok_or_else(|| format!("expected an OPEN packet, got {:?}", clip(packet)))?;
    serde_json::from_str(body).map_err(|e| format!("bad OPEN packet {:?}: {e}", clip(packet)))
}

/// Read buffer: tungstenite zero-fills the free part of it before every read, so a small one
/// is both leaner in memory (10 000 idle clients) and in CPU (many small frames).
/// Write buffer: 0 writes each message at once; a sender that batches wants some room.
pub fn config(write_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(write_buffer)
}

/// TCP connect → WebSocket upgrade → `0{...}` → `40` → `40{...}`.
/// Returns the socket and the time from TCP connect start to the `40{` packet.
pub async fn open(target: &Target, write_buffer: usize) -> Result<(Ws, Duration), String> {
    let start = Instant::now();
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let url = format!(
        "ws://{}{}?EIO=4&transport=websocket",
        target.host, target.path
    );
    let (mut ws, _) = client_async_with_config(url, tcp, Some(config(write_buffer)))
        .await
        .map_err(|e| format!("websocket upgrade: {e}"))?;
    let open = next_text(&mut ws).await?;
    parse_open(&open)?;
    if target.wire == mp::Wire::Msgpack {
        send_binary(&mut ws, mp::connect()).await?;
        loop {
            let packet = next_packet(&mut ws).await?;
            match packet.kind {
                0 => break,
                4 => return Err(format!("namespace connect refused: {:?}", packet.data)),
                _ => {}
            }
        }
        return Ok((ws, start.elapsed()));
    }
    send(&mut ws, "40").await?;
    loop {
        let packet = next_text(&mut ws).await?;
        if packet.starts_with("40") {
            break;
        }
        if packet.as_str() == "2" {
            send(&mut ws, "3").await?;
        } else if packet.starts_with("44") {
            return Err(format!("namespace connect refused: {}", clip(&packet)));
        }
    }
    Ok((ws, start.elapsed()))
}

pub async fn send(ws: &mut Ws, text: &str) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("websocket send: {e}"))
}

pub async fn send_binary(ws: &mut Ws, bytes: Vec<u8>) -> Result<(), String> {
    ws.send(Message::binary(bytes))
        .await
        .map_err(|e| format!("websocket send: {e}"))
}

/// The next msgpack packet (binary message), answering pings; an error once the connection
/// ends or on a binary message that is not a packet.
pub async fn next_packet(ws: &mut Ws) -> Result<mp::Packet, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "2" => send(ws, "3").await?,
            Some(Ok(Message::Binary(bytes))) => {
                return mp::decode(&bytes).ok_or_else(|| format!("bad msgpack packet {bytes:?}"))
            }
            Some(Ok(Message::Close(_))) | None => return Err("connection closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("websocket read: {e}")),
        }
    }
}

/// The next text message (other frames are skipped); an error once the connection ends.
pub async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Close(_))) | None => return Err("connection closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("websocket read: {e}")),
        }
    }
}

/// Sends a close frame and gives the server a moment to close its side.
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Joins `room` with an ack (`42<id>["join","room"]` → `43<id>["room"]`), answering pings.
pub async fn join(ws: &mut Ws, room: &str, wire: mp::Wire) -> Result<(), String> {
    if wire == mp::Wire::Msgpack {
        send_binary(ws, mp::event(&["join", room], Some(0))).await?;
        loop {
            let packet = next_packet(ws).await?;
            if packet.kind == 3 && packet.id == Some(0) {
                if packet.data == Some(serde_json::json!([room])) {
                    return Ok(());
                }
                return Err(format!("unexpected join ack {:?}", packet.data));
            }
        }
    }
    send(ws, &format!("420[\"join\",{}]", json_str(room))).await?;
    loop {
        let packet = next_text(ws).await?;
        if packet.as_str() == "2" {
            send(ws, "3").await?;
        } else if let Some(rest) = packet.strip_prefix("430") {
            if rest.starts_with('[') && rest.contains(room) {
                return Ok(());
            }
            return Err(format!("unexpected join ack {:?}", clip(&packet)));
        }
    }
}

pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("string serialises")
}

/// The start of a packet, for error messages.
pub fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}
