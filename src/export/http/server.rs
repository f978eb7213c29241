//! The one serving path: the accept loop, TLS, HTTP/1.1 connections, basic
//! auth and the web config's headers in front of [`router`](super::router),
//! and the reload of the web config while serving.
//!
//! Plain HTTP and TLS share everything but the handshake. Abuse limits:
//! at most `max_connections` connections at once (past that the loop stops
//! accepting, so new connections wait in the kernel's accept queue instead
//! of being refused, and responses close their connection rather than keep
//! it alive, so the queue moves), a TLS handshake and each request head
//! must arrive within [`HANDSHAKE_TIMEOUT`] and [`HEADER_READ_TIMEOUT`] (the
//! latter also closes connections idle that long, before or between
//! requests), a response's writes may make no progress for at most
//! [`WRITE_STALL_TIMEOUT`] (a client that never reads a large scrape), a
//! request head is bounded by [`MAX_BUF_BYTES`], and request bodies are
//! dropped unread. A handshake rustls refuses (a client
//! certificate it cannot verify, or none where one is required) is logged
//! at `warn` by [`RefusalLog`], a few lines a minute per reason.
//!
//! Reloads: the web config file and the certificate, key and CA files it
//! names are polled every [`RELOAD_POLL_INTERVAL`] (device, inode, size,
//! mtime and ctime of the path followed through symlinks), which sees
//! in-place rewrites, renames over the file and Kubernetes' symlink swaps
//! alike, on any filesystem. A changed file reloads the whole web config;
//! new connections get the new certificate, every request the new users and
//! headers. A bad reload keeps the running config, logs the error and sets
//! `errtally_web_config_last_reload_successful` to 0. Switching TLS on or off
//! takes a restart, since clients of the listener would all break at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::{Gauge, IntGauge};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::HttpState;
use super::refusals::RefusalLog;
use super::serving::{WatchedFile, WebConfig};
use super::web_config::WebConfigError;
use super::write_stall::{StallGuard, WRITE_STALL_TIMEOUT};
use crate::export::metrics::Metrics;

/// Default cap on connections served at once: above what one exporter
/// sees from its scrapers and people, low enough to bound memory.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Longest a client may take to send a request head (slowloris).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a client may take to finish the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest read buffer per connection, which bounds a request head.
pub(crate) const MAX_BUF_BYTES: usize = 64 << 10;

/// How often the web config and the files it names are looked at.
pub(crate) const RELOAD_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long connections get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after an accept error such as running out of descriptors, which
/// would otherwise repeat at once.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How to serve, besides the routes.
#[derive(Debug)]
pub(crate) struct ServeOptions {
    /// TLS, basic auth and headers; `None` serves plain HTTP to anyone.
    pub web_config: Option<WebConfig>,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            web_config: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves [`router`](super::router) on `listener` until `shutdown` is
/// cancelled, then stops accepting and lets requests in flight finish (for
/// at most a few seconds). Connections and the web config watcher run under
/// a child of `shutdown` and a tracker of their own, awaited here. The caller binds, so a failed bind is reported
/// where the address is known and tests can use port 0.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let web = options.web_config.map(Arc::new);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            tls = web.as_ref().is_some_and(|w| w.tls().is_some()),
            basic_auth = web.as_ref().is_some_and(|w| w.auth().is_some()),
            max_connections = options.max_connections,
            "http listening"
        );
    }
    let stop = shutdown.child_token();
    let tasks = TaskTracker::new();
    let current = Arc::new(ArcSwapOption::new(web.clone()));
    if let Some(web) = web {
        let gauges = ReloadGauges::register(&state.metrics);
        tasks.spawn(watch_web_config(
            web,
            Arc::clone(&current),
            gauges,
            stop.clone(),
        ));
    }
    let max_connections = options.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max_connections));
    let handler = Arc::new(Handler {
        router: super::router(state),
        web: Arc::clone(&current),
        open: Arc::new(AtomicUsize::new(0)),
        max_connections,
        refusals: RefusalLog::default(),
    });
    let mut shutdown = std::pin::pin!(shutdown.cancelled_owned());
    while let Some((stream, peer, permit)) = accept_next(&listener, &permits, &mut shutdown).await {
        let tls = current.load().as_ref().and_then(|web| web.tls().cloned());
        let slot = Slot::take(permit, Arc::clone(&handler.open));
        tasks.spawn(connection(
            stream,
            peer,
            tls,
            Arc::clone(&handler),
            stop.clone(),
            slot,
        ));
    }
    drop(listener);
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period are dropped");
    }
    Ok(())
}

