//! Accepting connections and serving them with hyper, within [`ServeLimits`].
//!
//! What bounds what:
//! - **Connections**: a semaphore of `connections_max` permits, taken *before* `accept`, so a
//!   connection beyond the limit waits in the kernel's listen backlog and costs no file descriptor. A
//!   connection holds its permit until it closes (an SSE stream too); the deadlines below make every
//!   idle or slow one close, so an authenticated client in the backlog is served once they do.
//! - **Request heads**: hyper buffers at most [`ServeLimits::head_buffer_bytes_max`] and
//!   `header_fields_max` fields (it answers 400, 414 and 431 itself; [`EdgeIo`] gives those answers
//!   API.md's JSON body); `refuse_head` holds the exact 64 KiB and 16 KiB limits for the rest.
//! - **Time**: [`EdgeIo`] closes a connection whose request head does not arrive within
//!   `header_read_timeout` (from the connection's start, or from the head's first byte) or whose next
//!   request does not begin within `idle_timeout`. hyper's `header_read_timeout` runs from the end of
//!   one response to the end of the next head, so it cannot give both; it is off. A body has
//!   `body_read_timeout` in all, in the handler that reads it.
//! - **Requests in flight**: tower's concurrency limit with load shedding: beyond
//!   `requests_in_flight_max`, a `503 unavailable` with `Retry-After` at once, not a queue.

use super::connection::{EdgeIo, Handling, RequestInFlight};
use super::error::ApiError;
use super::limits::{ServeLimits, RETRY_AFTER_SECONDS};
use super::{router, AppState};
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::util::BoxCloneService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// File descriptors kept for everything but client connections (the stores' files, sled's blob files
/// while they are synced, PostgreSQL connections, the listener, epoll, standard streams).
pub const FILES_RESERVED: u64 = 64;
/// How long the accept loop waits after a failure that does not clear at once (out of descriptors or
/// memory): retrying at once would spin a core.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// `requested`, lowered to what the open-files limit (`ulimit -n`) leaves for connections after
/// [`FILES_RESERVED`]: beyond it `accept` would fail with EMFILE and every new client, an
/// authenticated one too, would wait on a server that cannot take it. Returns the count and the limit
/// when it lowered the count.
pub fn connections_max_within_open_files(requested: usize) -> (usize, Option<u64>) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    match limit {
        Some(limit) => {
            let room = usize::try_from(limit.saturating_sub(FILES_RESERVED).max(1)).unwrap_or(usize::MAX);
            if requested > room {
                (room, Some(limit))
            } else {
                (requested, None)
            }
        }
        None => (requested, None),
    }
}

/// Serves the API on `listener` within `state`'s limits until `shutdown` resolves; then stops
/// accepting, ends open subscription streams (`stop_streams`), and waits for the requests in flight
/// (appends answer once durable) and for their connections to close.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop_streams: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::clone(&state.limits);
    let metrics = Arc::clone(&state.inner.metrics);
    let app = shed_load(router(state), &limits, &metrics);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(limits.head_buffer_bytes_max())
        .max_headers(limits.header_fields_max)
        // `EdgeIo`'s clock is the connection's one timer: hyper's would cost a timer operation per
        // request and could not tell a head from an idle wait (see `connection::Clock`).
        .header_read_timeout(None);
    let slots = limits.enforced.then(|| Arc::new(Semaphore::new(limits.connections_max)));
    let graceful = GracefulShutdown::new();
    let stopping = Arc::new(AtomicBool::new(false));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match &slots {
            Some(slots) => tokio::select! {
                slot = Arc::clone(slots).acquire_owned() => Some(slot.expect("the semaphore is never closed")),
                () = &mut shutdown => break,
            },
            None => None,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers go out at once (Nagle would hold them for the client's delayed ACK).
        let _ = stream.set_nodelay(true);
        let handling = Arc::new(Handling::default());
        let io = EdgeIo::new(
            stream,
            Arc::clone(&handling),
            Arc::clone(&stopping),
            Arc::clone(&limits),
            Arc::clone(&metrics),
        );
        let service = TowerToHyperService::new(ConnectionService {
            app: app.clone(),
            handling,
            limits: Arc::clone(&limits),
            metrics: Arc::clone(&metrics),
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        let open = OpenConnection::new(Arc::clone(&metrics));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop((slot, open));
        });
    }
    drop(listener);
    let _ = stop_streams.send(true);
    stopping.store(true, Ordering::Relaxed);
    graceful.shutdown().await;
    Ok(())
}

