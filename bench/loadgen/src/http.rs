//! A minimal HTTP/1.1 keep-alive client over one TCP connection: one request at a time,
//! responses with Content-Length, chunked bodies, or (Connection: close) a body up to EOF.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct HttpConn {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
    req: Vec<u8>,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr, host: &str) -> Result<Self, String> {
        let mut conn = HttpConn {
            addr,
            host: host.to_owned(),
            stream: None,
            buf: Vec::with_capacity(4096),
            req: Vec::with_capacity(512),
        };
        conn.ensure_connected().await?;
        Ok(conn)
    }

    async fn ensure_connected(&mut self) -> Result<(), String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("tcp connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends one request (a body only for POST) and reads the whole response.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Response, String> {
        self.ensure_connected().await?;
        self.req.clear();
        self.req.extend_from_slice(method.as_bytes());
        self.req.push(b' ');
        self.req.extend_from_slice(target.as_bytes());
        self.req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.req.extend_from_slice(self.host.as_bytes());
        self.req.extend_from_slice(b"\r\nAccept: */*\r\n");
        if method == "POST" {
            self.req
                .extend_from_slice(b"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
            self.req
                .extend_from_slice(body.len().to_string().as_bytes());
            self.req.extend_from_slice(b"\r\n");
        }
        self.req.extend_from_slice(b"\r\n");
        self.req.extend_from_slice(body);
        let result = self.exchange().await;
        if result.is_err() {
            // Unknown state: start on a fresh connection next time.
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self) -> Result<Response, String> {
        let stream = self.stream.as_mut().expect("connected");
        stream
            .write_all(&self.req)
            .await
            .map_err(|e| format!("http write: {e}"))?;

        // Head.
        let mut scanned = 0;
        let head_end = loop {
            if let Some(pos) = find(&self.buf[scanned..], b"\r\n\r\n") {
                break scanned + pos + 4;
            }
            scanned = self.buf.len().saturating_sub(3);
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| "http: response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("http: bad status line {status_line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("http: bad content-length {value:?}"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.buf.drain(..head_end);

        // Body.
        let body = if chunked {
            self.read_chunked().await?
        } else if let Some(n) = length {
            while self.buf.len() < n {
                self.fill().await?;
            }
            self.buf.drain(..n).collect()
        } else if status == 204 || status == 304 || status < 200 {
            Vec::new()
        } else {
            // No framing: the body runs to the end of the connection.
            while self.fill().await.is_ok() {}
            close = true;
            std::mem::take(&mut self.buf)
        };
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = self.line().await?;
            let line = std::str::from_utf8(&self.buf[..line_end - 2]).unwrap_or("");
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("http: bad chunk size {size_text:?}"))?;
            self.buf.drain(..line_end);
            if size == 0 {
                // Trailers up to an empty line.
                loop {
                    let end = self.line().await?;
                    self.buf.drain(..end);
                    if end == 2 {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }

    /// Position just past the next CRLF in the buffer, reading as needed.
    async fn line(&mut self) -> Result<usize, String> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = find(&self.buf[scanned..], b"\r\n") {
                return Ok(scanned + pos + 2);
            }
            scanned = self.buf.len().saturating_sub(1);
            self.fill().await?;
        }
    }

    /// Reads more bytes into the buffer; an error at EOF.
    async fn fill(&mut self) -> Result<(), String> {
        let stream = self.stream.as_mut().ok_or("http: not connected")?;
        self.buf.reserve(4096);
        match stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("http: connection closed by server".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("http read: {e}")),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection server that answers each request with the next canned response.
    async fn serve(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for response in responses {
                let _ = sock.read(&mut buf).await.unwrap();
                sock.write_all(response).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn content_length_chunked_and_keep_alive() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n40{\r\n2;x=y\r\n}\x1e\r\n0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let mut conn = HttpConn::connect(addr, "h").await.unwrap();
        let r = conn.request("POST", "/x", b"40").await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"ok".as_slice()));
        let r = conn.request("GET", "/x", b"").await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"40{}\x1e".as_slice()));
        let r = conn.request("GET", "/x", b"").await.unwrap();
        assert_eq!((r.status, r.body.len()), (400, 0));
    }
}
