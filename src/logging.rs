//! Log output on stderr: a level and a format (logfmt or JSON), chosen by
//! the binary (`--log.level`, `--log.format`) and passed in as plain values.
//!
//! logfmt lines look like Prometheus' own:
//! `ts=2026-11-29T01:02:03.456Z level=info target=errtally::daemon msg="listening" address=127.0.0.1:10404`.
//!
//! The logfmt formatter is written here rather than taken from
//! `tracing-logfmt` (measured with 0.3.7): that crate names the message key
//! `message` with no way to rename it, and writes nanosecond timestamps.
//! Prometheus, Alertmanager and node_exporter write `msg=` and millisecond
//! `ts=`, so SREs' queries (`| logfmt | msg="…"`) work across them, and
//! the end-to-end tests and benches find the bound address by
//! `msg=listening`. What is written here is the event's fields, one quoting
//! rule (a value with a space, `=`, a quote, a backslash or a control
//! character is quoted and escaped, so a line is always one line), and no
//! spans (errtally logs none).

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `ts=… level=info msg="…" key=value`.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// What [`init`] sets up.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// Only events at or above this level are written.
    pub level: tracing::Level,
    /// How they are written.
    pub format: LogFormat,
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(options: LogOptions) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(options.level)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // A second init (tests) is not an error worth failing for.
    let _ = match options.format {
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
        self.result = if needs_quotes(value) {
            write!(self.writer, " {key}={value:?}")
        } else {
            write!(self.writer, " {key}={value}")
        };
    }
}

/// Whether a logfmt value must be written quoted (Rust's string escaping:
/// `\t`, `\r`, `\n`, `\"`, `\\`, `\u{1b}`). Besides what would split the
/// pair (a space, `=`, a quote), any character that escaping would change
/// counts: a control character written raw from a path or a log line would
/// break the line or drive the reader's terminal. The apostrophe is the one
/// exception, as a string's `Debug` leaves it alone.
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| matches!(c, ' ' | '=') || (c != '\'' && c.escape_debug().len() > 1))
}

impl Visit for LogfmtFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What [`Logfmt`] writes for the events `log` emits.
    fn logfmt_output(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(Logfmt)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn logfmt_names_the_message_msg_and_quotes_what_needs_it() {
        let text = logfmt_output(|| {
            tracing::warn!(
                path = "/var/log/a b.log",
                offset = 42_u64,
                empty = "",
                "file \"truncated\""
            );
        });
        let (ts, rest) = text.split_once(' ').unwrap();
        // ts=YYYY-MM-DDTHH:MM:SS.mmmZ: milliseconds, as Prometheus writes.
        assert_eq!(ts.len(), "ts=2026-11-29T01:02:03.456Z".len(), "{ts}");
        assert!(ts.starts_with("ts=") && ts.ends_with('Z'), "{ts}");
        assert_eq!(
            rest,
            "level=warn target=errtally::logging::tests msg=\"file \\\"truncated\\\"\" \
             path=\"/var/log/a b.log\" offset=42 empty=\"\"\n"
        );
    }

    #[test]
    fn logfmt_escapes_control_characters_in_every_value() {
        let path = std::path::Path::new("/var/log/a\tb\rc\nd\u{1b}[31me\"f.log");
        let text = logfmt_output(|| {
            tracing::warn!(
                path = %path.display(),
                dir = %std::path::Path::new("/srv/\u{1b}]0;x\u{7}\tlogs").display(),
                tab = "a\tb",
                cr = "a\rb",
                escape = "\u{1b}[2J",
                quoted = "say \"hi\"\n",
                "read\tfailed\r"
            );
        });
        let (_ts, line) = text.split_once(' ').unwrap();
        assert_eq!(
            line,
            "level=warn target=errtally::logging::tests msg=\"read\\tfailed\\r\" \
             path=\"/var/log/a\\tb\\rc\\nd\\u{1b}[31me\\\"f.log\" \
             dir=\"/srv/\\u{1b}]0;x\\u{7}\\tlogs\" tab=\"a\\tb\" \
             cr=\"a\\rb\" escape=\"\\u{1b}[2J\" quoted=\"say \\\"hi\\\"\\n\"\n"
        );
        // One line, whatever the values held.
        assert_eq!(line.matches(char::is_control).count(), 1, "{line}");
    }
}