/// The next connection with its permit, or `None` once `shutdown` has
/// resolved (or the permits are closed). A permit comes first: at the cap
/// nothing is accepted, and connections queue in the kernel until one
/// closes. A failed accept is skipped (after a pause unless it concerned
/// that connection only).
async fn accept_next<F: Future<Output = ()>>(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    loop {
        let permit = tokio::select! {
            () = &mut *shutdown => return None,
            permit = Arc::clone(permits).acquire_owned() => permit.ok()?,
        };
        tokio::select! {
            () = &mut *shutdown => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => return Some((stream, peer, permit)),
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                }
            },
        }
    }
}

/// Errors that concern one connection only, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionRefused
    )
}

/// One open connection's place under the cap, given back on drop. The
/// count is kept apart from the semaphore because the accept loop holds a
/// permit while it waits for the next connection.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Slot {
    fn take(permit: OwnedSemaphorePermit, open: Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot {
            _permit: permit,
            open,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection from accept to close; holds its slot throughout.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<Handler>,
    stop: CancellationToken,
    _slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    // Under TLS too the socket's writes are what a client that never reads
    // stalls.
    let stream = StallGuard::new(stream, WRITE_STALL_TIMEOUT);
    let Some(tls) = tls else {
        return serve_http(TokioIo::new(stream), peer, handler, stop).await;
    };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
    let stream = tokio::select! {
        () = stop.cancelled() => return,
        result = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                // rustls's own errors are refusals worth explaining; the
                // rest are clients that hung up.
                match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                    Some(refusal) => handler.refusals.refused(peer, refusal),
                    None => tracing::debug!(%peer, %error, "tls handshake failed"),
                }
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "tls handshake timed out");
                return;
            }
        },
    };
    serve_http(TokioIo::new(stream), peer, handler, stop).await;
}

async fn serve_http<I>(io: I, peer: SocketAddr, handler: Arc<Handler>, stop: CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, Infallible>(handler.respond(request, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_BYTES);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            // Idle keep-alive connections close now; a request in flight
            // gets its response first.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "http connection ended with an error");
    }
}

/// What every request goes through: auth, the routes, the extra headers.
struct Handler {
    router: Router,
    web: Arc<ArcSwapOption<WebConfig>>,
    /// Connections open now, to tell when all slots are taken.
    open: Arc<AtomicUsize>,
    max_connections: usize,
    /// Refused TLS handshakes, logged a few a minute per reason.
    refusals: RefusalLog,
}

