//! [`Server`]: an HTTP server for an actix-web app with a Socket.IO endpoint, in which each
//! WebSocket leaves the HTTP machinery once its handshake is done.
//!
//! Under `actix_web::HttpServer` a WebSocket stays inside the HTTP/1 dispatcher for its whole
//! life, with the dispatcher's read and write buffers (8 KiB each) and a channel to actix-ws.
//! `Server` serves the same app with the same settings, but hands `Upgrade: websocket` requests
//! to the Socket.IO endpoint before the app sees them: after the `101` the session reads and
//! writes the TCP stream itself, holding no buffer while the client is quiet. Long-polling
//! requests without an `Origin` header (clients other than browsers, and a browser's same-origin
//! GETs) go to the endpoint before the app too, with the headers the endpoint's CORS middleware
//! would have added: no router, middleware or `HttpRequest` on the hot path. Everything else
//! (polling with `Origin`, preflights, the app's own routes, static files) goes through the app
//! as usual; app middleware therefore does not see the requests the endpoint takes directly,
//! as it does not see WebSockets.
//!
//! What it cannot do: other upgrade requests (an app's own WebSocket routes, `h2c`) get
//! `404 Not Found` — keep `HttpServer` for an app that serves its own WebSockets.

use std::{fmt, io, net::SocketAddr, sync::Arc, time::Duration};

use actix_codec::Framed;
use actix_http::{
    body::{EitherBody, MessageBody},
    h1, HttpService, Protocol, Request, Response,
};
use actix_service::{
    apply_fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory,
    ServiceFactoryExt,
};
use actix_web::dev::AppConfig;
use futures_util::{future::Either, FutureExt, TryFutureExt};
use tokio::net::TcpStream;

use crate::{
    engine::transport::raw::{self, RawEndpoint},
    io::Endpoint,
};

/// An HTTP/1.1 server for an actix-web app that configures `io.service()`, like
/// `actix_web::HttpServer` but with lean WebSockets (see the module documentation).
///
/// ```no_run
/// use actix_socketio::{Config, Server, SocketIo};
/// use actix_web::App;
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let io = SocketIo::new(Config::default());
///     io.ns("/", |socket| {
///         socket.on("ping", |socket, _event| {
///             let _ = socket.emit("pong", &());
///         });
///     });
///     let app_io = io.clone();
///     Server::new(&io, move || App::new().configure(app_io.service()))
///         .bind(("127.0.0.1", 8080))?
///         .run()
///         .await
/// }
/// ```
pub struct Server<F> {
    /// The Socket.IO endpoints whose WebSockets this server takes over.
    endpoints: Vec<Arc<dyn RawEndpoint>>,
    factory: F,
    builder: actix_server::ServerBuilder,
    addrs: Vec<SocketAddr>,
    backlog: u32,
    keep_alive: Duration,
    request_timeout: Duration,
    disconnect_timeout: Duration,
}

impl<F> Server<F> {
    /// A server for the apps `factory` makes (one per worker thread); they must configure
    /// `io.service()` for long-polling.
    pub fn new(io: &impl Endpoint, factory: F) -> Self {
        Server {
            endpoints: vec![io.raw_endpoint()],
            factory,
            builder: actix_server::Server::build(),
            addrs: Vec::new(),
            backlog: 1024,
            keep_alive: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            disconnect_timeout: Duration::from_secs(1),
        }
    }

    /// Takes over the WebSockets of another `SocketIo` mounted on the same app (at another
    /// path), e.g. a second endpoint or an Engine.IO-only one.
    pub fn also(mut self, io: &impl Endpoint) -> Self {
        self.endpoints.push(io.raw_endpoint());
        self
    }

    /// Worker threads (default: one per physical core).
    pub fn workers(mut self, workers: usize) -> Self {
        self.builder = self.builder.workers(workers);
        self
    }

