//! What application handlers may return, and how the session runs what they return: nothing
//! (a sync handler), a `Result` (an error is logged), or a future (an async handler, awaited on
//! the session's worker). A panic in any of them is caught and logged; it ends only that call.

use std::{
    fmt::Display,
    future::Future,
    marker::PhantomData,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    task::{Context, Poll},
};

use crate::socket::error::ConnectError;

/// A handler's outcome, as the session sees it.
pub(crate) enum Flow {
    /// Finished, nothing to report.
    Done,
    /// Finished with an error (logged).
    Failed(String),
    /// Still running: the future finishes the work (its error, if any, is logged).
    Pending(Pin<Box<dyn Future<Output = Result<(), String>>>>),
}

/// What a handler (connect handler, event handler, connect middleware's sync part) may return:
/// `()`, `Result<(), E>` with a displayable error (logged when it is an error), or a future
/// resolving to either: an async closure or `async fn`.
///
/// The type parameter only tells the implementations apart; callers never name it.
pub trait HandlerOutput<M>: 'static {
    #[doc(hidden)]
    fn into_flow(self) -> FlowBox;
}

/// The outcome of a handler call, opaque outside the crate.
#[doc(hidden)]
pub struct FlowBox(pub(crate) Flow);

/// The outcome of a finished call: `()` or `Result<(), E>`.
pub trait Finished<M>: 'static {
    #[doc(hidden)]
    fn into_result(self) -> Result<(), String>;
}

/// Marks the `()` implementations.
#[doc(hidden)]
pub struct Unit;
/// Marks the `Result` implementations.
#[doc(hidden)]
pub struct Fallible;
/// Marks the future implementations.
#[doc(hidden)]
pub struct Later<M>(PhantomData<M>);

impl Finished<Unit> for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display + 'static> Finished<Fallible> for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|err| err.to_string())
    }
}

impl HandlerOutput<Unit> for () {
    fn into_flow(self) -> FlowBox {
        FlowBox(Flow::Done)
    }
}

impl<E: Display + 'static> HandlerOutput<Fallible> for Result<(), E> {
    fn into_flow(self) -> FlowBox {
        FlowBox(match self {
            Ok(()) => Flow::Done,
            Err(err) => Flow::Failed(err.to_string()),
        })
    }
}

impl<F, M> HandlerOutput<Later<M>> for F
where
    F: Future + 'static,
    F::Output: Finished<M>,
{
    fn into_flow(self) -> FlowBox {
        FlowBox(Flow::Pending(Box::pin(
            async move { self.await.into_result() },
        )))
    }
}

/// Calls a handler, turning a panic into `Flow::Failed`.
pub(crate) fn call(f: impl FnOnce() -> FlowBox) -> Flow {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(FlowBox(flow)) => flow,
        Err(panic) => Flow::Failed(format!("panicked: {}", panic_message(&*panic))),
    }
}

/// The text of a panic's payload, when it has one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

/// A future whose panic becomes an ordinary outcome (`on_panic` of the panic's message): an
/// async handler that panics ends only its own call, a middleware that panics refuses.
pub(crate) struct Guarded<T> {
    future: Pin<Box<dyn Future<Output = T>>>,
    on_panic: fn(&str) -> T,
}

impl<T> Guarded<T> {
    pub(crate) fn new(future: Pin<Box<dyn Future<Output = T>>>, on_panic: fn(&str) -> T) -> Self {
        Guarded { future, on_panic }
    }
}

impl<T> Future for Guarded<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let future = &mut this.future;
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready((this.on_panic)(panic_message(&*panic))),
        }
    }
}

/// What a failed handler's panic becomes.
pub(crate) fn handler_panicked(message: &str) -> Result<(), String> {
    Err(format!("panicked: {message}"))
}

/// A connect middleware's verdict, as the session sees it.
pub(crate) enum Admission {
    /// Decided at once.
    Ready(Result<(), ConnectError>),
    /// Decided when the future resolves.
    Pending(Pin<Box<dyn Future<Output = Result<(), ConnectError>>>>),
}

/// What a connect middleware may return: `Result<(), ConnectError>` (sync), or a future
/// resolving to it (an async closure or `async fn`).
///
/// The type parameter only tells the implementations apart; callers never name it.
pub trait MiddlewareOutput<M>: 'static {
    #[doc(hidden)]
    fn into_admission(self) -> AdmissionBox;
}

/// A middleware's verdict, opaque outside the crate.
#[doc(hidden)]
pub struct AdmissionBox(pub(crate) Admission);

impl MiddlewareOutput<Unit> for Result<(), ConnectError> {
    fn into_admission(self) -> AdmissionBox {
        AdmissionBox(Admission::Ready(self))
    }
}

impl<F> MiddlewareOutput<Later<Unit>> for F
where
    F: Future<Output = Result<(), ConnectError>> + 'static,
{
    fn into_admission(self) -> AdmissionBox {
        AdmissionBox(Admission::Pending(Box::pin(self)))
    }
}

/// What a middleware's panic becomes: a refusal.
pub(crate) fn middleware_panicked(message: &str) -> Result<(), ConnectError> {
    log::error!("a connect middleware panicked: {message}");
    Err(ConnectError::new("middleware error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_of<M, R: HandlerOutput<M>>(f: impl Fn() -> R) -> Flow {
        call(|| f().into_flow())
    }

    #[test]
    fn each_return_kind_has_its_flow() {
        assert!(matches!(flow_of(|| ()), Flow::Done));
        assert!(matches!(flow_of(|| Ok::<(), String>(())), Flow::Done));
        assert!(matches!(flow_of(|| Err::<(), _>("no")), Flow::Failed(e) if e == "no"));
        assert!(matches!(flow_of(|| async {}), Flow::Pending(_)));
        assert!(matches!(
            flow_of(|| async { Err::<(), _>(7) }),
            Flow::Pending(_)
        ));
        let panics = || {
            if true {
                panic!("boom")
            }
        };
        assert!(matches!(flow_of(panics), Flow::Failed(e) if e.contains("boom")));
    }

    #[actix_rt::test]
    async fn a_panicking_future_resolves_to_an_error() {
        let Flow::Pending(fut) = flow_of(|| async { Err::<(), _>("late") }) else {
            panic!("not pending");
        };
        assert_eq!(
            Guarded::new(fut, handler_panicked).await,
            Err("late".to_owned())
        );
        let Flow::Pending(fut) = flow_of(|| async {
            tokio::task::yield_now().await;
            if true {
                panic!("inside");
            }
        }) else {
            panic!("not pending");
        };
        let err = Guarded::new(fut, handler_panicked).await.unwrap_err();
        assert!(err.contains("inside"), "{err}");
    }
}
