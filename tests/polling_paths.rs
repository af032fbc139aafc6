//! Long-polling requests take one of two paths: under `Server`, one without `Origin` goes to the
//! endpoint before the app; one with `Origin` (and everything under `HttpServer`) goes through
//! the app and the endpoint's CORS middleware. A client must not be able to tell them apart,
//! and the query, the body and the session checks must hold on both.

mod common;

use std::time::Duration;

use actix_socketio::{Config, Cors};
use common::*;
use tokio::{io::AsyncWriteExt, net::TcpStream, time::sleep};

const ALLOWED: &str = "https://chat.example";

/// The headers a polling response carries, except the per-response ones and the CORS grant.
fn shape(res: &HttpResponse) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = res
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date" | "content-length" | "access-control-allow-origin" | "connection"
            )
        })
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn responses_with_and_without_origin_carry_the_same_headers() {
    for (cors, credentials) in [
        (Cors::Allow(vec![ALLOWED.to_owned()]), true),
        (Cors::Any, false),
    ] {
        let server = start_echo(Config::default().with_cors(cors));
        let origin: &[(&str, &str)] = &[("Origin", ALLOWED)];
        let (sid, _) = polling_connect(server.addr).await;
        let url = poll_url(&sid);

        // POST, then the GET that carries its answer, once without Origin and once with it.
        let mut shapes = Vec::new();
        for headers in [&[][..], origin] {
            let post = http_post(server.addr, &url, br#"42["echo","x"]"#, headers).await;
            assert_eq!((post.status, post.text()), (200, "ok".to_owned()));
            let get = http_request(server.addr, "GET", &url, b"", headers).await;
            assert_eq!(
                (get.status, get.text()),
                (200, r#"42["echo","x"]"#.to_owned())
            );
            shapes.push((shape(&post), shape(&get)));
        }
        assert_eq!(shapes[0], shapes[1]);
        let (post, get) = &shapes[0];
        for headers in [post, get] {
            let vary = headers.iter().find(|(name, _)| name == "vary");
            assert_eq!(
                vary.map(|(_, v)| v.as_str()),
                Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
            );
            let granted = headers
                .iter()
                .any(|(name, v)| name == "access-control-allow-credentials" && v == "true");
            assert_eq!(granted, credentials);
        }
        // Refusals too: an unknown sid is the same error on both paths.
        for headers in [&[][..], origin] {
            let res = http_request(server.addr, "GET", &poll_url("nope"), b"", headers).await;
            assert_eio_error(&res, 400, 1, "Session ID unknown");
        }
        well_behaved_check(server.addr).await;
    }
}

#[tokio::test]
async fn query_values_are_decoded_and_a_repeated_key_keeps_its_last_value() {
    let server = start_echo(Config::default());
    // Percent-encoded values route like plain ones.
    let res = http_get(server.addr, "/socket.io/?EIO=%34&transport=pollin%67").await;
    assert_eq!(res.status, 200, "{:?}", res.text());
    let (sid, _) = polling_connect(server.addr).await;
    poll_post_ok(server.addr, &sid, r#"42["echo",1]"#).await;
    let last_is_real = format!("/socket.io/?EIO=4&transport=polling&sid=bogus&sid={sid}");
    assert_eq!(
        http_get(server.addr, &last_is_real).await.text(),
        r#"42["echo",1]"#
    );
    let last_is_bogus = format!("/socket.io/?EIO=4&transport=polling&sid={sid}&sid=bogus");
    let res = http_get(server.addr, &last_is_bogus).await;
    assert_eio_error(&res, 400, 1, "Session ID unknown");
    let res = http_get(
        server.addr,
        "/socket.io/?EIO=4&transport=polling&transport=carrier",
    )
    .await;
    assert_eio_error(&res, 400, 0, "Transport unknown");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn a_post_body_in_several_chunks_is_read_whole() {
    let server = start_echo(Config::default());
    let (sid, _) = polling_connect(server.addr).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        poll_url(&sid),
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Two packets, the first one split across chunks sent apart.
    for part in [r#"42["ec"#, "ho\",\"one\"]\x1e42[\"echo\",\"two\"]"] {
        let chunk = format!("{:x}\r\n{part}\r\n", part.len());
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        sleep(Duration::from_millis(50)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let res = read_http_response(&mut stream).await;
    assert_eq!((res.status, res.text()), (200, "ok".to_owned()));
    let got = poll_events(server.addr, &sid, 2).await;
    assert_eq!(got, "42[\"echo\",\"one\"]\x1e42[\"echo\",\"two\"]");
    well_behaved_check(server.addr).await;
}

#[tokio::test]
async fn a_get_on_a_session_that_ended_is_refused() {
    let server = start_echo(Config::default());
    let (sid, _) = polling_connect(server.addr).await;
    // The client closes; the waiting GET (none here) and later ones find no session.
    poll_post_ok(server.addr, &sid, "1").await;
    assert!(
        eventually(Duration::from_secs(2), || async {
            let res = poll_get(server.addr, &sid).await;
            res.status == 400
        })
        .await,
        "the closed session still answers"
    );
    assert_sid_unknown(server.addr, &sid).await;
    let post = http_post(server.addr, &poll_url(&sid), b"40", &[]).await;
    assert_eio_error(&post, 400, 1, "Session ID unknown");
    well_behaved_check(server.addr).await;
}