impl Handler {
    async fn respond(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let web = self.web.load_full();
        // Bodies are never read: no route takes one, and dropping it here
        // means nothing can.
        let request = request.map(|_| Body::empty());
        let auth = web.as_ref().and_then(|web| web.auth());
        let mut response = match auth {
            Some(auth)
                if !auth
                    .is_authorized(request.headers().get(header::AUTHORIZATION), peer.ip())
                    .await =>
            {
                unauthorized()
            }
            _ => self.route(request).await,
        };
        if let Some(web) = &web {
            for (name, value) in web.headers() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        // At the cap, a connection kept alive for a next request would hold
        // its slot idle while others wait to be accepted: close it instead.
        if self.open.load(Ordering::Relaxed) >= self.max_connections {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }

    async fn route(&self, request: Request<Body>) -> Response<Body> {
        let mut router = self.router.clone();
        // A Router is always ready; asking keeps to the Service contract.
        let ready = std::future::poll_fn(|cx| {
            <Router as Service<Request<Body>>>::poll_ready(&mut router, cx)
        })
        .await;
        let routed = match ready {
            Ok(()) => router.call(request).await,
            Err(never) => match never {},
        };
        match routed {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// 401 with the challenge browsers and curl understand.
fn unauthorized() -> Response<Body> {
    let mut response = Response::new(Body::from("Unauthorized\n"));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Self-metrics of web config reloads, like the main config's.
struct ReloadGauges {
    successful: IntGauge,
    timestamp: Gauge,
}

impl ReloadGauges {
    /// Registers both gauges, set for the load at start. A registry that
    /// refuses them (a second server on one registry) only loses the
    /// metrics, never the server.
    fn register(metrics: &Metrics) -> Option<ReloadGauges> {
        let gauges = ReloadGauges {
            successful: IntGauge::new(
                "errtally_web_config_last_reload_successful",
                "Whether the last load of the web config (--web.config.file) succeeded.",
            )
            .ok()?,
            timestamp: Gauge::new(
                "errtally_web_config_last_reload_success_timestamp_seconds",
                "When the web config was last loaded successfully, in Unix seconds.",
            )
            .ok()?,
        };
        let registry = metrics.registry();
        for collector in [
            Box::new(gauges.successful.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(gauges.timestamp.clone()),
        ] {
            if let Err(error) = registry.register(collector) {
                tracing::warn!(%error, "cannot register the web config metrics");
                return None;
            }
        }
        gauges.set(true);
        Some(gauges)
    }

    fn set(&self, ok: bool) {
        self.successful.set(i64::from(ok));
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.timestamp.set(now);
        }
    }
}

/// Polls the web config's files and swaps in a new config when they change.
async fn watch_web_config(
    initial: Arc<WebConfig>,
    current: Arc<ArcSwapOption<WebConfig>>,
    gauges: Option<ReloadGauges>,
    stop: CancellationToken,
) {
    let path = initial.path().to_path_buf();
    let serving_tls = initial.tls().is_some();
    let mut watched: Vec<WatchedFile> = initial.watched().to_vec();
    drop(initial);
    let mut tick = tokio::time::interval(RELOAD_POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let files = watched.clone();
        let config_path = path.clone();
        let attempt = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .any(WatchedFile::has_changed)
                .then(|| WebConfig::load_watched(&config_path))
        })
        .await;
        let Ok(Some((result, involved))) = attempt else {
            continue;
        };
        // A failed attempt is retried when any file it involved changes
        // again, not every second.
        watched = involved;
        let result = result.and_then(|config| {
            if config.tls().is_some() == serving_tls {
                Ok(config)
            } else {
                Err(WebConfigError::TlsToggled { path: path.clone() })
            }
        });
        match result {
            Ok(mut config) => {
                let verdicts_kept = current
                    .load()
                    .as_ref()
                    .is_some_and(|previous| config.carry_over(previous));
                current.store(Some(Arc::new(config)));
                if let Some(gauges) = &gauges {
                    gauges.set(true);
                }
                tracing::info!(path = %path.display(), verdicts_kept, "web config reloaded");
            }
            Err(error) => {
                if let Some(gauges) = &gauges {
                    gauges.set(false);
                }
                tracing::error!(%error, "web config reload failed; keeping the running one");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream as StdTcpStream;

    use tokio::task::JoinHandle;

    use super::*;
    use crate::catalog::Catalog;
    use crate::export::status::DaemonStatus;

    struct Server {
        addr: SocketAddr,
        shutdown: CancellationToken,
        task: JoinHandle<std::io::Result<()>>,
        metrics: Metrics,
    }

    async fn start(options: ServeOptions) -> Server {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let state = Arc::new(HttpState::new(
            metrics.clone(),
            Arc::new(DaemonStatus::new(catalog)),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state, options, shutdown.clone()));
        Server {
            addr,
            shutdown,
            task,
            metrics,
        }
    }

    impl Server {
        async fn stop(self) {
            self.shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }
    }

    /// One raw HTTP/1.1 exchange (blocking; run off the runtime): the
    /// response's head and body as text.
    fn raw_request(addr: SocketAddr, request: &str) -> String {
        let mut stream = StdTcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    fn web_config(dir: &std::path::Path, text: &str) -> WebConfig {
        let path = dir.join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_cap_connections_wait_to_be_accepted_instead_of_being_refused() {
        let server = start(ServeOptions {
            web_config: None,
            max_connections: 1,
        })
        .await;
        let addr = server.addr;
        // An idle client holds the only slot.
        let idle = StdTcpStream::connect(addr).unwrap();
        let waiting = tokio::task::spawn_blocking(move || {
            raw_request(
                addr,
                "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        });
        // The second connection is in the accept queue, not answered.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "served past the cap");
        drop(idle);
        let response = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the queued connection was never served")
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nOK\n"), "{response}");
        server.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
        let server = start(ServeOptions::default()).await;
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // Paused time jumps to the timeout once everything is idle.
        let read = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, stream.read_to_end(&mut buf))
            .await
            .expect("the connection was kept open past the header read timeout");
        assert!(read.is_ok());
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
        server.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn connections_idle_before_or_between_requests_are_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = start(ServeOptions::default()).await;
        let mut silent = TcpStream::connect(server.addr).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(HEADER_READ_TIMEOUT * 2, silent.read_to_end(&mut buf))
            .await
            .expect("a connection that never sent a byte was kept open")
            .unwrap();

        let mut kept = TcpStream::connect(server.addr).await.unwrap();
        kept.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(HEADER_READ_TIMEOUT * 2, kept.read_to_end(&mut buf))
            .await
            .expect("an idle keep-alive connection was kept open")
            .unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_cap_responses_close_their_connection() {
        for (cap, closes) in [(1, true), (2, false)] {
            let server = start(ServeOptions {
                web_config: None,
                max_connections: cap,
            })
            .await;
            let addr = server.addr;
            let head = tokio::task::spawn_blocking(move || {
                let mut stream = StdTcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream
                    .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase()
            })
            .await
            .unwrap();
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
            assert_eq!(
                head.contains("\r\nconnection: close\r\n"),
                closes,
                "cap {cap}: {head}"
            );
            server.stop().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_bodies_are_not_read_and_routes_still_answer() {
        let server = start(ServeOptions::default()).await;
        let addr = server.addr;
        let response = tokio::task::spawn_blocking(move || {
            raw_request(
                addr,
                "GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            )
        })
        .await
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn basic_auth_guards_every_path_and_headers_go_on_every_response() {
        let dir = tempfile::tempdir().unwrap();
        // `htpasswd -nbBC 4 alice 'correct horse'`.
        let web = web_config(
            dir.path(),
            "basic_auth_users:\n  alice: $2y$04$sRiD5rft4Ve6uuYHxrrsQe44ymT0VwJZl643LO0W.aq6Ok19tbbEG\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
        );
        let server = start(ServeOptions {
            web_config: Some(web),
            max_connections: 8,
        })
        .await;
        let addr = server.addr;
        let get = move |path: &'static str, auth: Option<&'static str>| {
            tokio::task::spawn_blocking(move || {
                let auth = auth
                    .map(|a| format!("Authorization: Basic {a}\r\n"))
                    .unwrap_or_default();
                raw_request(
                    addr,
                    &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
                )
            })
        };
        for path in ["/metrics", "/-/healthy", "/", "/nope"] {
            let response = get(path, None).await.unwrap();
            assert!(
                response.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
                "{path}: {response}"
            );
            let lower = response.to_ascii_lowercase();
            assert!(
                lower.contains("\r\nwww-authenticate: basic\r\n"),
                "{response}"
            );
            assert!(
                lower.contains("\r\nx-content-type-options: nosniff\r\n"),
                "{response}"
            );
        }
        // base64("alice:correct horse") and base64("alice:wrong").
        let ok = get("/-/healthy", Some("YWxpY2U6Y29ycmVjdCBob3JzZQ=="))
            .await
            .unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.to_ascii_lowercase()
                .contains("\r\nx-content-type-options: nosniff\r\n")
        );
        let wrong = get("/-/healthy", Some("YWxpY2U6d3Jvbmc=")).await.unwrap();
        assert!(wrong.starts_with("HTTP/1.1 401 "), "{wrong}");
        let scrape = get("/metrics", Some("YWxpY2U6Y29ycmVjdCBob3JzZQ=="))
            .await
            .unwrap();
        assert!(
            scrape.contains("\nerrtally_web_config_last_reload_successful 1\n"),
            "{scrape}"
        );
        server.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_changed_web_config_is_reloaded_and_a_bad_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        let web = web_config(dir.path(), "");
        let server = start(ServeOptions {
            web_config: Some(web),
            max_connections: 8,
        })
        .await;
        let addr = server.addr;
        let healthy = move || {
            tokio::task::spawn_blocking(move || {
                raw_request(
                    addr,
                    "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
            })
        };
        let gauge = || {
            String::from_utf8(server.metrics.render())
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("errtally_web_config_last_reload_successful "))
                .map(str::to_string)
        };
        // Answered, so serving has started and registered the gauge.
        assert!(healthy().await.unwrap().starts_with("HTTP/1.1 200 "));
        assert_eq!(gauge().as_deref(), Some("1"));

        std::fs::write(
            &path,
            "basic_auth_users:\n  alice: $2y$04$sRiD5rft4Ve6uuYHxrrsQe44ymT0VwJZl643LO0W.aq6Ok19tbbEG\n",
        )
        .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !healthy().await.unwrap().starts_with("HTTP/1.1 401 ") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "new users never applied"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        std::fs::write(&path, "basic_auth_users:\n  alice: plain\n").unwrap();
        while gauge().as_deref() != Some("0") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "bad reload not reported"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The users from before the bad file still apply.
        assert!(healthy().await.unwrap().starts_with("HTTP/1.1 401 "));
        server.stop().await;
    }
}
