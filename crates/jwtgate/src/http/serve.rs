//! Owns the listener loop: accepts TCP connections and serves the router on each over HTTP/1.1,
//! or over TLS (`tls`) with HTTP/2 or HTTP/1.1 as ALPN chose, with the peer address as
//! `ConnectInfo`. Must not import the domain or sqlx.
//!
//! Why not `axum::serve`: it gives hyper no timer and no deadlines, so a client can hold a
//! connection (and a file descriptor) for as long as it likes. Here:
//! - **The head** must arrive within `header_read_timeout` (hyper's timer; slowloris), and an
//!   idle keep-alive connection is closed after that long too.
//! - **The whole request**, head and body, must arrive within `request_timeout` of its first
//!   byte. A body that stalls or trickles past it fails the handler's read, which answers 408
//!   `request_timeout`, and the connection is closed after the answer.
//! - **Connections are capped** below the process's descriptor limit (raised to its hard
//!   limit first), so the listener never runs out of descriptors: at the cap it stops
//!   accepting and new connections wait in the kernel's backlog until one ends.
//! - **A TLS handshake** must finish within `header_read_timeout` too. HTTP/2 has no request
//!   head to time: each stream's body deadline runs from its head's arrival, and a connection
//!   with no stream open and no byte read for `header_read_timeout` is closed (hyper's HTTP/2
//!   has no idle timeout; an answer still streaming, such as the revocation feed, keeps its
//!   stream open).
//! - **Accept errors** back off (10 ms, doubling to 1 s) and are logged at most once a second,
//!   with a count of the ones not logged.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long each connection may take over its parts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    /// Open connections at most (see [`connection_cap`]).
    pub max_connections: usize,
    /// Once shutdown begins, how long requests in flight may take before their connections
    /// are closed.
    pub shutdown_grace: Duration,
}

/// The error a request body yields once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request did not arrive within its deadline")]
pub struct BodyTimeout;

/// Descriptors kept free beside the connections: the listener, the database and its WAL, the
/// outbox, logs, the SMTP and JWKS clients.
const MIN_HEADROOM: u64 = 64;

/// Raises the soft descriptor limit to the hard one (as Go's runtime does), then derives the
/// connection cap from it: the limit less a tenth of it, and never less than
/// [`MIN_HEADROOM`], for everything that is not a client connection.
pub fn connection_cap() -> usize {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                limit = getrlimit(Resource::Nofile);
            }
        }
        let soft = limit.current.unwrap_or(1 << 20);
        let headroom = (soft / 10).max(MIN_HEADROOM);
        usize::try_from(soft.saturating_sub(headroom).max(1)).unwrap_or(usize::MAX)
    }
    #[cfg(not(target_os = "linux"))]
    {
        1024
    }
}

/// Serves `router` until `shutdown` resolves, then lets every open connection finish its
/// request in flight (idle keep-alive connections close at once) before returning.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let mut accept_errors = AcceptErrors::default();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::debug!(max_connections = limits.max_connections, "listening");
    loop {
        // A place first: at the cap, connections wait in the kernel's backlog, not in a
        // descriptor of ours.
        let place = tokio::select! {
            place = Arc::clone(&places).acquire_owned() => match place {
                Ok(place) => place,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => {
                    accept_errors.reset();
                    connection
                }
                Err(e) => {
                    drop(place);
                    tokio::time::sleep(accept_errors.record(&e)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            limits,
            peer,
            tls: tls.is_some(),
        };
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            match tls {
                None => connection.http1(stream, watcher).await,
                Some(acceptor) => {
                    // The handshake is held to the same bound as a request head (slowloris).
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                            .await;
                    match handshake {
                        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                            connection.http2(stream, watcher).await;
                        }
                        Ok(Ok(stream)) => connection.http1(stream, watcher).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(place);
        });
    }
    // No new connection from here; requests in flight finish (idle keep-alive connections
    // close at once), within the grace.
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs(),
            "requests still in flight after the shutdown grace: their connections are closed"
        );
    }
}

/// One accepted connection: what serving it needs.
struct Connection {
    router: Router,
    limits: Limits,
    peer: SocketAddr,
    /// Whether it came over TLS (its answers then carry `Strict-Transport-Security`).
    tls: bool,
}

