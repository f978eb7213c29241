//! The HTTP surface: `/metrics` (the Prometheus text format, or OpenMetrics
//! 1.0 when the scrape's `Accept` asks for it), `/-/healthy`
//! (the process answers), `/-/ready` (catalogue loaded and inputs open) and
//! `/`, the status page for people (rendered by [`crate::export::status_page`]).
//!
//! Everything here reads shared state ([`Metrics`], [`DaemonStatus`]); nothing
//! here counts, tails or reloads.
//!
//! Serving them is [`server`]'s: the accept loop, TLS, basic auth and the
//! headers of the web config (`--web.config.file`) sit in front of
//! [`router`] for every connection, plain or TLS, on every path. The web
//! config comes in three layers, each importing only those below it:
//! [`web_config`] reads the file into plain settings, [`tls`] builds rustls
//! from them, and [`serving`] puts the whole together.
//!
//! `/metrics` and the status page render on the blocking pool, at most one
//! render per core at a time: at thousands of label sets a render takes
//! tens of milliseconds, and on one of the runtime's few workers it would
//! hold `/-/healthy` and every other connection behind it.
//!
//! Deliberately not here: the protobuf format, and any endpoint that
//! changes state (reloads are driven by signals). Every response carries
//! `Cache-Control: no-cache`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;

use crate::export::metrics::{Format, Metrics};
use crate::export::status::DaemonStatus;

pub(crate) mod auth;
pub(crate) mod refusals;
pub(crate) mod server;
pub(crate) mod serving;
pub(crate) mod tls;
pub(crate) mod web_config;
pub(crate) mod write_stall;

pub(crate) use server::{DEFAULT_MAX_CONNECTIONS, ServeOptions, serve};
pub use serving::WebConfig;
pub use web_config::WebConfigError;

/// What the handlers read: the metric families and the daemon's status.
pub(crate) struct HttpState {
    /// The registry `/metrics` renders and the status page sums.
    pub metrics: Metrics,
    /// Readiness, inputs and the catalogue in effect.
    pub status: Arc<DaemonStatus>,
    /// Renders (of `/metrics` and the status page) running at once, at
    /// most one per core: they run on the blocking pool, which would
    /// otherwise take a thread and a whole exposition's memory for each of
    /// a thousand clients scraping at once.
    renders: Semaphore,
}

impl HttpState {
    /// The state the handlers share.
    pub(crate) fn new(metrics: Metrics, status: Arc<DaemonStatus>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            metrics,
            status,
            renders: Semaphore::new(cores),
        }
    }

    /// Runs `render` on the blocking pool once a render slot is free, so
    /// the runtime's workers stay free for I/O (and `/-/healthy`) while
    /// tens of thousands of series are written; `None` if it panicked.
    async fn off_runtime<T: Send + 'static>(
        self: &Arc<Self>,
        render: impl FnOnce(&HttpState) -> T + Send + 'static,
    ) -> Option<T> {
        // Never closed, so acquiring only waits.
        let _slot = self.renders.acquire().await.ok()?;
        let state = Arc::clone(self);
        match tokio::task::spawn_blocking(move || render(&state)).await {
            Ok(done) => Some(done),
            Err(error) => {
                tracing::error!(%error, "rendering failed");
                None
            }
        }
    }
}

/// The routes: `/metrics`, `/-/healthy`, `/-/ready`, `/` and a plain-text
/// 404 for anything else. HEAD works wherever GET does.
pub(crate) fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .fallback(not_found)
        .layer(axum::middleware::map_response(no_cache))
        .with_state(state)
}

