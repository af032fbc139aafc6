//! WebSocket on the raw TCP stream, for connections accepted by [`crate::Server`]: once the
//! `101 Switching Protocols` is decided, the HTTP dispatcher and its buffers are gone, the
//! session reads frames straight from the socket (`RawFrames`) and writes into its outbox, which
//! goes to the socket at once when it can (see `Outbox::push_frames`) or through `RawWriter`.
//! An idle connection holds no read or write buffer.

use std::{
    cell::RefCell,
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, BytesMut};
use bytestring::ByteString;
use futures_util::{future::LocalBoxFuture, Stream};
use tokio::{
    io::{AsyncRead, ReadBuf},
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
    time::Sleep,
};

use actix_codec::Framed;
use actix_http::{body::BoxBody, h1, Request, Response};
use actix_web::{http::header, HttpResponse};
use tokio::net::TcpStream;

use super::polling;
use super::websocket::{
    admit, attach, refuse, thread_mark, DirectWrite, Outbox, WsFrame, WsInput, WsLink,
};
use crate::engine::{
    error::RequestError,
    handler::SessionHandler,
    registry::Engine,
    service::{self, Route},
};

/// An endpoint whose WebSockets [`crate::Server`] takes over, whatever runs on top of it.
pub trait RawEndpoint: Send + Sync + 'static {
    /// Whether a request for `path` is this endpoint's.
    fn serves(&self, path: &str) -> bool;

    /// Checks an upgrade request for this endpoint and, if it is a valid WebSocket, runs it.
    fn upgrade(
        self: Arc<Self>,
        req: Request,
        framed: Framed<TcpStream, h1::Codec>,
    ) -> LocalBoxFuture<'static, Result<(), actix_web::Error>>;

    /// Serves a long-polling request for this endpoint without the app (see
    /// `polling::lean`), or gives it back.
    fn polling(
        self: Arc<Self>,
        req: Request,
    ) -> Result<LocalBoxFuture<'static, Response<BoxBody>>, Request>;
}

impl<H: SessionHandler> RawEndpoint for Engine<H> {
    fn serves(&self, path: &str) -> bool {
        self.is_endpoint(path)
    }

    fn upgrade(
        self: Arc<Self>,
        req: Request,
        framed: Framed<TcpStream, h1::Codec>,
    ) -> LocalBoxFuture<'static, Result<(), actix_web::Error>> {
        Box::pin(upgrade(self, req, framed))
    }

    fn polling(
        self: Arc<Self>,
        req: Request,
    ) -> Result<LocalBoxFuture<'static, Response<BoxBody>>, Request> {
        polling::lean(self, req)
    }
}

/// The plain-HTTP front of [`crate::Server`]: a long-polling request for one of `endpoints` that
/// the endpoint can serve alone, as a future of its response; any other request, given back
/// for the app.
pub(crate) fn lean_polling(
    endpoints: &[Arc<dyn RawEndpoint>],
    req: Request,
) -> Result<LocalBoxFuture<'static, Response<BoxBody>>, Request> {
    let path = req.head().uri.path();
    match endpoints.iter().find(|endpoint| endpoint.serves(path)) {
        Some(endpoint) => endpoint.clone().polling(req),
        None => Err(req),
    }
}