    /// Pending connections the kernel may queue (default 1024); set it before `bind`.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self.builder = self.builder.backlog(backlog);
        self
    }

    /// Most HTTP connections each worker serves at once (a WebSocket counts only during its
    /// handshake; `Config::max_connections` caps sessions).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.builder = self.builder.max_concurrent_connections(max);
        self
    }

    /// How long an idle keep-alive HTTP connection stays open (default 5 s).
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// How long a client gets to send a request's head (default 5 s).
    pub fn client_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Seconds that running requests get to finish on a graceful stop (default 30).
    pub fn shutdown_timeout(mut self, secs: u64) -> Self {
        self.builder = self.builder.shutdown_timeout(secs);
        self
    }

    /// Leaves SIGINT/SIGTERM to the application (stop the server with its handle).
    pub fn disable_signals(mut self) -> Self {
        self.builder = self.builder.disable_signals();
        self
    }

    /// Listens on every address `addr` resolves to.
    pub fn bind<A, I, S, B>(mut self, addr: A) -> io::Result<Self>
    where
        A: std::net::ToSocketAddrs,
        F: Fn() -> I + Send + Clone + 'static,
        I: IntoServiceFactory<S, Request>,
        S: ServiceFactory<Request, Config = AppConfig, Error = actix_web::Error> + 'static,
        S::InitError: fmt::Debug,
        S::Response: Into<Response<B>> + 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let mut bound = false;
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match listener(addr, self.backlog) {
                Ok(listener) => {
                    self = self.listen(listener)?;
                    bound = true;
                }
                Err(err) => last_err = Some(err),
            }
        }
        match (bound, last_err) {
            (true, _) => Ok(self),
            (false, Some(err)) => Err(err),
            (false, None) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            )),
        }
    }

    /// Serves on a listener bound elsewhere.
    pub fn listen<I, S, B>(mut self, listener: std::net::TcpListener) -> io::Result<Self>
    where
        F: Fn() -> I + Send + Clone + 'static,
        I: IntoServiceFactory<S, Request>,
        S: ServiceFactory<Request, Config = AppConfig, Error = actix_web::Error> + 'static,
        S::InitError: fmt::Debug,
        S::Response: Into<Response<B>> + 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let addr = listener.local_addr()?;
        self.addrs.push(addr);
        let factory = self.factory.clone();
        let endpoints: Arc<[Arc<dyn RawEndpoint>]> = self.endpoints.clone().into();
        let (keep_alive, request_timeout, disconnect_timeout) = (
            self.keep_alive,
            self.request_timeout,
            self.disconnect_timeout,
        );
        self.builder =
            self.builder
                .listen(format!("actix-socketio-{addr}"), listener, move || {
                    let endpoints = endpoints.clone();
                    let lean = endpoints.clone();
                    let upgrade = fn_service(
                        move |(req, framed): (Request, Framed<TcpStream, h1::Codec>)| {
                            raw::accept(endpoints.clone(), req, framed)
                        },
                    );
                    let app = apply_fn_factory(
                        map_config(factory(), |_: ()| AppConfig::default()),
                        move |req: Request, app: &S::Service| match raw::lean_polling(&lean, req) {
                            Ok(polling) => Either::Left(
                                polling
                                    .map(|res| Ok(res.map_body(|_, body| EitherBody::right(body)))),
                            ),
                            Err(req) => Either::Right(app.call(req).map_ok(|res| {
                                res.into().map_body(|_, body| EitherBody::left(body))
                            })),
                        },
                    );
                    let http = HttpService::<TcpStream, _, _>::build()
                        .keep_alive(keep_alive)
                        .client_request_timeout(request_timeout)
                        .client_disconnect_timeout(disconnect_timeout)
                        .local_addr(addr)
                        .upgrade(upgrade)
                        .finish(app);
                    fn_service(|io: TcpStream| async move {
                        // Realtime frames are small: each goes out at once, not after Nagle's wait.
                        let _ = io.set_nodelay(true);
                        let peer = io.peer_addr().ok();
                        Ok((io, Protocol::Http1, peer))
                    })
                    .and_then(http)
                })?;
        Ok(self)
    }

    /// The addresses listened on (with the port the system picked for port 0).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Starts the workers; the returned server resolves when it stops.
    pub fn run(self) -> actix_server::Server {
        self.builder.run()
    }
}

/// A listening socket with `SO_REUSEADDR` and the given backlog.
fn listener(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(IpProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}