/// Scrapes must never be served from a cache, nor status pages.
async fn no_cache(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn metrics(State(state): State<Arc<HttpState>>, headers: header::HeaderMap) -> Response {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let format = negotiate(&accept);
    match state
        .off_runtime(move |state| state.metrics.render_as(format))
        .await
    {
        Some(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error rendering metrics\n",
        )
            .into_response(),
    }
}

/// The format an `Accept` header asks for: OpenMetrics 1.0 when it is
/// acceptable (`application/openmetrics-text`, unversioned or version
/// 1.0.0) and no acceptable text format has a higher `q`; the text format
/// otherwise (no header, `*/*`, `text/plain`, anything unknown). Among
/// equal `q`, the first listed wins, as Prometheus lists its preference
/// first.
fn negotiate(accept: &str) -> Format {
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut quality, mut version) = (1.0_f32, None);
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.parse().unwrap_or(0.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        let format = match media.as_str() {
            "application/openmetrics-text"
                if version.as_deref().is_none_or(|version| version == "1.0.0") =>
            {
                Format::OpenMetrics
            }
            "text/plain" | "text/*" | "*/*" => Format::Text,
            _ => continue,
        };
        if quality > 0.0 && best.is_none_or(|(best, _)| quality > best) {
            best = Some((quality, format));
        }
    }
    best.map_or(Format::Text, |(_, format)| format)
}

async fn healthy() -> &'static str {
    "OK\n"
}

async fn ready(State(state): State<Arc<HttpState>>) -> (StatusCode, &'static str) {
    if state.status.is_ready() {
        (StatusCode::OK, "OK\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Not ready\n")
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "Not found\n")
}