/// The upgrade handler of [`crate::Server`]: every request asking for a protocol switch comes
/// here instead of the app. A Socket.IO WebSocket is checked as on the actix-web route, then the
/// `101` is written on the raw stream and the session takes it over; anything else is refused.
pub(crate) async fn accept(
    endpoints: Arc<[Arc<dyn RawEndpoint>]>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error> {
    let head = req.head();
    log::debug!("{} {} (upgrade)", head.method, head.uri);
    let endpoint = endpoints
        .iter()
        .find(|endpoint| endpoint.serves(head.uri.path()));
    let Some(endpoint) = endpoint.cloned() else {
        let response = HttpResponse::NotFound()
            .content_type("text/plain")
            .body("this server switches protocols only for Socket.IO WebSockets");
        return send(framed, response).await;
    };
    endpoint.upgrade(req, framed).await
}

async fn upgrade<H: SessionHandler>(
    engine: Arc<Engine<H>>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error> {
    let head = req.head();
    let refused = |err: RequestError| {
        log::debug!("upgrade {} refused: {err:?}", head.uri);
        refuse(err)
    };
    let route = if service::is_websocket_upgrade(&head.headers) {
        service::route(&engine, &head.uri, &head.headers, head.peer_addr)
    } else {
        Err(RequestError::BadRequest("not a WebSocket upgrade"))
    };
    let (sid, info) = match route {
        Ok(Route::WebSocket { sid, info }) => (sid, info),
        Ok(_) => {
            return send(
                framed,
                refused(RequestError::BadRequest("not a WebSocket upgrade")),
            )
            .await
        }
        Err(err) => return send(framed, refused(err)).await,
    };
    let key = match actix_http::ws::verify_handshake(head) {
        Ok(()) => head.headers.get(header::SEC_WEBSOCKET_KEY),
        Err(_) => None,
    };
    let Some(key) = key else {
        return send(
            framed,
            refused(RequestError::BadRequest("not a WebSocket upgrade")),
        )
        .await;
    };
    let accept_key = actix_http::ws::hash_key(key.as_bytes());
    let admission = match admit(&engine, sid) {
        Ok(admission) => admission,
        Err(err) => return send(framed, refused(err)).await,
    };
    // From here on the connection is ours: the dispatcher's buffers go with the framed.
    let parts = framed.into_parts();
    let (read, write) = parts.io.into_split();
    let write = Arc::new(write);
    let mut preamble = Vec::with_capacity(160);
    preamble.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    preamble.extend_from_slice(&accept_key);
    preamble.extend_from_slice(b"\r\n\r\n");
    let outbox = Arc::new(Outbox::new(
        Some(DirectWrite {
            stream: write.clone(),
            owner: thread_mark(),
        }),
        &preamble,
    ));
    let link = WsLink::new(outbox.clone());
    let frames = RawFrames::new(read, &parts.read_buf, link.id(), engine.config.max_payload);
    drop(parts.read_buf);
    drop(parts.write_buf);
    actix_rt::spawn(RawWriter::new(outbox, write));
    // A session gone since `admit` leaves the client with the 101 and a close frame.
    let _ = attach(engine, admission, info, link, frames).await;
    Ok(())
}

/// Answers a refused upgrade over HTTP; the connection closes after it.
async fn send(
    framed: Framed<TcpStream, h1::Codec>,
    response: HttpResponse,
) -> Result<(), actix_web::Error> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    let mut response = Response::with_body(status, body);
    for (name, value) in headers.iter() {
        response.headers_mut().append(name.clone(), value.clone());
    }
    let _ = h1::SendResponse::new(framed, response).await;
    Ok(())
}

/// The client's frames, read from the socket: unmasked, continuations put together, limited to
/// `max_payload` per message (refused from the header, before the payload is read); the stream
/// ends with `WsFrame::End`.
pub(crate) struct RawFrames {
    read: OwnedReadHalf,
    decoder: Decoder,
    link: u64,
    phase: Phase,
}

/// Client frames out of the bytes read so far.
struct Decoder {
    /// Bytes read and not yet taken as frames; empty (no allocation) while the client is quiet.
    buf: BytesMut,
    max_payload: usize,
    /// A fragmented message being put together: its opcode and what has come so far.
    message: Option<(u8, BytesMut)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    /// The connection ended or broke: `End` is next.
    Ending,
    Done,
}

const OPCODE_CONTINUATION: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_BINARY: u8 = 0x2;
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;
const OPCODE_PONG: u8 = 0xA;

/// The most one read takes from the socket.
const READ_SIZE: usize = 64 * 1024;
/// Payloads up to this size are copied out of the read buffer when more follows them, so that
/// a small frame kept by the application does not keep the whole buffer alive.
const COPY_BELOW: usize = 1024;

impl RawFrames {
    pub(crate) fn new(read: OwnedReadHalf, early: &[u8], link: u64, max_payload: usize) -> Self {
        RawFrames {
            read,
            decoder: Decoder::new(early, max_payload),
            link,
            phase: Phase::Reading,
        }
    }

    /// Reads what the socket has into the decoder's buffer; `Ready(false)` at the end of the
    /// connection. The read goes into a per-thread scratch buffer first, so that the
    /// connection's own buffer is exactly as large as what it holds (and nothing while quiet).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        thread_local! {
            static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SIZE].into_boxed_slice());
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch[..]);
            let result = Pin::new(&mut self.read).poll_read(cx, &mut read);
            let filled = read.filled().len();
            let buf = &mut self.decoder.buf;
            match result {
                Poll::Pending => {
                    if buf.is_empty() {
                        // Quiet: keep no buffer while waiting.
                        *buf = BytesMut::new();
                    }
                    Poll::Pending
                }
                Poll::Ready(Ok(())) if filled == 0 => Poll::Ready(false),
                Poll::Ready(Ok(())) => {
                    // Grows with what arrives, never with what a header announces: a client
                    // announcing max_payload and sending a byte must not cost max_payload.
                    buf.extend_from_slice(&scratch[..filled]);
                    Poll::Ready(true)
                }
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {
                    Poll::Ready(true)
                }
                Poll::Ready(Err(_)) => Poll::Ready(false),
            }
        })
    }
}