impl Connection {
    /// HTTP/1.1: the head within `header_read_timeout`, the whole request within
    /// `request_timeout` of its first byte (see the module documentation).
    async fn http1<I>(self, io: I, watcher: Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            router,
            limits,
            peer,
            tls,
        } = self;
        let started = RequestStart::default();
        let io = TokioIo::new(Watched {
            io,
            watch: Watch::Http1(started.clone()),
        });
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let deadline = started.began() + limits.request_timeout;
            let response =
                router
                    .clone()
                    .oneshot(prepare(request, peer, deadline, started.clone()));
            let started = started.clone();
            async move {
                let mut response = response.await?;
                // The next bytes on this connection begin the next request.
                if started.arm() {
                    // What is left of this request's body is still on the wire: the
                    // connection cannot carry another request.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(finish(response, tls))
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout.min(limits.request_timeout))
            .serve_connection(io, service);
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(error = %e, "connection closed with an error");
        }
    }

    /// HTTP/2 (over TLS, by ALPN): streams are multiplexed, so each request's deadline runs
    /// from its head's arrival, and a connection with no stream open (no request in flight, no
    /// answer still streaming) for `header_read_timeout` is closed, as an idle HTTP/1.1
    /// keep-alive connection is (hyper's HTTP/2 has no idle timeout of its own).
    async fn http2<I>(self, io: I, watcher: Watcher)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            router,
            limits,
            peer,
            tls,
        } = self;
        let streams = Streams::default();
        let io = Watched {
            io,
            watch: Watch::Http2 {
                streams: streams.clone(),
                idle: limits.header_read_timeout,
                sleep: None,
            },
        };
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let open = streams.open();
            let deadline = Instant::now() + limits.request_timeout;
            let response =
                router
                    .clone()
                    .oneshot(prepare(request, peer, deadline, RequestStart::default()));
            async move {
                let response = finish(response.await?, tls);
                // The stream stays open until its body has been sent (or dropped).
                Ok::<_, std::convert::Infallible>(
                    response.map(|body| Body::new(Open { body, _open: open })),
                )
            }
        });
        let connection = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(connection).await {
            tracing::debug!(error = %e, "connection closed with an error");
        }
    }
}

/// The streams open on an HTTP/2 connection, and since when none has been.
#[derive(Debug, Clone, Default)]
struct Streams(Arc<Mutex<StreamCount>>);

#[derive(Debug, Default)]
struct StreamCount {
    open: usize,
    /// When the last stream closed (or the connection opened).
    idle_since: Option<Instant>,
}

impl Streams {
    fn open(&self) -> OpenStream {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).open += 1;
        OpenStream(self.clone())
    }

    /// When the connection has been idle long enough to close: `None` while a stream is open.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let mut count = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if count.open > 0 {
            return None;
        }
        Some(*count.idle_since.get_or_insert_with(Instant::now) + idle)
    }

    fn saw_bytes(&self) {
        let mut count = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if count.open == 0 {
            count.idle_since = Some(Instant::now());
        }
    }
}

/// One open stream; closing it (dropping this) may start the connection's idle time.
#[derive(Debug)]
struct OpenStream(Streams);

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut count = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        count.open = count.open.saturating_sub(1);
        if count.open == 0 {
            count.idle_since = Some(Instant::now());
        }
    }
}

/// An answer's body, holding its stream open until it is sent or dropped.
struct Open {
    body: Body,
    /// Held, never read: dropped with the body, it closes the stream.
    _open: OpenStream,
}

impl HttpBody for Open {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request as the router takes it: the peer's address, and a body held to `deadline`.
fn prepare(
    request: Request<Incoming>,
    peer: SocketAddr,
    deadline: Instant,
    connection: RequestStart,
) -> Request<Body> {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo::<SocketAddr>(peer));
    // HTTP/2 names the host in the `:authority` pseudo-header, not in `Host`: the handlers
    // (the sign-in's origin check) read `Host` whichever version carried the request.
    if !parts.headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    let body = Body::new(Deadline {
        body,
        deadline,
        sleep: None,
        connection,
    });
    Request::from_parts(parts, body)
}

/// Over TLS, every answer tells the browser to come back over TLS only.
fn finish(mut response: axum::response::Response, tls: bool) -> axum::response::Response {
    if tls {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(super::tls::HSTS),
        );
    }
    response
}