async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    // A peer that went away before accept costs nothing to skip.
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted) {
        return;
    }
    tracing::warn!(%error, "accept failed; retrying shortly");
    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
}

/// The open-connections gauge, for as long as a connection lives.
struct OpenConnection(Arc<super::Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<super::Metrics>) -> OpenConnection {
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The router, or (limits enforced) the router behind tower's concurrency limit with load shedding.
/// The layers wrap the whole router, not each route, so the limit is one for the server.
type App = BoxCloneService<axum::http::Request<Body>, Response, Infallible>;

fn shed_load(router: Router, limits: &ServeLimits, metrics: &Arc<super::Metrics>) -> App {
    if !limits.enforced {
        return BoxCloneService::new(router);
    }
    let max = limits.requests_in_flight_max;
    let metrics = Arc::clone(metrics);
    // Load shedding's `Overloaded` is the only error of these layers (the router's is `Infallible`).
    let shed = move |error: BoxError| async move {
        if error.is::<tower::load_shed::error::Overloaded>() {
            metrics.requests_shed.fetch_add(1, Ordering::Relaxed);
            ApiError::overloaded(max, RETRY_AFTER_SECONDS)
        } else {
            ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string())
        }
    };
    BoxCloneService::new(
        ServiceBuilder::new().layer(HandleErrorLayer::new(shed)).load_shed().concurrency_limit(max).service(router),
    )
}

/// One connection's service: refuses a request line or headers over their limits, else calls the app;
/// and marks the connection busy from the moment a request reaches it until its response body is
/// done, so [`EdgeIo`] applies no deadline meanwhile.
#[derive(Clone)]
struct ConnectionService {
    app: App,
    handling: Arc<Handling>,
    limits: Arc<ServeLimits>,
    metrics: Arc<super::Metrics>,
}

/// The refusal of a request whose line (method, path and query) or headers are over their limits.
/// hyper refuses what does not fit its head buffer before this (see [`EdgeIo`]); this holds the
/// exact limits for what does. It runs before load shedding and routing: the cheapest refusal first.
fn refuse_head<B>(request: &axum::http::Request<B>, limits: &ServeLimits) -> Option<ApiError> {
    // A header field as sent: name, ": ", value, CR LF.
    const FIELD_FRAMING_BYTES: usize = 4;
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if request.method().as_str().len() + target > limits.request_line_bytes_max {
        return Some(ApiError::uri_too_long(limits.request_line_bytes_max));
    }
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + FIELD_FRAMING_BYTES).sum();
    (header_bytes > limits.header_bytes_max)
        .then(|| ApiError::header_fields_too_large(limits.header_bytes_max, limits.header_fields_max))
}

impl Service<axum::http::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is the app's, checked in `call` (load shedding answers at once instead of waiting).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<Incoming>) -> Self::Future {
        let in_flight = RequestInFlight::start(&self.handling);
        let track =
            move |response: Response| response.map(|body| Body::new(TrackedBody { body, _in_flight: in_flight }));
        if let Some(refusal) = self.limits.enforced.then(|| refuse_head(&request, &self.limits)).flatten() {
            self.metrics.heads_refused.fetch_add(1, Ordering::Relaxed);
            return Box::pin(std::future::ready(Ok(track(refusal.into_response()))));
        }
        let app = self.app.clone();
        Box::pin(async move { Ok(track(app.oneshot(request.map(Body::new)).await?)) })
    }
}

/// A response body that keeps its connection marked busy until it is done or dropped.
struct TrackedBody {
    body: Body,
    _in_flight: RequestInFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
