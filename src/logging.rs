//! Log output: `--log.level` and `--log.format logfmt|json`, on stderr.
//!
//! logfmt lines look like Prometheus' own:
//! `ts=2026-11-29T01:02:03.456Z level=info target=errtally::daemon msg="listening" address=127.0.0.1:10404`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::{LogArgs, LogFormat, LogLevel};

/// Installs the global subscriber. Call once, from `main`.
pub fn init(args: &LogArgs) {
    let level = match args.level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // A second init (tests) is not an error worth failing for.
    let _ = match args.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// The logfmt event format.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let level = meta.level().as_str().to_ascii_lowercase();
        write!(writer, "ts={ts} level={level} target={}", meta.target())?;
        let mut visitor = LogfmtFields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writeln!(writer)
    }
}

struct LogfmtFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl LogfmtFields<'_, '_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let key = if field.name() == "message" {
            "msg"
        } else {
            field.name()
        };
        self.result = if value.is_empty() || value.contains([' ', '"', '=', '\\', '\n']) {
            write!(self.writer, " {key}={value:?}")
        } else {
            write!(self.writer, " {key}={value}")
        };
    }
}

impl Visit for LogfmtFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}