/// When the request now arriving on a connection began: the first byte read after the
/// previous answer (or after the connection opened).
#[derive(Debug, Clone, Default)]
struct RequestStart(Arc<Mutex<Start>>);

#[derive(Debug, Default)]
struct Start {
    at: Option<Instant>,
    /// Between requests: the next byte read starts one.
    between: bool,
    /// The body of the request being served missed its deadline.
    timed_out: bool,
}

impl RequestStart {
    fn saw_bytes(&self) {
        let mut start = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if start.at.is_none() || start.between {
            start.at = Some(Instant::now());
            start.between = false;
        }
    }

    /// When the request being served began (now, if its bytes came in an earlier read).
    fn began(&self) -> Instant {
        let start = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        start.at.unwrap_or_else(Instant::now)
    }

    fn time_out(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .timed_out = true;
    }

    /// The answer is ready: the next byte read begins the next request. Whether this one's
    /// body missed its deadline.
    fn arm(&self) -> bool {
        let mut start = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        start.between = true;
        start.at = None;
        std::mem::take(&mut start.timed_out)
    }
}

/// A connection's socket, watching what arrives: on HTTP/1.1 when each request's first byte
/// does; on HTTP/2 whether the connection has been idle (no stream open, no byte read) for
/// long enough to close, and then it reads as ended, so hyper closes it.
struct Watched<T> {
    io: T,
    watch: Watch,
}

enum Watch {
    Http1(RequestStart),
    Http2 {
        streams: Streams,
        idle: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    },
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = buf.filled().len() > before;
        match &mut self.watch {
            Watch::Http1(started) => {
                if read {
                    started.saw_bytes();
                }
                polled
            }
            Watch::Http2 { streams, .. } if polled.is_ready() => {
                if read {
                    streams.saw_bytes();
                }
                polled
            }
            Watch::Http2 {
                streams,
                idle,
                sleep,
            } => {
                let Some(deadline) = streams.idle_deadline(*idle) else {
                    *sleep = None;
                    return Poll::Pending;
                };
                let sleep =
                    sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    // End of stream: hyper closes the connection.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes. The timer is set
/// only if the body has to be waited for: most requests never need one.
struct Deadline {
    body: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    connection: RequestStart,
}

impl HttpBody for Deadline {
    type Data = hyper::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.connection.time_out();
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Accept errors (out of descriptors, a connection reset before it was accepted): a growing
/// pause, and a log line at most once a second.
#[derive(Debug, Default)]
struct AcceptErrors {
    backoff: Option<Duration>,
    last_logged: Option<Instant>,
    not_logged: u64,
}

impl AcceptErrors {
    fn record(&mut self, e: &std::io::Error) -> Duration {
        let backoff = self.backoff.map_or(Duration::from_millis(10), |b| {
            (b * 2).min(Duration::from_secs(1))
        });
        self.backoff = Some(backoff);
        let now = Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            tracing::warn!(error = %e, suppressed = self.not_logged, "accept failed; backing off");
            self.last_logged = Some(now);
            self.not_logged = 0;
        } else {
            self.not_logged += 1;
        }
        backoff
    }

    fn reset(&mut self) {
        self.backoff = None;
    }
}

/// Whether `error` (from reading a request body) is the body deadline.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn accept_errors_back_off_to_a_second_and_are_logged_once_a_second() {
        let mut errors = AcceptErrors::default();
        let e = std::io::Error::from_raw_os_error(24); // EMFILE
        let pauses: Vec<u128> = (0..9).map(|_| errors.record(&e).as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        // Nine errors within the same instant: one line, eight counted for the next.
        assert_eq!(errors.not_logged, 8);
        tokio::time::advance(Duration::from_secs(1)).await;
        errors.record(&e);
        assert_eq!(errors.not_logged, 0);
        errors.reset();
        assert_eq!(errors.record(&e), Duration::from_millis(10));
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_free() {
        let cap = connection_cap();
        #[cfg(target_os = "linux")]
        {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            let soft = limit.current.unwrap_or(u64::MAX);
            assert!(
                u64::try_from(cap).unwrap_or(u64::MAX) + MIN_HEADROOM <= soft,
                "{cap} of {soft}"
            );
        }
        assert!(cap >= 1);
    }
}
