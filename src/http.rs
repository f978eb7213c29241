//! The HTTP surface: `/metrics` (Prometheus text exposition), `/-/healthy`
//! (the process answers), `/-/ready` (catalogue loaded and inputs open) and
//! `/`, a small self-contained status page for people.
//!
//! Everything here reads shared state ([`Metrics`], [`DaemonStatus`]); nothing
//! here counts, tails or reloads. The status page takes its counts from the
//! same registry `/metrics` exposes, so the two cannot disagree. It is plain
//! HTML with inline CSS and no scripts or external assets, and every piece of
//! text that comes from a file path, a pattern or the catalogue is escaped.
//!
//! Serving them is [`server`]'s: the accept loop, TLS, basic auth and the
//! headers of the web config ([`web_config`], `--web.config.file`) sit in
//! front of [`router`] for every connection, plain or TLS, on every path.
//!
//! Deliberately not here: the OpenMetrics or protobuf formats, and any
//! endpoint that changes state (reloads are driven by signals). Every
//! response carries `Cache-Control: no-cache`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::{Metrics, names};
use crate::status::{DaemonStatus, InputStatus};

pub mod auth;
pub mod server;
pub mod tls;
pub mod web_config;

pub use server::{DEFAULT_MAX_CONNECTIONS, ServeOptions, serve};
pub use web_config::{WebConfig, WebConfigError};

/// What the handlers read: the metric families and the daemon's status.
pub struct HttpState {
    /// The registry `/metrics` renders and the status page sums.
    pub metrics: Metrics,
    /// Readiness, inputs and the catalogue in effect.
    pub status: Arc<DaemonStatus>,
}

/// The routes: `/metrics`, `/-/healthy`, `/-/ready`, `/` and a plain-text
/// 404 for anything else. HEAD works wherever GET does.
pub fn router(state: Arc<HttpState>) -> Router {
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

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    match state.metrics.render() {
        Ok(body) => (
            [(header::CONTENT_TYPE, crate::metrics::content_type())],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error rendering metrics\n",
            )
                .into_response()
        }
    }
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
    let html = render_status_page(&state, SystemTime::now());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// Counter sums read back from the registry.
#[derive(Debug, Default)]
struct Totals {
    /// Catalogued counts by `error_type`, summed over sources and statuses.
    errors: BTreeMap<String, u64>,
    uncatalogued: u64,
    lines: u64,
}

