//! The seam between Engine.IO and what runs on top of it: the session actor hands each decoded
//! message up through [`SessionHandler`] and sends the frames the layer above gives it.

use actix::Context;
use bytes::Bytes;

use crate::{
    engine::{packet::Frame, session::Session},
    reason::DisconnectReason,
};

/// What runs on top of one Engine.IO session: Socket.IO (`socket::connection`), or the plain
/// echo the Engine.IO conformance suite talks to ([`Echo`]).
///
/// Each session actor owns one handler value (`Session::handler`); the callbacks get the whole
/// session so that they can send frames (`Session::send_frames`) or close it
/// (`Session::close`). They run on the session's actor, one at a time.
pub trait SessionHandler: Sized + Unpin + 'static {
    /// State shared by the handlers of every session of one server (e.g. its namespaces).
    type Shared: Send + Sync + 'static;

    /// The handler of a session that is opening.
    fn new(shared: &Self::Shared) -> Self;

    /// The session actor has started (timers may be armed here).
    fn started(_session: &mut Session<Self>, _ctx: &mut Context<Session<Self>>) {}

    /// An Engine.IO message packet with text arrived.
    fn on_message(session: &mut Session<Self>, text: &str, ctx: &mut Context<Session<Self>>);

    /// An Engine.IO message packet with binary data arrived.
    fn on_binary(session: &mut Session<Self>, data: Bytes, ctx: &mut Context<Session<Self>>);

    /// The session upgraded from polling: it writes through a WebSocket from now on.
    fn on_upgraded(_session: &mut Session<Self>) {}

    /// The session is closing for `reason`; nothing can be sent any more. Called once.
    fn on_close(
        _session: &mut Session<Self>,
        _reason: DisconnectReason,
        _ctx: &mut Context<Session<Self>>,
    ) {
    }
}

/// A plain Engine.IO server that sends every message back, text and binary: what the public
/// Engine.IO conformance suite expects, and how the engine is tested without Socket.IO.
#[derive(Debug, Default)]
pub struct Echo;

impl SessionHandler for Echo {
    type Shared = ();

    fn new(_: &()) -> Self {
        Echo
    }

    fn on_message(session: &mut Session<Self>, text: &str, ctx: &mut Context<Session<Self>>) {
        session.send_frames(&[Frame::message(text)], ctx);
    }

    fn on_binary(session: &mut Session<Self>, data: Bytes, ctx: &mut Context<Session<Self>>) {
        session.send_frames(&[Frame::Binary(data)], ctx);
    }
}
