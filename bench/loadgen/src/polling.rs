//! Scenario `polling`: closed-loop echo with ack over HTTP long-polling (no upgrade).
//! Each client keeps a GET pending on one keep-alive connection (a task of its own) and POSTs
//! on another, one POST at a time (the server closes sessions with overlapping POSTs).

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};

use crate::{
    echo::{self, classify, Env, Opts, Reply},
    http::HttpConn,
    log, next_phase,
    poll::{self, post_packet, PollClient},
    Ctx, Outcome, Phase,
};

pub async fn run(ctx: &Ctx, opts: &Opts) -> Outcome {
    let clients = opts.clients.unwrap_or(1000);
    log(&format!(
        "polling: {clients} long-polling clients (2 connections each), payload {} chars",
        opts.payload
    ));
    echo::run_closed_loop(ctx, opts, clients, client).await
}

/// What the GET task hands to the client.
enum Event {
    Ping,
    Packet(Vec<u8>),
    Closed(String),
}

/// Keeps one GET pending at all times and forwards what arrives.
async fn get_loop(
    mut get: HttpConn,
    target: String,
    events: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let response = tokio::select! {
            biased;
            _ = stop.changed() => return,
            response = get.request("GET", &target, b"") => response,
        };
        let response = match response {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                let _ = events.send(Event::Closed(format!(
                    "GET: HTTP {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )));
                return;
            }
            Err(e) => {
                let _ = events.send(Event::Closed(e));
                return;
            }
        };
        for packet in poll::packets(&response.body) {
            let event = match packet {
                b"2" => Event::Ping,
                b"6" => continue,
                b"1" => {
                    let _ = events.send(Event::Closed("session closed by server".into()));
                    return;
                }
                other => Event::Packet(other.to_vec()),
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}

async fn client(i: usize, mut env: Env, permit: OwnedSemaphorePermit) {
    let result = env
        .set_up("polling handshake", PollClient::open(&env.target))
        .await;
    drop(permit);
    let Some(PollClient {
        get,
        mut post,
        target,
    }) = result
    else {
        return;
    };
    let shared = env.shared.clone();
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let getter = tokio::spawn(get_loop(get, target.clone(), event_tx, stop_rx));

    // Wait for the start, answering pings.
    let phase = loop {
        tokio::select! {
            phase = next_phase(&mut env.phase) => break phase,
            event = events.recv() => match event {
                Some(Event::Ping) => {
                    if let Err(e) = post_packet(&mut post, &target, "3").await {
                        shared.error(|| e);
                        break Phase::Stop;
                    }
                }
                Some(Event::Packet(_)) => {}
                Some(Event::Closed(e)) => {
                    shared.error(|| format!("while waiting for the start: {e}"));
                    break Phase::Stop;
                }
                None => break Phase::Stop,
            },
        }
    };

    if let Phase::Run { start, end } = phase {
        let mut id = 0u64;
        'rounds: while Instant::now() < end {
            id += 1;
            let packet = format!("42{id}{}", shared.event_tail);
            let sent_at = Instant::now();
            if let Err(e) = post_packet(&mut post, &target, &packet).await {
                shared.error(|| e);
                break;
            }
            let deadline = sent_at + shared.rt_timeout;
            loop {
                let event = match tokio::time::timeout_at(deadline.into(), events.recv()).await {
                    Ok(Some(event)) => event,
                    Ok(None) => break 'rounds,
                    Err(_) => {
                        shared
                            .error(|| format!("no ack for id {id} within {:?}", shared.rt_timeout));
                        break 'rounds;
                    }
                };
                match event {
                    Event::Ping => {
                        if let Err(e) = post_packet(&mut post, &target, "3").await {
                            shared.error(|| e);
                            break 'rounds;
                        }
                    }
                    Event::Packet(packet) => match classify(&packet, id, &shared.ack_tail) {
                        Reply::Ack => {
                            shared.record_round_trip(i, sent_at, start, end);
                            break;
                        }
                        Reply::BadPayload => {
                            shared.error(|| {
                                format!(
                                    "ack with another payload: {}",
                                    String::from_utf8_lossy(&packet)
                                )
                            });
                            break;
                        }
                        Reply::Unexpected => shared.error(|| {
                            format!("unexpected packet: {}", String::from_utf8_lossy(&packet))
                        }),
                        Reply::Ping | Reply::Other => {}
                    },
                    Event::Closed(e) => {
                        shared.error(|| e);
                        break 'rounds;
                    }
                }
            }
        }
    }

    // Close the session (the pending GET then returns), then stop the GET task.
    let _ =
        tokio::time::timeout(Duration::from_secs(2), post_packet(&mut post, &target, "1")).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), getter).await;
}