/// Sums the counters the status page shows. Counters hold integers well
/// below 2^53, so the float round trip is exact.
fn gather_totals(metrics: &Metrics) -> Totals {
    let mut totals = Totals::default();
    for family in metrics.registry().gather() {
        let name = family.name();
        for metric in family.get_metric() {
            let value = metric.get_counter().value() as u64;
            if name == names::ERRORS {
                if value == 0 {
                    continue;
                }
                let error_type = metric
                    .get_label()
                    .iter()
                    .find(|label| label.name() == "error_type")
                    .map(|label| label.value().to_string());
                if let Some(error_type) = error_type {
                    *totals.errors.entry(error_type).or_default() += value;
                }
            } else if name == names::UNCATALOGUED {
                totals.uncatalogued += value;
            } else if name == names::LINES {
                totals.lines += value;
            }
        }
    }
    totals
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}\
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.2em 0 .4em}\
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font-size:.95em}.muted{color:#666}a{color:#1a5fb4}";

/// The whole page as one string. `now` is a parameter so uptime is testable.
fn render_status_page(state: &HttpState, now: SystemTime) -> String {
    let status = &state.status;
    let catalog = status.catalog();
    let inputs = status.inputs();
    let totals = gather_totals(&state.metrics);
    let uptime = now.duration_since(status.started()).unwrap_or_default();

    let mut page = String::with_capacity(8 << 10);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = writeln!(
        page,
        "<title>errtally</title><style>{STYLE}</style></head><body>"
    );
    page.push_str("<h1>errtally</h1>\n");
    let _ = writeln!(
        page,
        "<p>version {} · up {} · {} · <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a></p>",
        escape_html(env!("CARGO_PKG_VERSION")),
        format_uptime(uptime),
        if status.is_ready() {
            "ready"
        } else {
            "<strong>not ready</strong>"
        },
    );
    let _ = writeln!(
        page,
        "<p>Catalogue: {} error types from {}.</p>",
        catalog.len(),
        escape_html(&catalog.sources().join(", ")),
    );

    page.push_str("<h2>Inputs</h2>\n");
    if inputs.is_empty() {
        page.push_str("<p class=\"muted\">no inputs</p>\n");
    } else {
        page.push_str(
            "<table><tr><th>Input</th><th>Patterns</th><th>File</th>\
             <th>Offset</th><th>Size</th><th>Lag</th></tr>\n",
        );
        for (name, input) in &inputs {
            write_input_rows(&mut page, name, input);
        }
        page.push_str("</table>\n");
    }

    page.push_str("<h2>Catalogued errors seen</h2>\n");
    if totals.errors.is_empty() {
        page.push_str("<p class=\"muted\">no catalogued errors seen yet</p>\n");
    } else {
        let mut seen: Vec<(&String, u64)> = totals.errors.iter().map(|(t, c)| (t, *c)).collect();
        seen.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        page.push_str(
            "<table><tr><th>Error type</th><th>Status</th><th>Count</th><th>Hint</th></tr>\n",
        );
        for (error_type, count) in seen {
            let entry = catalog
                .index_of(error_type.as_bytes())
                .and_then(|index| catalog.entry(index));
            let name = match entry {
                Some(entry) if is_web_url(&entry.doc_url) => format!(
                    "<a href=\"{}\"><code>{}</code></a>",
                    escape_html(&entry.doc_url),
                    escape_html(error_type)
                ),
                _ => format!("<code>{}</code>", escape_html(error_type)),
            };
            let (status_code, hint) = match entry {
                Some(entry) => (entry.status_code.to_string(), escape_html(entry.hint())),
                None => (
                    String::new(),
                    "<span class=\"muted\">not in the current catalogue</span>".to_string(),
                ),
            };
            let _ = writeln!(
                page,
                "<tr><td>{name}</td><td class=\"n\">{status_code}</td><td class=\"n\">{count}</td><td>{hint}</td></tr>"
            );
        }
        page.push_str("</table>\n");
    }
    let _ = writeln!(
        page,
        "<p>Uncatalogued errors: {} · lines read: {}</p>",
        totals.uncatalogued, totals.lines
    );
    page.push_str("</body></html>\n");
    page
}

/// One row per open file; the input's name and patterns span them all.
fn write_input_rows(page: &mut String, name: &str, input: &InputStatus) {
    let rows = input.files.len().max(1);
    let patterns = input
        .patterns
        .iter()
        .map(|p| format!("<code>{}</code>", escape_html(p)))
        .collect::<Vec<_>>()
        .join("<br>");
    let _ = write!(
        page,
        "<tr><td rowspan=\"{rows}\">{}</td><td rowspan=\"{rows}\">{patterns}</td>",
        escape_html(name)
    );
    if input.files.is_empty() {
        let note = if input.finished {
            "finished"
        } else {
            "no open files"
        };
        let _ = writeln!(page, "<td colspan=\"4\" class=\"muted\">{note}</td></tr>");
        return;
    }
    for (i, file) in input.files.iter().enumerate() {
        if i > 0 {
            page.push_str("<tr>");
        }
        let _ = writeln!(
            page,
            "<td><code>{}</code></td><td class=\"n\" title=\"{} bytes\">{}</td>\
             <td class=\"n\" title=\"{} bytes\">{}</td><td class=\"n\" title=\"{} bytes\">{}</td></tr>",
            escape_html(&file.path.display().to_string()),
            file.offset,
            format_bytes(file.offset),
            file.size,
            format_bytes(file.size),
            file.lag(),
            format_bytes(file.lag()),
        );
    }
}

/// Only http(s) links are rendered as links; anything else (a typo, a
/// `javascript:` URL in a hand-written catalogue) stays text.
fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Binary units with one decimal, e.g. `512 B`, `1.5 KiB`, `3.2 GiB`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Whole seconds, e.g. `2h 5m 7s`.
fn format_uptime(uptime: Duration) -> String {
    humantime::format_duration(Duration::from_secs(uptime.as_secs())).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::catalog::Catalog;
    use crate::scan::Tally;
    use crate::status::FileStatus;

    /// A server on an ephemeral port, stopped through its shutdown future.
    struct TestServer {
        addr: SocketAddr,
        state: Arc<HttpState>,
        shutdown: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl TestServer {
        async fn start() -> Self {
            let catalog = Arc::new(Catalog::builtin().unwrap());
            let metrics = Metrics::new().unwrap();
            metrics.set_catalog(&catalog);
            let state = Arc::new(HttpState {
                metrics,
                status: Arc::new(DaemonStatus::new(catalog)),
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (shutdown, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(
                listener,
                Arc::clone(&state),
                ServeOptions::default(),
                async move {
                    let _ = stopped.await;
                },
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
            self.shutdown.send(()).unwrap();
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

    #[tokio::test]
    async fn metrics_are_served_with_the_exposition_content_type() {
        let server = TestServer::start().await;
        let got = server.get("/metrics").await;
        assert_eq!(got.status, 200);
        assert_eq!(got.content_type, crate::metrics::content_type());
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
            .find(|line| line.contains(&format!("<code>{}</code>", escape_html(&entry.error_type))))
            .unwrap();
        assert!(row.contains("<td class=\"n\">3</td>"), "{row}");
        assert!(row.contains(&escape_html(entry.hint())), "{row}");
        assert!(
            row.contains(&format!("href=\"{}\"", escape_html(&entry.doc_url))),
            "{row}"
        );
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
        assert_eq!(got.content_type, crate::metrics::content_type());
        server.stop().await;
    }

    #[tokio::test]
    async fn file_paths_are_escaped_on_the_status_page() {
        let server = TestServer::start().await;
        server.state.status.set_input(
            "api",
            InputStatus {
                patterns: vec!["/var/log/<script>/*.log".to_string()],
                files: vec![FileStatus {
                    path: PathBuf::from("/var/log/<script>alert(1)</script>.log"),
                    offset: 1536,
                    size: 4096,
                }],
                finished: false,
            },
        );
        let page = server.get("/").await;
        assert!(!page.body.contains("<script>"), "{}", page.body);
        assert!(
            page.body
                .contains("/var/log/&lt;script&gt;alert(1)&lt;/script&gt;.log")
        );
        assert!(page.body.contains("1.5 KiB") && page.body.contains("2.5 KiB"));
        server.stop().await;
    }

    #[test]
    fn escape_html_escapes_the_five_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain ü"), "plain ü");
    }

    #[test]
    fn format_bytes_uses_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(5 << 20), "5.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn uptime_is_whole_seconds() {
        assert_eq!(format_uptime(Duration::from_millis(7_325_900)), "2h 2m 5s");
    }
}
