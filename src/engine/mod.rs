//! Engine.IO v4: the packet codec, the session actor (handshake, heartbeat, upgrade, limits),
//! the polling and WebSocket transports and the HTTP entry point. It imports nothing above it:
//! decoded messages go up through [`handler::SessionHandler`], encoded frames come back down.

use std::sync::Arc;

use base64::Engine as _;

pub mod error;
pub(crate) mod handler;
pub(crate) mod info;
pub mod packet;
pub(crate) mod registry;
pub(crate) mod service;
pub(crate) mod session;
pub(crate) mod transport;

/// A fresh unguessable id: 120 bits from the OS CSPRNG, as 20 URL-safe base64 characters.
pub(crate) fn random_id() -> Result<Arc<str>, getrandom::Error> {
    let mut raw = [0u8; 15];
    getrandom::fill(&mut raw)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(raw)
        .into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_long_and_distinct() {
        let a = super::random_id().unwrap();
        let b = super::random_id().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
