//! What the Engine.IO handshake request told the server: query, headers, peer address, time and
//! URL, kept for the session's whole life and shared with every socket the layer above opens.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The handshake request of one session, as the layer above sees it.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// Query parameters of the handshake request.
    pub query: Arc<HashMap<String, String>>,
    /// Headers of the handshake request.
    pub headers: Arc<Headers>,
    /// Peer address, when known.
    pub address: Option<SocketAddr>,
    /// When the session opened.
    pub time: SystemTime,
    /// Path and query of the handshake request.
    pub url: Arc<str>,
}

/// The handshake request's headers, kept as a compact list: a session holds them for its whole
/// life, and actix's `HeaderMap` costs kilobytes per copy. Names are lower case.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    entries: Box<[(HeaderName, HeaderValue)]>,
}

impl Headers {
    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.entries
            .iter()
            .find(|(key, _)| key.as_str().eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Every value of a header, in the order the request carried them.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderValue> + 'a {
        self.entries
            .iter()
            .filter(move |(key, _)| key.as_str().eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Whether the request carried this header.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every header as (name, value), repeated names once per value.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// How many header values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl From<&HeaderMap> for Headers {
    /// Copies the values out of the request, so that holding them does not pin the connection's
    /// read buffer, which the parsed request's values share.
    fn from(map: &HeaderMap) -> Self {
        let entries = map
            .iter()
            .filter_map(|(key, value)| {
                let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
                Some((key.clone(), value))
            })
            .collect();
        Headers { entries }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    use super::Headers;

    #[test]
    fn lookups_ignore_case_and_keep_every_value() {
        let mut map = HeaderMap::new();
        map.insert(
            HeaderName::from_static("x-test"),
            HeaderValue::from_static("hello"),
        );
        map.append(
            HeaderName::from_static("cookie"),
            HeaderValue::from_static("a=1"),
        );
        map.append(
            HeaderName::from_static("cookie"),
            HeaderValue::from_static("b=2"),
        );
        let headers = Headers::from(&map);
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.get("X-Test").unwrap(), "hello");
        assert!(headers.contains_key("COOKIE"));
        let cookies: Vec<_> = headers.get_all("cookie").collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(headers.get("missing").is_none());
        assert!(!headers.is_empty());
        assert_eq!(headers.iter().count(), 3);
    }
}