impl Decoder {
    fn new(early: &[u8], max_payload: usize) -> Self {
        Decoder {
            buf: BytesMut::from(early),
            max_payload,
            message: None,
        }
    }

    /// The next whole frame in `buf`, if there is one.
    fn parse(&mut self) -> Option<WsFrame> {
        loop {
            let buf = &self.buf;
            if buf.len() < 2 {
                return None;
            }
            let (first, second) = (buf[0], buf[1]);
            let fin = first & 0x80 != 0;
            let opcode = first & 0x0f;
            if first & 0x70 != 0 {
                return Some(broken("reserved bits set without an extension"));
            }
            if !matches!(
                opcode,
                OPCODE_CONTINUATION
                    | OPCODE_TEXT
                    | OPCODE_BINARY
                    | OPCODE_CLOSE
                    | OPCODE_PING
                    | OPCODE_PONG
            ) {
                return Some(broken("unknown opcode"));
            }
            if second & 0x80 == 0 {
                return Some(broken("unmasked frame from a client"));
            }
            let control = opcode >= OPCODE_CLOSE;
            let short = usize::from(second & 0x7f);
            if control && (!fin || short > 125) {
                return Some(broken("fragmented or long control frame"));
            }
            let extra = match short {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            if buf.len() < 2 + extra {
                return None;
            }
            let len = match extra {
                0 => short as u64,
                2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
                _ => u64::from_be_bytes(buf[2..10].try_into().unwrap_or([0xff; 8])),
            };
            let so_far = match (&self.message, opcode) {
                (Some((_, message)), OPCODE_CONTINUATION) => message.len() as u64,
                _ => 0,
            };
            if !control && len.saturating_add(so_far) > self.max_payload as u64 {
                return Some(WsFrame::TooBig);
            }
            let len = len as usize; // at most max_payload
            let header = 2 + extra + 4;
            if buf.len() < header + len {
                return None;
            }
            let mask = [
                buf[header - 4],
                buf[header - 3],
                buf[header - 2],
                buf[header - 1],
            ];
            // The last frame in the buffer takes the buffer (no copy): reads are sized to what
            // arrived, so that is usually exactly this frame.
            let last = self.buf.len() == header + len;
            self.buf.advance(header);
            let mut payload = if len <= COPY_BELOW && !last {
                let copy = BytesMut::from(&self.buf[..len]);
                self.buf.advance(len);
                copy
            } else {
                self.buf.split_to(len)
            };
            unmask(&mut payload, mask);
            match opcode {
                OPCODE_CLOSE => return Some(WsFrame::Close),
                OPCODE_PING => return Some(WsFrame::Ping(payload.freeze())),
                OPCODE_PONG => return Some(WsFrame::Ignored),
                OPCODE_CONTINUATION => {
                    let Some((_, message)) = self.message.as_mut() else {
                        return Some(broken("continuation frame without a message"));
                    };
                    message.extend_from_slice(&payload);
                    if fin {
                        let (kind, message) = self.message.take()?;
                        return Some(finish(kind, message));
                    }
                }
                kind => {
                    if self.message.is_some() {
                        return Some(broken("new message inside a fragmented one"));
                    }
                    if fin {
                        return Some(finish(kind, payload));
                    }
                    self.message = Some((kind, payload));
                }
            }
        }
    }
}

fn broken(why: &str) -> WsFrame {
    WsFrame::Broken(why.to_owned())
}

/// A whole message: text must be UTF-8.
fn finish(kind: u8, payload: BytesMut) -> WsFrame {
    if kind == OPCODE_TEXT {
        match ByteString::try_from(payload.freeze()) {
            Ok(text) => WsFrame::Text(text),
            Err(_) => broken("text frame is not UTF-8"),
        }
    } else {
        WsFrame::Binary(payload.freeze())
    }
}

/// XORs the payload with the client's masking key.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key lines up from its first byte.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

impl Stream for RawFrames {
    type Item = WsInput;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WsInput>> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Ending => {
                    this.phase = Phase::Done;
                    this.decoder = Decoder::new(&[], 0);
                    return Poll::Ready(Some(WsInput {
                        link: this.link,
                        frame: WsFrame::End,
                    }));
                }
                Phase::Reading => {}
            }
            if let Some(frame) = this.decoder.parse() {
                if matches!(frame, WsFrame::TooBig | WsFrame::Broken(_)) {
                    // Nothing after a violation is read.
                    this.phase = Phase::Ending;
                }
                return Poll::Ready(Some(WsInput {
                    link: this.link,
                    frame,
                }));
            }
            match this.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(true) => {}
                Poll::Ready(false) => this.phase = Phase::Ending,
            }
        }
    }
}