async fn status_page(State(state): State<Arc<HttpState>>) -> Response {
    let (wall, now) = (SystemTime::now(), tokio::time::Instant::now());
    let page = state.off_runtime(move |state| {
        crate::export::status_page::render(&state.metrics, &state.status, wall, now)
    });
    match page.await {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error rendering the status page\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::task::JoinHandle;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::catalog::Catalog;
    use crate::export::metrics::names;
    use crate::scan::Tally;

    /// A server on an ephemeral port, stopped through its shutdown token.
    struct TestServer {
        addr: SocketAddr,
        state: Arc<HttpState>,
        shutdown: CancellationToken,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl TestServer {
        async fn start() -> Self {
            let catalog = Arc::new(Catalog::builtin().unwrap());
            let metrics = Metrics::new().unwrap();
            metrics.set_catalog(&catalog);
            let state = Arc::new(HttpState::new(
                metrics,
                Arc::new(DaemonStatus::new(catalog)),
            ));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(serve(
                listener,
                Arc::clone(&state),
                ServeOptions::default(),
                shutdown.clone(),
            ));
            Self {
                addr,
                state,
                shutdown,
                task,
            }
        }

        async fn get(&self, path: &str) -> Fetched {
            self.request("GET", path).await
        }

        async fn request(&self, method: &'static str, path: &str) -> Fetched {
            let url = format!("http://{}{path}", self.addr);
            tokio::task::spawn_blocking(move || fetch(method, &url))
                .await
                .unwrap()
        }

        async fn stop(self) {
            self.shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("server did not shut down")
                .unwrap()
                .unwrap();
        }
    }

    struct Fetched {
        status: u16,
        content_type: String,
        cache_control: String,
        body: String,
    }

    /// A real HTTP client, blocking; run it off the runtime.
    fn fetch(method: &str, url: &str) -> Fetched {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut response = match method {
            "HEAD" => agent.head(url).call().unwrap(),
            _ => agent.get(url).call().unwrap(),
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let content_type = header("content-type");
        let cache_control = header("cache-control");
        let body = if method == "HEAD" {
            String::new()
        } else {
            response.body_mut().read_to_string().unwrap()
        };
        Fetched {
            status: response.status().as_u16(),
            content_type,
            cache_control,
            body,
        }
    }

    #[test]
    fn negotiating_picks_openmetrics_only_when_asked_and_preferred() {
        let prometheus = "application/openmetrics-text;version=1.0.0,\
                          application/openmetrics-text;version=0.0.1;q=0.75,\
                          text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, expected) in [
            (prometheus, Format::OpenMetrics),
            ("application/openmetrics-text", Format::OpenMetrics),
            (
                "Application/OpenMetrics-Text; Version=\"1.0.0\"",
                Format::OpenMetrics,
            ),
            ("", Format::Text),
            ("*/*", Format::Text),
            ("text/plain;version=0.0.4", Format::Text),
            // Only a version errtally does not write.
            ("application/openmetrics-text;version=0.0.1", Format::Text),
            // Text preferred by q, or OpenMetrics refused.
            (
                "application/openmetrics-text;q=0.5,text/plain",
                Format::Text,
            ),
            ("application/openmetrics-text;q=0,*/*", Format::Text),
            (
                "text/plain;q=0.2,application/openmetrics-text;q=0.9",
                Format::OpenMetrics,
            ),
            // Equal q: the first listed.
            ("text/plain,application/openmetrics-text", Format::Text),
            ("application/json, text/html;q=0.9", Format::Text),
            (
                "application/openmetrics-text;q=junk,text/plain;q=0.1",
                Format::Text,
            ),
        ] {
            assert_eq!(negotiate(accept), expected, "{accept:?}");
        }
    }

    #[tokio::test]
    async fn metrics_are_served_with_the_exposition_content_type() {
        let server = TestServer::start().await;
        let got = server.get("/metrics").await;
        assert_eq!(got.status, 200);
        assert_eq!(got.content_type, crate::export::metrics::content_type());
        assert_eq!(got.cache_control, "no-cache");
        assert!(got.body.contains("errtally_build_info"), "{}", got.body);
        server.stop().await;
    }

    #[tokio::test]
    async fn published_counts_show_in_metrics_and_on_the_status_page() {
        let server = TestServer::start().await;
        let catalog = server.state.status.catalog();
        let entry = catalog.entry(0).unwrap().clone();
        let mut input = server.state.metrics.input("api", &catalog);
        let mut tally = Tally::new(catalog.len());
        tally.errors[0] = 3;
        tally.lines = 10;
        input.publish(&mut tally);

        let scraped = server.get("/metrics").await;
        let series = scraped
            .body
            .lines()
            .find(|line| {
                line.starts_with(names::ERRORS)
                    && line.contains("source=\"api\"")
                    && line.contains(&format!("error_type=\"{}\"", entry.error_type))
            })
            .unwrap();
        assert!(series.ends_with(" 3"), "{series}");

        let page = server.get("/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        let row = page
            .body
            .lines()
            .find(|line| {
                line.starts_with("<tr><td><a href=")
                    && line.contains(&format!("<code>{}</code>", entry.error_type))
            })
            .unwrap();
        assert!(row.contains("<td class=\"n\">3</td>"), "{row}");
        assert!(
            row.contains(&format!("href=\"{}\"", entry.doc_url)),
            "{row}"
        );
        assert!(row.contains("<svg class=\"spark\""), "{row}");
        assert!(page.body.contains("lines read: 10"), "{}", page.body);
        assert!(!page.body.contains("no catalogued errors seen yet"));
        server.stop().await;
    }

    #[tokio::test]
    async fn status_page_says_when_nothing_was_seen() {
        let server = TestServer::start().await;
        let page = server.get("/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.cache_control, "no-cache");
        assert!(page.body.contains("<title>errtally</title>"));
        assert!(page.body.contains(env!("CARGO_PKG_VERSION")));
        assert!(page.body.contains("no catalogued errors seen yet"));
        for link in ["/metrics", "/-/healthy", "/-/ready"] {
            assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn ready_follows_the_daemon_status() {
        let server = TestServer::start().await;
        let got = server.get("/-/ready").await;
        assert_eq!((got.status, got.body.as_str()), (503, "Not ready\n"));
        server.state.status.set_ready(true);
        let got = server.get("/-/ready").await;
        assert_eq!((got.status, got.body.as_str()), (200, "OK\n"));
        server.stop().await;
    }

    #[tokio::test]
    async fn healthy_is_always_ok() {
        let server = TestServer::start().await;
        let got = server.get("/-/healthy").await;
        assert_eq!((got.status, got.body.as_str()), (200, "OK\n"));
        assert_eq!(got.cache_control, "no-cache");
        server.stop().await;
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let server = TestServer::start().await;
        let got = server.get("/nope").await;
        assert_eq!((got.status, got.body.as_str()), (404, "Not found\n"));
        assert_eq!(got.cache_control, "no-cache");
        server.stop().await;
    }

    #[tokio::test]
    async fn head_works_for_get_routes() {
        let server = TestServer::start().await;
        let got = server.request("HEAD", "/metrics").await;
        assert_eq!(got.status, 200);
        assert_eq!(got.content_type, crate::export::metrics::content_type());
        server.stop().await;
    }
}
