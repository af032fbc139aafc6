//! The origin allowlist (`Cors::Allow`): CORS grants and preflights for polling, and the
//! `Origin` check on WebSocket upgrades, which CORS does not protect.

mod common;

use actix_socketio::{Config, Cors};
use common::*;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";
const ALLOWED: &str = "https://chat.example";

fn allowlist() -> Config {
    Config::default().with_cors(Cors::Allow(vec![ALLOWED.to_owned()]))
}

async fn ws_with_origin(
    addr: std::net::SocketAddr,
    origin: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = ws_url(addr, "EIO=4&transport=websocket")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade answered in time")
        .map(|(ws, _)| ws)
}

#[tokio::test]
async fn polling_grants_only_listed_origins() {
    let server = start_echo(allowlist());
    let res = http_request(server.addr, "GET", HANDSHAKE, b"", &[("Origin", ALLOWED)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));

    let res = http_request(
        server.addr,
        "GET",
        HANDSHAKE,
        b"",
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert!(res.header("access-control-allow-origin").is_none());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn preflight_answers_listed_origins() {
    let server = start_echo(allowlist());
    let res = http_request(
        server.addr,
        "OPTIONS",
        HANDSHAKE,
        b"",
        &[
            ("Origin", ALLOWED),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.headers);
    assert_eq!(res.header("access-control-allow-origin"), Some(ALLOWED));
    assert!(res.header("access-control-allow-methods").is_some());

    let res = http_request(
        server.addr,
        "OPTIONS",
        HANDSHAKE,
        b"",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .await;
    assert!(res.header("access-control-allow-origin").is_none());
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn websocket_upgrades_check_the_origin() {
    let server = start_echo(allowlist());
    let mut ws = ws_with_origin(server.addr, ALLOWED)
        .await
        .expect("listed origin accepted");
    assert!(recv_text(&mut ws).await.starts_with("0{"));

    let refused = ws_with_origin(server.addr, "https://evil.example")
        .await
        .expect_err("foreign origin refused");
    let (status, _, _) = ws_refusal(refused);
    assert_eq!(status, 400);

    // The upgrade probe of an existing polling session is checked too.
    let sid = polling_handshake(server.addr).await;
    let mut request = ws_url(server.addr, &format!("EIO=4&transport=websocket&sid={sid}"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let refused = timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .expect_err("foreign probe refused");
    assert_eq!(ws_refusal(refused).0, 400);
    well_behaved_check(server.addr).await;
}