/// Writes what the session queued when it could not go out at once, and ends the connection
/// after the close frame: a write shutdown, then, if the client keeps the socket open, a full
/// shutdown after `LINGER` so that its reader ends too.
pub(crate) struct RawWriter {
    outbox: Arc<Outbox>,
    write: Arc<OwnedWriteHalf>,
    linger: Option<Pin<Box<Sleep>>>,
}

/// How long a client gets to close its side after our close frame.
const LINGER: Duration = Duration::from_secs(2);

impl RawWriter {
    pub(crate) fn new(outbox: Arc<Outbox>, write: Arc<OwnedWriteHalf>) -> Self {
        RawWriter {
            outbox,
            write,
            linger: None,
        }
    }

    fn shutdown(&self, how: std::net::Shutdown) {
        let _ = socket2::SockRef::from(self.write.as_ref().as_ref()).shutdown(how);
    }
}

impl Future for RawWriter {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(linger) = this.linger.as_mut() {
            if linger.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.shutdown(std::net::Shutdown::Both);
            return Poll::Ready(());
        }
        loop {
            let chunk = {
                let mut state = this.outbox.lock();
                if state.aborted {
                    drop(state);
                    this.shutdown(std::net::Shutdown::Both);
                    return Poll::Ready(());
                }
                if state.pending.is_empty() {
                    if state.closed {
                        drop(state);
                        return this.close(cx);
                    }
                    state.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                state.take_for_writer()
            };
            // The syscall runs without the lock: the RoomManager on another thread may go on
            // queueing for this connection meanwhile.
            let mut written = 0;
            let mut failed = false;
            while written < chunk.len() {
                match this.write.try_write(&chunk[written..]) {
                    Ok(n) if n > 0 => written += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Ok(_) | Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            let mut state = this.outbox.lock();
            state.writer_done(&chunk, written);
            if failed {
                state.abort();
                drop(state);
                this.shutdown(std::net::Shutdown::Both);
                return Poll::Ready(());
            }
            drop(state);
            if written == chunk.len() {
                continue;
            }
            match this.write.as_ref().as_ref().poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    this.outbox.lock().abort();
                    this.shutdown(std::net::Shutdown::Both);
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl RawWriter {
    /// Everything up to the close frame is written: end our side, then wait for the client's.
    fn close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.shutdown(std::net::Shutdown::Write);
        let mut linger = Box::pin(tokio::time::sleep(LINGER));
        if linger.as_mut().poll(cx).is_ready() {
            self.shutdown(std::net::Shutdown::Both);
            return Poll::Ready(());
        }
        self.linger = Some(linger);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// Bytes of a client frame as a browser would send it, for tests.
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= usize::from(u16::MAX) {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    fn decoder(bytes: &[u8], max_payload: usize) -> Decoder {
        Decoder::new(bytes, max_payload)
    }

    fn text(frame: Option<WsFrame>) -> String {
        match frame {
            Some(WsFrame::Text(text)) => text.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    #[test]
    fn unmasks_every_length() {
        for len in 0..40 {
            let payload: Vec<u8> = (0..len as u8).collect();
            let mut masked: Vec<u8> = payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ MASK[i & 3])
                .collect();
            unmask(&mut masked, MASK);
            assert_eq!(masked, payload, "length {len}");
        }
    }

    #[test]
    fn reads_frames_of_each_length_form_byte_by_byte() {
        for len in [0usize, 5, 125, 126, 1000, 65_535, 65_536, 70_000] {
            let payload = "x".repeat(len);
            let bytes = client_frame(0x81, payload.as_bytes(), MASK);
            let mut dec = decoder(&[], 100_000);
            // Arrives in pieces: nothing until the last byte.
            let step = (bytes.len() / 7).max(1);
            let mut fed = 0;
            let mut got = None;
            while fed < bytes.len() {
                let end = (fed + step).min(bytes.len());
                dec.buf.extend_from_slice(&bytes[fed..end]);
                fed = end;
                got = dec.parse();
                if fed < bytes.len() {
                    assert!(got.is_none(), "length {len}: early frame at {fed}");
                }
            }
            assert_eq!(text(got), payload, "length {len}");
            assert!(dec.buf.is_empty());
        }
    }

    #[test]
    fn several_frames_in_one_read_and_control_frames_between_fragments() {
        let mut bytes = client_frame(0x01, b"he", MASK); // text, not final
        bytes.extend(client_frame(0x89, b"ping!", MASK)); // ping between fragments
        bytes.extend(client_frame(0x00, b"ll", MASK)); // continuation
        bytes.extend(client_frame(0x80, b"o", MASK)); // final continuation
        bytes.extend(client_frame(0x82, &[1, 2, 3], MASK)); // binary
        bytes.extend(client_frame(0x8A, b"", MASK)); // pong
        bytes.extend(client_frame(0x88, &1000u16.to_be_bytes(), MASK)); // close
        let mut dec = decoder(&bytes, 100);
        assert!(matches!(dec.parse(), Some(WsFrame::Ping(p)) if &p[..] == b"ping!"));
        assert_eq!(text(dec.parse()), "hello");
        assert!(matches!(dec.parse(), Some(WsFrame::Binary(b)) if b[..] == [1, 2, 3]));
        assert!(matches!(dec.parse(), Some(WsFrame::Ignored)));
        assert!(matches!(dec.parse(), Some(WsFrame::Close)));
        assert!(dec.parse().is_none());
    }

    #[test]
    fn refuses_big_messages_from_the_header() {
        // A single frame announcing more than max_payload: refused before its payload.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert!(matches!(
            decoder(&header, 1000).parse(),
            Some(WsFrame::TooBig)
        ));
        // Fragments that add up to more than max_payload.
        let mut bytes = client_frame(0x02, &[0; 600], MASK);
        bytes.extend(client_frame(0x00, &[0; 600], MASK));
        let mut dec = decoder(&bytes, 1000);
        assert!(matches!(dec.parse(), Some(WsFrame::TooBig)));
        // Exactly max_payload is fine.
        let bytes = client_frame(0x82, &[7; 1000], MASK);
        assert!(
            matches!(decoder(&bytes, 1000).parse(), Some(WsFrame::Binary(b)) if b.len() == 1000)
        );
    }

    #[test]
    fn refuses_protocol_violations() {
        let unmasked = [0x81, 0x01, b'a'];
        let rsv = client_frame(0xC1, b"a", MASK);
        let opcode = client_frame(0x83, b"a", MASK);
        let long_ping = client_frame(0x89, &[0; 126], MASK);
        let fragmented_ping = client_frame(0x09, b"", MASK);
        let stray_continuation = client_frame(0x80, b"a", MASK);
        let bad_utf8 = client_frame(0x81, &[0xff, 0xfe], MASK);
        let mut interleaved = client_frame(0x01, b"a", MASK);
        interleaved.extend(client_frame(0x81, b"b", MASK));
        for (name, bytes) in [
            ("unmasked", &unmasked[..]),
            ("reserved bits", &rsv[..]),
            ("unknown opcode", &opcode[..]),
            ("long ping", &long_ping[..]),
            ("fragmented ping", &fragmented_ping[..]),
            ("stray continuation", &stray_continuation[..]),
            ("bad utf-8", &bad_utf8[..]),
            ("interleaved messages", &interleaved[..]),
        ] {
            let got = decoder(bytes, 1000).parse();
            assert!(matches!(got, Some(WsFrame::Broken(_))), "{name}: {got:?}");
        }
    }

    #[test]
    fn keeps_a_partial_frame_until_the_rest_comes() {
        let bytes = client_frame(0x82, &[9; 5000], MASK);
        let mut dec = decoder(&bytes[..100], 10_000);
        assert!(dec.parse().is_none());
        assert_eq!(dec.buf.len(), 100, "only what arrived is held");
        dec.buf.extend_from_slice(&bytes[100..]);
        assert!(matches!(dec.parse(), Some(WsFrame::Binary(b)) if b.len() == 5000));
    }
}
