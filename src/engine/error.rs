//! Engine.IO errors: why a packet could not be read, and why an HTTP request was refused.
//! `RequestError` maps each refusal to the status code and JSON body the reference server sends.

use actix_web::{http::StatusCode, HttpResponse};

/// Why an Engine.IO packet could not be decoded. Any of these closes the session ("parse error").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An empty packet (no type digit).
    #[error("empty packet")]
    Empty,
    /// A type the client may not send, or not a digit at all.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b` record of a polling body that is not valid base64.
    #[error("invalid base64 in a binary packet")]
    Base64,
    /// A polling body that is not UTF-8.
    #[error("polling body is not UTF-8")]
    NotUtf8,
}

/// Why an HTTP request to the Engine.IO endpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `transport` missing or not `polling` / `websocket` (code 0).
    #[error("Transport unknown")]
    UnknownTransport,
    /// The `sid` names no open session (code 1).
    #[error("Session ID unknown")]
    UnknownSid,
    /// A handshake with a method other than GET (code 2).
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Anything else the protocol calls a bad request (code 3), with the detail for the log.
    #[error("Bad request")]
    BadRequest(&'static str),
    /// Refused by policy, e.g. an origin not allowed (code 4).
    #[error("Forbidden")]
    Forbidden,
    /// A handshake whose `EIO` is not `4` (code 5).
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// A handshake past `max_connections` (HTTP 503, our extension).
    #[error("Server is at its connection limit")]
    TooManyConnections,
    /// A body larger than `max_payload` (HTTP 413).
    #[error("Payload too large")]
    PayloadTooLarge,
}

impl RequestError {
    /// The Engine.IO error code sent in the JSON body.
    pub fn code(&self) -> u8 {
        match self {
            RequestError::UnknownTransport => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest(_) | RequestError::PayloadTooLarge => 3,
            RequestError::Forbidden | RequestError::TooManyConnections => 4,
            RequestError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Forbidden => StatusCode::FORBIDDEN,
            RequestError::TooManyConnections => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON body of the refusal: `{"code":N,"message":"…"}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "code": self.code(), "message": self.to_string() }).to_string()
    }

    /// The refusal as the reference server sends it.
    pub fn to_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("application/json")
            .body(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_reference() {
        let cases = [
            (RequestError::UnknownTransport, 400, 0),
            (RequestError::UnknownSid, 400, 1),
            (RequestError::BadHandshakeMethod, 400, 2),
            (RequestError::BadRequest("x"), 400, 3),
            (RequestError::Forbidden, 403, 4),
            (RequestError::UnsupportedProtocolVersion, 400, 5),
            (RequestError::TooManyConnections, 503, 4),
            (RequestError::PayloadTooLarge, 413, 3),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }
}
