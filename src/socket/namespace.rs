//! Namespaces: the connect handler and the connect middleware of each one.
//! The registry is shared by every session; it is read on each CONNECT and written rarely.

use std::sync::{Arc, RwLock};

use crate::socket::{error::ConnectError, socket::Socket};

type ConnectHandler = Arc<dyn Fn(Socket) + Send + Sync>;
type Middleware = Arc<dyn Fn(&Socket) -> Result<(), ConnectError> + Send + Sync>;

pub(crate) struct NamespaceInner {
    name: Arc<str>,
    on_connect: RwLock<Option<ConnectHandler>>,
    middleware: RwLock<Vec<Middleware>>,
}

/// A namespace (`/`, `/admin`...): where handlers for its sockets are registered.
#[derive(Clone)]
pub struct Namespace {
    inner: Arc<NamespaceInner>,
}

impl Namespace {
    pub(crate) fn new(name: &str) -> Self {
        Namespace {
            inner: Arc::new(NamespaceInner {
                name: Arc::from(name),
                on_connect: RwLock::new(None),
                middleware: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The namespace's name, e.g. `/admin`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// Sets the handler run for every socket that joins (after the middleware accepted it).
    pub fn on_connect<F>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) + Send + Sync + 'static,
    {
        *self
            .inner
            .on_connect
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
        self
    }

    /// Adds connect middleware, run in order before the connect handler. Returning an error
    /// refuses the socket with a CONNECT_ERROR carrying its message and data; the client's
    /// connection (and its other namespaces) stay open.
    pub fn use_middleware<F>(&self, middleware: F) -> &Self
    where
        F: Fn(&Socket) -> Result<(), ConnectError> + Send + Sync + 'static,
    {
        self.inner
            .middleware
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(middleware));
        self
    }

    /// Runs the middleware chain; the first refusal wins.
    pub(crate) fn admit(&self, socket: &Socket) -> Result<(), ConnectError> {
        let chain = self
            .inner
            .middleware
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        chain.iter().try_for_each(|middleware| middleware(socket))
    }

    /// Runs the connect handler, if any.
    pub(crate) fn connected(&self, socket: Socket) {
        let handler = self
            .inner
            .on_connect
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(handler) = handler {
            handler(socket);
        }
    }
}
