//! Engine.IO v4 / Socket.IO v5 over HTTP long-polling: two keep-alive connections per client,
//! one for the waiting GET, one for POSTs (like a browser).

use std::time::{Duration, Instant};

use crate::{http::HttpConn, ws::clip, ws::parse_open, Target};

/// Engine.IO's packet separator in polling payloads.
pub const SEPARATOR: u8 = 0x1e;

pub struct PollClient {
    pub get: HttpConn,
    pub post: HttpConn,
    /// Request target with the session id.
    pub target: String,
}

/// Splits a polling payload into its packets.
pub fn packets(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == SEPARATOR).filter(|p| !p.is_empty())
}

impl PollClient {
    /// Handshake GET → `0{...}`, POST `40`, GET until `40{...}`. Returns the client and the time
    /// from the first TCP connect to the `40{` packet.
    pub async fn open(target: &Target) -> Result<(PollClient, Duration), String> {
        let start = Instant::now();
        let mut get = HttpConn::connect(target.addr, &target.host).await?;
        let post = HttpConn::connect(target.addr, &target.host).await?;
        let handshake = format!("{}?EIO=4&transport=polling", target.path);
        let response = get.request("GET", &handshake, b"").await?;
        let body = String::from_utf8_lossy(&response.body).into_owned();
        if response.status != 200 {
            return Err(format!(
                "handshake GET: HTTP {} {:?}",
                response.status,
                clip(&body)
            ));
        }
        let first = body.split('\u{1e}').next().unwrap_or_default();
        let open = parse_open(first)?;
        let mut client = PollClient {
            get,
            post,
            target: format!("{handshake}&sid={}", open.sid),
        };
        client.post_packet("40").await?;
        loop {
            let response = client.get.request("GET", &client.target, b"").await?;
            if response.status != 200 {
                return Err(format!("connect GET: HTTP {}", response.status));
            }
            let mut connected = false;
            for packet in packets(&response.body) {
                if packet.starts_with(b"40") {
                    connected = true;
                } else if packet == b"2" {
                    client.post_packet("3").await?;
                } else if packet.starts_with(b"44") {
                    return Err(format!(
                        "namespace connect refused: {}",
                        String::from_utf8_lossy(packet)
                    ));
                } else if packet == b"1" {
                    return Err("session closed by server during connect".into());
                }
            }
            if connected {
                break;
            }
        }
        Ok((client, start.elapsed()))
    }

    /// POSTs one packet; the server must answer 200 `ok`.
    pub async fn post_packet(&mut self, packet: &str) -> Result<(), String> {
        post_packet(&mut self.post, &self.target, packet).await
    }
}

pub async fn post_packet(post: &mut HttpConn, target: &str, packet: &str) -> Result<(), String> {
    let response = post.request("POST", target, packet.as_bytes()).await?;
    if response.status != 200 {
        return Err(format!(
            "POST: HTTP {} {:?}",
            response.status,
            clip(&String::from_utf8_lossy(&response.body))
        ));
    }
    Ok(())
}
