//! Deterministic synthetic Stytch log corpus with a known expected tally.
//!
//! Used by tests, benches and `errtally gen` / `errtally demo`. This module
//! owns a hand-written PRNG (splitmix64, so the bytes never change with a
//! dependency's version), the record framings (plain JSON app logs, Stytch
//! error bodies flat, nested or embedded as a string, Docker json-file, CRI
//! and syslog prefixes) and [`Expected`], the tally a correct scanner must
//! report.
//!
//! Invariant: each record's [`Truth`] comes from how the record was built,
//! never from scanning its bytes, so the corpus checks the scanner instead of
//! mirroring it. Records that a small `max_line_bytes` would cut by accident
//! are replaced by a short line; deliberately over-long lines keep their error
//! object either well inside the scanned prefix or well beyond it.
//!
//! It deliberately does not scan, read files or know the catalogue's format:
//! the catalogued names are a plain slice.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

/// What to generate; the same config always gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// Seed of the PRNG.
    pub seed: u64,
    /// Records are written until at least this many bytes are out.
    pub target_bytes: u64,
    /// Lines longer than this (bytes before `\n`, `\r` included) are
    /// over-long; the scanner only looks at their first `max_line_bytes`.
    pub max_line_bytes: usize,
    /// Share of lines, in percent, that carry an `error_type` (e.g. 10).
    pub error_percent: u32,
    /// Include garbage, over-long lines, `\r\n`, near-miss keys and odd
    /// escapes; `false` gives only clean, valid, realistic JSON lines.
    pub hostile: bool,
    /// `gen --times`: write a time on every logger line, in a mix of the
    /// styles loggers use ([`RecordGenerator::with_times`]), zone-less ones
    /// in this zone (an IANA name, `UTC` or `±hh:mm`); the expected tally
    /// then has [`Expected::times`]. `None` writes today's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<String>,
    /// With `times`: about how long the corpus lasts by its clock, in
    /// seconds (lines are spread evenly over it); `None` keeps the default
    /// pace of 20 ms a line on average.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_seconds: Option<u64>,
}

/// Average bytes of a generated line, to spread a corpus over its span.
const MEAN_LINE_BYTES: u64 = 300;

/// The default clock step between lines is below this (20 ms on average).
const DEFAULT_CLOCK_STEP_MS: u64 = 40;

/// The tally a correct scanner reports for a corpus. `scan --format json`
/// writes its totals with this very struct (`report::JsonReport`), so the
/// generator's expectation and the scanner's report compare after parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// Records, including a final one without a newline.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Records longer than `max_line_bytes`.
    pub truncated_lines: u64,
    /// Catalogued error type -> count (only types seen at least once).
    pub errors: BTreeMap<String, u64>,
    /// Uncatalogued errors by status ("404", "429", "unknown", ...).
    pub uncatalogued: BTreeMap<String, u64>,
    /// Uncatalogued errors by their `error_type` name.
    pub uncatalogued_types: BTreeMap<String, u64>,
    /// With `gen --times`: the counted records by the minute of their time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<TimeTruth>,
}

/// When a `gen --times` corpus's counted records happened, known from the
/// generator's clock (never from reading the bytes back).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeTruth {
    /// Counted records whose time a reader cannot find: a time at the start
    /// of an app's line that a syslog prefix or noise pushed off the start.
    pub untimed: u64,
    /// By minute (its start, in seconds since the epoch): the counts there.
    pub minutes: BTreeMap<i64, MinuteTruth>,
}

/// The counted records of one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteTruth {
    /// Catalogued type -> count.
    pub errors: BTreeMap<String, u64>,
    /// Uncatalogued errors by status.
    pub uncatalogued: BTreeMap<String, u64>,
}

impl TimeTruth {
    /// Counts a record of `truth` whose time is `time_ms` (`None`: untimed).
    pub fn add(&mut self, truth: &Truth, catalogued: &[String], time_ms: Option<u64>) {
        if *truth == Truth::None {
            return;
        }
        let Some(ms) = time_ms else {
            self.untimed += 1;
            return;
        };
        let minute = (ms / 60_000 * 60) as i64;
        let counts = self.minutes.entry(minute).or_default();
        match truth {
            Truth::None => {}
            Truth::Catalogued(index) => {
                if let Some(name) = catalogued.get(*index) {
                    bump(&mut counts.errors, name);
                }
            }
            Truth::Uncatalogued { status, .. } => match status {
                Some(code) => bump(&mut counts.uncatalogued, &code.to_string()),
                None => bump(&mut counts.uncatalogued, "unknown"),
            },
        }
    }
}

/// What one generated record carries, known from construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// No error_type the scanner should count.
    None,
    /// A catalogued type: index into the `catalogued` slice.
    Catalogued(usize),
    /// An error type outside the catalogue, with the status the scanner
    /// should attribute (`None` -> "unknown").
    Uncatalogued {
        /// The decoded `error_type` value.
        name: String,
        /// First valid `status_code` at the error's quoting level.
        status: Option<u16>,
    },
}

impl Expected {
    /// Counts one record occupying `line_len_with_ending` bytes in the output
    /// (its line ending included, if it has one).
    pub fn add(
        &mut self,
        truth: &Truth,
        catalogued: &[String],
        line_len_with_ending: usize,
        truncated: bool,
    ) {
        self.lines += 1;
        self.bytes += line_len_with_ending as u64;
        if truncated {
            self.truncated_lines += 1;
        }
        match truth {
            Truth::None => {}
            Truth::Catalogued(index) => {
                if let Some(name) = catalogued.get(*index) {
                    bump(&mut self.errors, name);
                }
            }
            Truth::Uncatalogued { name, status } => {
                match status {
                    Some(code) => bump(&mut self.uncatalogued, &code.to_string()),
                    None => bump(&mut self.uncatalogued, "unknown"),
                }
                bump(&mut self.uncatalogued_types, name);
            }
        }
    }
}

/// Increments a count without allocating once the key exists.
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(count) = map.get_mut(key) {
        *count += 1;
    } else {
        map.insert(key.to_owned(), 1);
    }
}

/// Writes records until `cfg.target_bytes` (the record that reaches it is the
/// last); when hostile, the last record is written without its line ending
/// (a record at EOF still counts), else the output ends with `\n`. Returns
/// the expected tally.
pub fn generate<W: Write>(
    cfg: &CorpusConfig,
    catalogued: &[String],
    out: W,
) -> io::Result<Expected> {
    generate_framed(cfg, None, catalogued, out)
}

/// How a container runtime splits long lines into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitFraming {
    /// Docker's json-file driver: `{"log":"<part>","stream":…,"time":…}`, only
    /// the last part's value ending in `\n`.
    Docker,
    /// CRI (containerd, CRI-O): `<time> <stream> P <part>`, then `F` for the last.
    Cri,
}

/// Like [`generate`]; with `split`, every record is an app line framed by
/// that runtime, and about half of them are split into 2 to 4 parts, cut
/// anywhere, often inside the `error_type` key or its value. `lines` in the
/// tally counts physical lines (each part is one).
pub fn generate_framed<W: Write>(
    cfg: &CorpusConfig,
    split: Option<SplitFraming>,
    catalogued: &[String],
    mut out: W,
) -> io::Result<Expected> {
    const FLUSH_AT: usize = 1 << 20;
    let mut generator = RecordGenerator::new(
        cfg.seed,
        catalogued.to_vec(),
        cfg.max_line_bytes,
        cfg.error_percent,
        cfg.hostile,
    );
    generator.app_lines_only = split.is_some();
    let mut expected = Expected::default();
    if let Some(zone) = &cfg.times {
        let zone = crate::time::Zone::named(zone)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        generator = generator.with_times(zone.to_jiff());
        if let Some(span) = cfg.span_seconds {
            let lines = (cfg.target_bytes / MEAN_LINE_BYTES).max(1);
            generator.clock_step_ms = (2 * span * 1000 / lines).max(1);
        }
        expected.times = Some(TimeTruth::default());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_AT + (FLUSH_AT >> 2));
    let mut written: u64 = 0;
    while written < cfg.target_bytes {
        let start = buf.len();
        let (truth, mut truncated, parts) = match split {
            None => {
                let (truth, truncated) = generator.next_record(&mut buf);
                (truth, truncated, 1)
            }
            Some(framing) => {
                let (truth, parts) = generator.next_split_record(framing, &mut buf);
                (truth, false, parts)
            }
        };
        let mut len = buf.len() - start;
        if cfg.hostile && written + len as u64 >= cfg.target_bytes {
            // The last record: drop its line ending, so it ends at EOF.
            buf.pop();
            if buf.len() > start && buf.last() == Some(&b'\r') {
                buf.pop();
            }
            len = buf.len() - start;
            if len == 0 {
                // An empty record at EOF is no record at all; try another.
                continue;
            }
            truncated = split.is_none() && len > cfg.max_line_bytes;
        }
        expected.add(&truth, catalogued, len, truncated);
        if let Some(times) = &mut expected.times {
            times.add(&truth, catalogued, generator.last_time_ms());
        }
        expected.lines += parts - 1;
        written += len as u64;
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(expected)
}

/// splitmix64: tiny, fast, and fixed forever (no crate version can change it).
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length `len`.
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick_bytes(&mut self, items: &[&'static [u8]]) -> &'static [u8] {
        items[self.index(items.len())]
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
}

/// An error type that Stytch-ish clients may log but that is not one of the
/// catalogued 404s (entries that are catalogued are filtered out).
#[derive(Debug)]
struct Uncatalogued {
    name: &'static str,
    status: u16,
    message: &'static str,
}

const UNCATALOGUED: &[Uncatalogued] = &[
    uncatalogued("invalid_token", 401, "The token provided is invalid."),
    uncatalogued(
        "rate_limit_exceeded",
        429,
        "Too many requests have been made.",
    ),
    uncatalogued("unauthorized_credentials", 401, "Unauthorized credentials."),
    uncatalogued(
        "internal_server_error",
        500,
        "Oops, something seems to have gone wrong.",
    ),
    uncatalogued(
        "organization_not_found_v2",
        404,
        "Organization could not be found.",
    ),
    uncatalogued(
        "too_many_requests",
        429,
        "Too many requests, please slow down.",
    ),
    uncatalogued(
        "invalid_organization_id",
        400,
        "organization_id format is invalid.",
    ),
    uncatalogued("session_expired", 401, "The session has expired."),
    uncatalogued("invalid_email", 400, "Email format is invalid."),
    uncatalogued(
        "duplicate_email",
        400,
        "A member with that email already exists.",
    ),
    uncatalogued(
        "action_not_allowed",
        403,
        "The member is not allowed to perform this action.",
    ),
    uncatalogued(
        "service_unavailable",
        503,
        "The service is temporarily unavailable.",
    ),
    uncatalogued(
        "oauth_state_mismatch",
        400,
        "The OAuth state does not match.",
    ),
    uncatalogued("member_not_found_legacy", 404, "Member could not be found."),
    uncatalogued("Email_Not_Found", 404, "Email could not be found."),
    uncatalogued("invalid_method_id", 400, "method_id format is invalid."),
];

const fn uncatalogued(name: &'static str, status: u16, message: &'static str) -> Uncatalogued {
    Uncatalogued {
        name,
        status,
        message,
    }
}

const COMMON_STATUSES: &[u16] = &[400, 401, 403, 404, 429, 500];
const OUT_OF_RANGE_STATUSES: &[u16] = &[99, 600, 0, 1000];

const PATHS: &[&[u8]] = &[
    b"/v1/b2b/organizations",
    b"/v1/b2b/organizations/search",
    b"/v1/b2b/organizations/members/search",
    b"/v1/b2b/magic_links/authenticate",
    b"/v1/b2b/magic_links/email/login_or_signup",
    b"/v1/b2b/otps/email/authenticate",
    b"/v1/b2b/oauth/authenticate",
    b"/v1/b2b/sessions/authenticate",
    b"/v1/b2b/sessions/exchange",
    b"/v1/b2b/sso/authenticate",
    b"/v1/b2b/scim",
    b"/v1/b2b/rbac/policy",
    b"/v1/b2b/discovery/organizations",
    b"/v1/b2b/passwords/authenticate",
    b"/v1/b2b/totp/authenticate",
    b"/v1/b2b/recovery_codes/recover",
];
const METHODS: &[&[u8]] = &[b"GET", b"GET", b"POST", b"POST", b"POST", b"PUT", b"DELETE"];
const INFO_MESSAGES: &[&[u8]] = &[
    b"request handled",
    b"request handled",
    b"request handled",
    b"session authenticated",
    b"member login",
    b"cache refresh",
    b"stytch request ok",
];
const ERROR_MESSAGES: &[&[u8]] = &[
    b"stytch request failed",
    b"stytch api error",
    b"authentication failed",
    b"upstream returned an error",
];
const MISC_MESSAGES: &[&[u8]] = &[
    b"worker started",
    b"flushing metrics",
    b"jwks refreshed",
    b"health check ok",
    b"config reloaded",
];
const HOSTS: &[&[u8]] = &[b"web-1", b"web-2", b"auth-api-7f9c", b"ip-10-0-3-17"];
const APPS: &[&[u8]] = &[b"auth-api", b"gateway", b"worker"];
/// Valid UTF-8, some of it non-ASCII: clean lines need not be ASCII.
const ORG_NAMES: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Zürich Labs",
    "Ōkami 株式会社",
];
const MONTHS: &[&[u8]] = &[
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
/// `"error_type"` then one of these: white space around the colon.
const COLON_SPACINGS: &[&[u8]] = &[b" : ", b" :", b": ", b"  :  "];
const SYSLOG_PRIORITIES: &[&[u8]] = &[b"14", b"11", b"12", b"134"];
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Fields that mention `error_type` (or end in `status_code`) without being
/// such a key: none of them may count.
const NEAR_MISS_FIELDS: &[&[u8]] = &[
    b"\"my_error_type\":\"email_not_found\"",
    b"\"error_type_detail\":\"member_not_found\"",
    b"\"ERROR_TYPE\":\"email_not_found\"",
    b"\"error-type\":\"session_not_found\"",
    b"\"errors\":[{\"field\":\"error_type\",\"code\":\"missing\"}]",
    b"\"msg2\":\"missing error_type in response\"",
    b"\"note\":\"error_type: unknown\"",
    b"\"hint\":\"field \\\"error_type\\\" is missing\"",
    b"\"k\":\"error_type\" , \"v\":1",
    b"\"upstream_status_code\":503",
];
/// Values of an `error_type` key that are not strings: the key is skipped.
const NON_STRING_VALUES: &[&[u8]] = &[
    b"null",
    b"404",
    b"true",
    b"[\"email_not_found\"]",
    b"{\"code\":404}",
];
/// Whole short lines without an error.
const SHORT_LINES: &[&[u8]] = &[
    b"",
    b"",
    b"{}",
    b"-",
    b"ok",
    b"}",
    b"\"error_type\"",
    b"{\"error_type\":",
    b"{\"error_type\" : ",
    b"{\"error_type\":\"",
    b"error_type: email_not_found",
    b"[]",
];

/// 2026-11-29T01:02:03Z in milliseconds since the Unix epoch.
const BASE_TIME_MS: u64 = 1_795_914_123_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    Bare,
    Cri,
    Syslog,
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Error body fields flattened into the app's line.
    Flat,
    /// Error body as a nested object of the app's line.
    Nested,
    /// Error body logged as a JSON string (one quoting level deeper).
    Embedded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusWrite {
    Int(u16),
    Str(u16),
    Null,
}

impl StatusWrite {
    /// The status the scanner should take from this value, if any.
    fn truth(self) -> Option<u16> {
        match self {
            StatusWrite::Int(v) | StatusWrite::Str(v) if (100..=599).contains(&v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Cat(usize),
    Uncat(usize),
}

/// Builds one record at a time; reuses its buffers, so generation is
/// allocation-free apart from uncatalogued truths.
#[derive(Debug)]
pub struct RecordGenerator {
    rng: SplitMix64,
    catalogued: Vec<String>,
    /// JSON-escaped catalogued names (no quotes).
    cat_values: Vec<Vec<u8>>,
    /// JSON-escaped error messages, one per catalogued name.
    cat_messages: Vec<Vec<u8>>,
    /// Cumulative Zipf-like weights by rank.
    cat_cumulative: Vec<u64>,
    /// Rank -> catalogued index (a seeded permutation).
    cat_by_rank: Vec<usize>,
    uncat: Vec<&'static Uncatalogued>,
    max_line_bytes: usize,
    error_percent: u64,
    hostile: bool,
    overlong_one_in: u64,
    /// The clock advances by less than this at each record.
    clock_step_ms: u64,
    clock_ms: u64,
    line: Vec<u8>,
    body: Vec<u8>,
    value: Vec<u8>,
    padding: Vec<u8>,
    /// Write only unwrapped app lines and no over-long ones: the caller
    /// frames them ([`RecordGenerator::next_split_record`]).
    app_lines_only: bool,
    /// The app line of a split record.
    app_line: Vec<u8>,
    /// `gen --times`: the zone zone-less times are written in.
    times: Option<jiff::tz::TimeZone>,
    /// The last header's time was written at the start of the app's line
    /// (Go's `log`, Ruby Logger, logback, loguru).
    header_leads: bool,
    /// The last record's app line does not start its record (a syslog
    /// prefix or noise before it), so a time at its start is no time.
    line_pushed_off: bool,
    /// With times: the time of the last record, if a reader can find it.
    last_time_ms: Option<u64>,
}

impl RecordGenerator {
    /// A generator over `catalogued` names; `error_percent` is clamped to 100.
    pub fn new(
        seed: u64,
        catalogued: Vec<String>,
        max_line_bytes: usize,
        error_percent: u32,
        hostile: bool,
    ) -> Self {
        let mut rng = SplitMix64::new(seed);
        let cat_values = catalogued
            .iter()
            .map(|name| {
                let mut v = Vec::with_capacity(name.len());
                push_escaped(&mut v, name.as_bytes());
                v
            })
            .collect();
        let cat_messages = catalogued.iter().map(|name| message_for(name)).collect();
        let mut cat_by_rank: Vec<usize> = (0..catalogued.len()).collect();
        for i in (1..cat_by_rank.len()).rev() {
            let j = rng.index(i + 1);
            cat_by_rank.swap(i, j);
        }
        let mut total = 0u64;
        let cat_cumulative = (0..catalogued.len())
            .map(|rank| {
                total += (1_000_000.0 / ((rank + 1) as f64).powf(1.3)) as u64 + 1;
                total
            })
            .collect();
        let uncat = UNCATALOGUED
            .iter()
            .filter(|u| !catalogued.iter().any(|c| c == u.name))
            .collect();
        let padding = (0..4096).map(|_| BASE64[rng.index(64)]).collect();
        Self {
            rng,
            catalogued,
            cat_values,
            cat_messages,
            cat_cumulative,
            cat_by_rank,
            uncat,
            max_line_bytes,
            error_percent: u64::from(error_percent.min(100)),
            hostile,
            // 1 in 2000 lines, rarer for a large max so that over-long lines stay a
            // small share (~5%) of the bytes.
            overlong_one_in: (max_line_bytes as u64 / 8).max(2000),
            clock_ms: BASE_TIME_MS,
            line: Vec::with_capacity(4096),
            body: Vec::with_capacity(1024),
            value: Vec::with_capacity(64),
            padding,
            app_lines_only: false,
            app_line: Vec::with_capacity(4096),
            times: None,
            clock_step_ms: DEFAULT_CLOCK_STEP_MS,
            header_leads: false,
            line_pushed_off: false,
            last_time_ms: None,
        }
    }

    /// The same generator writing a time on every logger line, in one of
    /// 16 styles: ISO 8601 in UTC with `Z` (several keys and precisions),
    /// with an offset (`±hh:mm`, `±hhmm`), zone-less local time in `zone`
    /// (python-json-logger's `asctime`, and at the line's start Go's `log`,
    /// Ruby Logger, logback and loguru), and epoch numbers in seconds,
    /// milliseconds, microseconds and nanoseconds. A local time that
    /// happens twice (a fold) would read back as the earlier instant, so
    /// there an offset style is written instead.
    pub fn with_times(self, zone: jiff::tz::TimeZone) -> Self {
        Self {
            times: Some(zone),
            ..self
        }
    }

    /// With times, the time of the last record (milliseconds since the
    /// epoch) when a reader can find it.
    pub fn last_time_ms(&self) -> Option<u64> {
        self.last_time_ms
    }

    /// The catalogued names that [`Truth::Catalogued`] indexes.
    pub fn catalogued(&self) -> &[String] {
        &self.catalogued
    }

    /// Appends one record INCLUDING its line ending (`\n` or `\r\n`) to
    /// `out`; returns its truth and whether it is over-long.
    pub fn next_record(&mut self, out: &mut Vec<u8>) -> (Truth, bool) {
        let start = out.len();
        self.clock_ms += self.rng.below(self.clock_step_ms);
        self.header_leads = false;
        self.line_pushed_off = false;
        let crlf = self.hostile && self.rng.percent(4);
        let overlong =
            self.hostile && !self.app_lines_only && self.rng.below(self.overlong_one_in) == 0;
        let mut truth = if overlong {
            self.write_overlong(out)
        } else if self.rng.percent(self.error_percent) {
            self.write_error_record(out)
        } else {
            self.write_quiet_record(out)
        };
        if crlf {
            out.push(b'\r');
        }
        out.push(b'\n');
        let mut content_len = out.len() - start - 1;
        if !overlong && content_len > self.max_line_bytes {
            // This max cannot hold an ordinary record whole: a cut line
            // would have an ambiguous truth, so write a short one instead.
            out.truncate(start);
            let short: &[u8] = if self.max_line_bytes >= 16 {
                b"{\"level\":\"info\"}"
            } else {
                b""
            };
            out.extend_from_slice(short);
            out.push(b'\n');
            truth = Truth::None;
            content_len = short.len();
        }
        self.last_time_ms = (self.times.is_some() && !(self.header_leads && self.line_pushed_off))
            .then_some(self.clock_ms);
        (truth, content_len > self.max_line_bytes)
    }

    /// Appends one app line framed by `framing`, split into parts or not,
    /// each part's line ending included; returns its truth and how many
    /// physical lines it took. The joined record never exceeds
    /// `max_line_bytes` (a record that would is replaced by a short one).
    pub fn next_split_record(&mut self, framing: SplitFraming, out: &mut Vec<u8>) -> (Truth, u64) {
        let mut app = std::mem::take(&mut self.app_line);
        app.clear();
        let (mut truth, _) = self.next_record(&mut app);
        app.pop();
        let crlf = app.last() == Some(&b'\r');
        if crlf {
            app.pop();
        }
        let stream: &[u8] = if self.rng.percent(90) {
            b"stdout"
        } else {
            b"stderr"
        };
        let mut cuts = self.pick_cuts(&app);
        let joined_len = match framing {
            SplitFraming::Docker => {
                let mut escaped = Vec::new();
                push_escaped(&mut escaped, &app);
                b"{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-29T01:02:03.123456789Z\"}".len()
                    + escaped.len()
            }
            SplitFraming::Cri => b"2026-11-29T01:02:03.123456789Z stdout P ".len() + app.len(),
        };
        if joined_len > self.max_line_bytes {
            app.clear();
            if self.max_line_bytes >= 120 {
                app.extend_from_slice(b"{\"level\":\"info\"}");
            }
            truth = Truth::None;
            cuts.clear();
        }
        let nanos = self.rng.below(1_000_000) as u32;
        self.push_parts(out, framing, stream, &app, &cuts, crlf, nanos);
        self.app_line = app;
        // The runtime's time, the first part's, is the record's.
        self.last_time_ms = self.times.is_some().then_some(self.clock_ms);
        (truth, cuts.len() as u64 + 1)
    }

    /// Where a split record's application line is cut: nowhere for half
    /// of them, else at 1 to 3 random places and often inside `error_type`
    /// or its value, so that keys straddle the split.
    fn pick_cuts(&mut self, app: &[u8]) -> Vec<usize> {
        let mut cuts = Vec::new();
        if self.rng.percent(50) {
            for _ in 0..1 + self.rng.below(3) {
                cuts.push(self.rng.index(app.len() + 1));
            }
            if let Some(key) = memchr::memmem::find(app, b"error_type")
                && self.rng.percent(60)
            {
                // Inside the key, its quotes or the value.
                cuts.push((key + self.rng.index(24)).min(app.len()));
            }
            cuts.sort_unstable();
        }
        cuts
    }

    /// Writes `app` cut at `cuts` as the parts `framing` writes, the last
    /// one marked final.
    #[allow(clippy::too_many_arguments)]
    fn push_parts(
        &self,
        out: &mut Vec<u8>,
        framing: SplitFraming,
        stream: &[u8],
        app: &[u8],
        cuts: &[usize],
        crlf: bool,
        nanos: u32,
    ) {
        let mut from = 0;
        for (i, &to) in cuts.iter().chain([&app.len()]).enumerate() {
            let last = i == cuts.len();
            let part = &app[from..to];
            match framing {
                SplitFraming::Docker => {
                    out.extend_from_slice(b"{\"log\":\"");
                    push_escaped(out, part);
                    if last {
                        out.extend_from_slice(b"\\n");
                    }
                    out.extend_from_slice(b"\",\"stream\":\"");
                    out.extend_from_slice(stream);
                    out.extend_from_slice(b"\",\"time\":\"");
                    push_iso_time(out, self.clock_ms, Some(nanos));
                    out.extend_from_slice(b"\"}");
                }
                SplitFraming::Cri => {
                    push_iso_time(out, self.clock_ms, Some(nanos));
                    out.push(b' ');
                    out.extend_from_slice(stream);
                    out.extend_from_slice(if last { b" F " } else { b" P " });
                    out.extend_from_slice(part);
                }
            }
            if crlf {
                out.push(b'\r');
            }
            out.push(b'\n');
            from = to;
        }
    }

    fn pick_error(&mut self) -> Option<Pick> {
        let uncat_share = if self.cat_values.is_empty() { 100 } else { 25 };
        if !self.uncat.is_empty() && self.rng.percent(uncat_share) {
            return Some(Pick::Uncat(self.rng.index(self.uncat.len())));
        }
        let total = self.cat_cumulative.last().copied()?;
        let r = self.rng.below(total);
        let rank = self.cat_cumulative.partition_point(|&c| c <= r);
        self.cat_by_rank.get(rank).map(|&i| Pick::Cat(i))
    }

    /// Fills `self.value` with the pick's value as written at level 0
    /// (JSON-escaped; when hostile sometimes with needless `\uXXXX` escapes).
    fn fill_value(&mut self, pick: Pick) {
        self.value.clear();
        let name: &[u8] = match pick {
            Pick::Cat(i) => &self.cat_values[i],
            Pick::Uncat(i) => self.uncat[i].name.as_bytes(),
        };
        let plain = name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if self.hostile && plain && !name.is_empty() && self.rng.percent(8) {
            let at = match self.rng.below(3) {
                0 => 0,
                _ => name.iter().position(|&b| b == b'_').unwrap_or(0),
            };
            self.value.extend_from_slice(&name[..at]);
            self.value.extend_from_slice(b"\\u00");
            let hex = if self.rng.percent(50) {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            self.value.push(hex[usize::from(name[at] >> 4)]);
            self.value.push(hex[usize::from(name[at] & 15)]);
            self.value.extend_from_slice(&name[at + 1..]);
        } else {
            self.value.extend_from_slice(name);
        }
    }

    fn truth_of(&self, pick: Pick, status: Option<u16>) -> Truth {
        match pick {
            Pick::Cat(i) => Truth::Catalogued(i),
            Pick::Uncat(i) => Truth::Uncatalogued {
                name: self.uncat[i].name.to_owned(),
                status,
            },
        }
    }

    /// Where the status goes: `(in the error body, at the app's level)`.
    fn plan_status(
        &mut self,
        pick: Pick,
        form: Form,
    ) -> (Option<StatusWrite>, Option<StatusWrite>) {
        match pick {
            Pick::Cat(_) => {
                let body = match self.rng.below(100) {
                    0..=84 => Some(StatusWrite::Int(404)),
                    85..=94 => None,
                    _ => Some(StatusWrite::Str(404)),
                };
                let app = match form {
                    Form::Embedded if self.rng.percent(30) => Some(StatusWrite::Int(404)),
                    Form::Nested if body.is_none() && self.rng.percent(50) => {
                        Some(StatusWrite::Int(404))
                    }
                    _ => None,
                };
                (body, app)
            }
            Pick::Uncat(i) => {
                let status = if self.rng.percent(70) {
                    self.uncat[i].status
                } else {
                    *self.rng.pick(COMMON_STATUSES)
                };
                match self.rng.below(100) {
                    0..=49 if form == Form::Nested && self.rng.percent(25) => {
                        (None, Some(StatusWrite::Int(status)))
                    }
                    0..=49 => (Some(StatusWrite::Int(status)), None),
                    50..=59 => (Some(StatusWrite::Str(status)), None),
                    60..=69 => (None, None),
                    70..=77 => (
                        Some(StatusWrite::Int(*self.rng.pick(OUT_OF_RANGE_STATUSES))),
                        None,
                    ),
                    // Only at a different quoting level: does not count.
                    78..=89 if form == Form::Embedded => (None, Some(StatusWrite::Int(status))),
                    78..=89 => (None, None),
                    // The app's status at level 0, Stytch's inside the body.
                    90..=95 if form == Form::Embedded => {
                        (Some(StatusWrite::Int(status)), Some(StatusWrite::Int(502)))
                    }
                    96..=99 if self.hostile => (Some(StatusWrite::Null), None),
                    _ => (Some(StatusWrite::Int(status)), None),
                }
            }
        }
    }

    fn pick_wrapper(&mut self) -> Wrapper {
        if self.app_lines_only {
            return Wrapper::Bare;
        }
        match self.rng.below(100) {
            0..=39 => Wrapper::Bare,
            40..=59 => Wrapper::Cri,
            60..=74 => Wrapper::Syslog,
            _ => Wrapper::Docker,
        }
    }

    /// `{"ts":...,"level":...,"msg":"..."` in one of three logger styles.
    fn push_header(&mut self, line: &mut Vec<u8>, level: &[u8], msg: &[u8]) {
        if self.times.is_some() {
            self.push_timed_header(line, level, msg);
            return;
        }
        match self.rng.below(10) {
            0..=5 => {
                line.extend_from_slice(b"{\"ts\":\"");
                push_iso_time(line, self.clock_ms, None);
                line.extend_from_slice(b"\",\"level\":\"");
                line.extend_from_slice(level);
                line.extend_from_slice(b"\",\"msg\":\"");
                line.extend_from_slice(msg);
                line.push(b'"');
            }
            6..=7 => {
                // zap
                line.extend_from_slice(b"{\"level\":\"");
                line.extend_from_slice(level);
                line.extend_from_slice(b"\",\"ts\":");
                push_u64(line, self.clock_ms / 1000);
                line.push(b'.');
                push_padded(line, self.clock_ms % 1000, 3);
                line.extend_from_slice(b",\"caller\":\"stytchx/client.go:");
                push_u64(line, 40 + self.rng.below(200));
                line.extend_from_slice(b"\",\"msg\":\"");
                line.extend_from_slice(msg);
                line.push(b'"');
            }
            _ => {
                // pino
                let numeric: &[u8] = match level {
                    b"error" => b"50",
                    b"warn" => b"40",
                    b"debug" => b"20",
                    _ => b"30",
                };
                line.extend_from_slice(b"{\"level\":");
                line.extend_from_slice(numeric);
                line.extend_from_slice(b",\"time\":");
                push_u64(line, self.clock_ms);
                line.extend_from_slice(b",\"pid\":");
                push_u64(line, 1000 + self.rng.below(9000));
                line.extend_from_slice(b",\"hostname\":\"");
                line.extend_from_slice(self.rng.pick_bytes(HOSTS));
                line.extend_from_slice(b"\",\"msg\":\"");
                line.extend_from_slice(msg);
                line.push(b'"');
            }
        }
    }

    /// With times: `{"level":…,"msg":…` with the time in one of the
    /// styles of [`RecordGenerator::with_times`], as a key or before the
    /// JSON.
    fn push_timed_header(&mut self, line: &mut Vec<u8>, level: &[u8], msg: &[u8]) {
        let ms = self.clock_ms;
        let micros = ms * 1000 + self.rng.below(1000);
        let (offset, in_fold) = self.zone_at(ms);
        let local = (ms / 1000) as i64 + i64::from(offset);
        let utc = (ms / 1000) as i64;
        let fraction = |digits: u32| match digits {
            3 => ms % 1000,
            _ => micros % 1_000_000,
        };
        let mut style = self.rng.below(16);
        if in_fold && matches!(style, 8 | 12..=15) {
            style = 7;
        }
        self.header_leads = style >= 12;
        let upper_level = match level {
            b"error" => "ERROR",
            b"warn" => "WARN",
            b"debug" => "DEBUG",
            _ => "INFO",
        };
        match style {
            12 => {
                push_civil(line, local, b'/', b' ');
                line.push(b' ');
            }
            13 => {
                line.extend_from_slice(&upper_level.as_bytes()[..1]);
                line.extend_from_slice(b", [");
                push_civil(line, local, b'-', b'T');
                push_fraction(line, b'.', fraction(6), 6);
                line.extend_from_slice(b" #");
                push_u64(line, 1000 + self.rng.below(9000));
                line.extend_from_slice(b"] ");
                line.extend_from_slice(upper_level.as_bytes());
                line.extend_from_slice(b" -- : ");
            }
            14 => {
                push_civil(line, local, b'-', b' ');
                push_fraction(line, b'.', fraction(3), 3);
                line.extend_from_slice(b" [main] ");
                line.extend_from_slice(upper_level.as_bytes());
                line.extend_from_slice(b" c.e.StytchClient - ");
            }
            15 => {
                push_civil(line, local, b'-', b' ');
                push_fraction(line, b'.', fraction(3), 3);
                line.extend_from_slice(b" | ");
                line.extend_from_slice(upper_level.as_bytes());
                line.extend_from_slice(b" | app:call:42 - ");
            }
            _ => {}
        }
        line.push(b'{');
        match style {
            0 | 3 | 4 | 11 => {
                let (key, digits): (&[u8], u32) = match style {
                    0 => (b"ts", 3),
                    3 => (b"timestamp", 6),
                    4 => (b"@timestamp", 3),
                    _ => (b"date", 3),
                };
                line.push(b'"');
                line.extend_from_slice(key);
                line.extend_from_slice(b"\":\"");
                push_civil(line, utc, b'-', b'T');
                push_fraction(line, b'.', fraction(digits), digits);
                line.extend_from_slice(if style == 11 { b"+00:00\"," } else { b"Z\"," });
            }
            1 => {
                line.extend_from_slice(b"\"ts\":");
                push_u64(line, ms / 1000);
                push_fraction(line, b'.', ms % 1000, 3);
                line.push(b',');
            }
            2 => {
                line.extend_from_slice(b"\"time\":");
                push_u64(line, ms);
                line.push(b',');
            }
            5..=7 => {
                let (key, between, digits, colon): (&[u8], u8, u32, bool) = match style {
                    5 => (b"time", b'T', 0, true),
                    6 => (b"datetime", b' ', 6, false),
                    _ => (b"time", b'T', 3, true),
                };
                line.push(b'"');
                line.extend_from_slice(key);
                line.extend_from_slice(b"\":\"");
                push_civil(line, local, b'-', between);
                if digits > 0 {
                    push_fraction(line, b'.', fraction(digits), digits);
                }
                push_offset(line, offset, colon);
                line.extend_from_slice(b"\",");
            }
            8 => {
                line.extend_from_slice(b"\"asctime\": \"");
                push_civil(line, local, b'-', b' ');
                push_fraction(line, b',', fraction(3), 3);
                line.extend_from_slice(b"\",");
            }
            9 => {
                line.extend_from_slice(b"\"ts\":");
                push_u64(line, micros);
                line.push(b',');
            }
            10 => {
                line.extend_from_slice(b"\"logtime\":");
                push_u64(line, micros * 1000);
                line.push(b',');
            }
            _ => {}
        }
        line.extend_from_slice(b"\"level\":\"");
        line.extend_from_slice(level);
        line.extend_from_slice(b"\",\"msg\":\"");
        line.extend_from_slice(msg);
        line.push(b'"');
    }

    /// The times zone's offset at `ms`, and whether the civil time there
    /// happens twice.
    fn zone_at(&self, ms: u64) -> (i32, bool) {
        let Some(zone) = &self.times else {
            return (0, false);
        };
        let Ok(instant) = jiff::Timestamp::from_millisecond(ms as i64) else {
            return (0, false);
        };
        let offset = zone.to_offset(instant);
        let civil = instant.to_zoned(zone.clone()).datetime();
        let in_fold = matches!(
            zone.to_ambiguous_timestamp(civil).offset(),
            jiff::tz::AmbiguousOffset::Fold { .. }
        );
        (offset.seconds(), in_fold)
    }

    fn push_request_id(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(b"request-id-live-");
        push_uuid(buf, self.rng.next_u64(), self.rng.next_u64());
    }

    /// The Stytch error body's fields (no braces), at level 0 of `buf`.
    fn push_error_fields(&mut self, buf: &mut Vec<u8>, pick: Pick, status: Option<StatusWrite>) {
        let shuffled = self.rng.percent(30);
        if !shuffled {
            push_status_field(buf, status, true);
            buf.extend_from_slice(b"\"request_id\":\"");
            self.push_request_id(buf);
            buf.extend_from_slice(b"\",");
        }
        buf.push(b'"');
        buf.extend_from_slice(b"error_type");
        buf.push(b'"');
        if self.rng.percent(8) {
            let spaces = self.rng.pick_bytes(COLON_SPACINGS);
            buf.extend_from_slice(spaces);
        } else {
            buf.push(b':');
        }
        buf.push(b'"');
        buf.extend_from_slice(&self.value);
        buf.extend_from_slice(b"\",\"error_message\":\"");
        match pick {
            Pick::Cat(i) => buf.extend_from_slice(&self.cat_messages[i]),
            Pick::Uncat(i) => buf.extend_from_slice(self.uncat[i].message.as_bytes()),
        }
        buf.extend_from_slice(b"\",\"error_url\":\"https://stytch.com/docs/b2b/api/errors/");
        match pick {
            Pick::Cat(i) => {
                buf.extend_from_slice(b"404#");
                buf.extend_from_slice(&self.cat_values[i]);
            }
            Pick::Uncat(i) => {
                push_u64(buf, u64::from(self.uncat[i].status));
                buf.push(b'#');
                buf.extend_from_slice(self.uncat[i].name.as_bytes());
            }
        }
        buf.push(b'"');
        if shuffled {
            buf.extend_from_slice(b",\"request_id\":\"");
            self.push_request_id(buf);
            buf.push(b'"');
            push_status_field(buf, status, false);
        }
    }

    /// A line whose error is counted (or, rarely, a fallback quiet line when
    /// there is nothing to pick from).
    fn write_error_record(&mut self, out: &mut Vec<u8>) -> Truth {
        let Some(pick) = self.pick_error() else {
            return self.write_quiet_record(out);
        };
        self.fill_value(pick);
        let wrapper = self.pick_wrapper();
        let form = match self.rng.below(100) {
            0..=44 => Form::Flat,
            45..=64 => Form::Nested,
            _ => Form::Embedded,
        };
        let (body_status, app_status) = self.plan_status(pick, form);
        let status = match form {
            Form::Embedded => body_status.and_then(StatusWrite::truth),
            // At most one of the two is written at this level.
            Form::Flat | Form::Nested => body_status.or(app_status).and_then(StatusWrite::truth),
        };
        let truth = self.truth_of(pick, status);

        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let level: &[u8] = if self.rng.percent(60) {
            b"warn"
        } else {
            b"error"
        };
        let msg = self.rng.pick_bytes(ERROR_MESSAGES);
        self.push_header(&mut line, level, msg);
        if self.hostile {
            self.push_lure(&mut line);
        }
        line.extend_from_slice(b",\"method\":\"");
        line.extend_from_slice(self.rng.pick_bytes(METHODS));
        line.extend_from_slice(b"\",\"path\":\"");
        line.extend_from_slice(self.rng.pick_bytes(PATHS));
        line.push(b'"');
        if let Some(s) = app_status {
            line.push(b',');
            push_status_field(&mut line, Some(s), true);
            line.pop();
        }
        self.push_error_in_form(&mut line, form, pick, body_status);
        line.extend_from_slice(b",\"latency_ms\":");
        push_u64(&mut line, 20 + self.rng.below(400));
        line.push(b'}');

        self.line_pushed_off = wrapper == Wrapper::Syslog;
        if self.hostile && wrapper == Wrapper::Bare && self.rng.percent(3) {
            // Binary noise before the JSON, free of quotes and backslashes
            // so it cannot change the quoting level of what follows.
            let len = 1 + self.rng.index(40);
            self.push_garbage(out, len, true);
            out.push(b' ');
            self.line_pushed_off = true;
        }
        self.wrap(out, wrapper, &line);
        self.line = line;
        truth
    }

    /// Hostile corpora only: something before the error a scanner must
    /// pass over (a non-string `error_type`, a key that only looks like it,
    /// invalid UTF-8), or nothing.
    fn push_lure(&mut self, line: &mut Vec<u8>) {
        match self.rng.below(100) {
            // A non-string error_type key first: skipped.
            0..=4 => {
                line.extend_from_slice(b",\"error_type\":");
                line.extend_from_slice(self.rng.pick_bytes(NON_STRING_VALUES));
            }
            // Keys that only look like it.
            5..=9 => {
                line.push(b',');
                line.extend_from_slice(self.rng.pick_bytes(NEAR_MISS_FIELDS));
            }
            // Invalid UTF-8 inside a string before the error.
            10..=12 => line.extend_from_slice(b",\"user\":\"j\xf8rn \xff\xfe\xc3(\""),
            _ => {}
        }
    }

    /// The error's fields where `form` puts them: at the top level, in an
    /// `error` object, or escaped inside a `body` string.
    fn push_error_in_form(
        &mut self,
        line: &mut Vec<u8>,
        form: Form,
        pick: Pick,
        body_status: Option<StatusWrite>,
    ) {
        match form {
            Form::Flat => {
                line.push(b',');
                self.push_error_fields(line, pick, body_status);
            }
            Form::Nested => {
                line.extend_from_slice(b",\"error\":{");
                self.push_error_fields(line, pick, body_status);
                line.push(b'}');
            }
            Form::Embedded => {
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                body.push(b'{');
                self.push_error_fields(&mut body, pick, body_status);
                body.push(b'}');
                line.extend_from_slice(b",\"body\":\"");
                push_escaped(line, &body);
                line.push(b'"');
                self.body = body;
            }
        }
    }

    /// A line without an error: ordinary app logs, or hostile noise.
    fn write_quiet_record(&mut self, out: &mut Vec<u8>) -> Truth {
        if self.hostile && self.rng.percent(12) {
            self.write_hostile_quiet(out);
            return Truth::None;
        }
        let wrapper = self.pick_wrapper();
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match self.rng.below(100) {
            0..=69 => {
                let msg = self.rng.pick_bytes(INFO_MESSAGES);
                self.push_header(&mut line, b"info", msg);
                line.extend_from_slice(b",\"method\":\"");
                line.extend_from_slice(self.rng.pick_bytes(METHODS));
                line.extend_from_slice(b"\",\"path\":\"");
                line.extend_from_slice(self.rng.pick_bytes(PATHS));
                line.extend_from_slice(b"\",\"status_code\":");
                line.extend_from_slice(if self.rng.percent(90) { b"200" } else { b"201" });
                line.extend_from_slice(b",\"latency_ms\":");
                push_u64(&mut line, 5 + self.rng.below(300));
                line.extend_from_slice(b",\"request_id\":\"");
                self.push_request_id(&mut line);
                line.extend_from_slice(b"\"}");
            }
            70..=84 => {
                // A successful Stytch response logged as a string.
                self.push_header(&mut line, b"debug", b"stytch response");
                let mut body = std::mem::take(&mut self.body);
                body.clear();
                body.extend_from_slice(b"{\"status_code\":200,\"request_id\":\"");
                self.push_request_id(&mut body);
                body.extend_from_slice(
                    b"\",\"organization\":{\"organization_id\":\"organization-live-",
                );
                push_uuid(&mut body, self.rng.next_u64(), self.rng.next_u64());
                body.extend_from_slice(b"\",\"organization_name\":\"");
                body.extend_from_slice(self.rng.pick(ORG_NAMES).as_bytes());
                body.extend_from_slice(b"\"}}");
                line.extend_from_slice(b",\"body\":\"");
                push_escaped(&mut line, &body);
                line.extend_from_slice(b"\"}");
                self.body = body;
            }
            _ => {
                let msg = self.rng.pick_bytes(MISC_MESSAGES);
                self.push_header(&mut line, b"info", msg);
                line.extend_from_slice(b",\"app\":\"");
                line.extend_from_slice(self.rng.pick_bytes(APPS));
                line.extend_from_slice(b"\",\"version\":\"1.");
                push_u64(&mut line, self.rng.below(30));
                line.extend_from_slice(b".0\"}");
            }
        }
        self.wrap(out, wrapper, &line);
        self.line = line;
        Truth::None
    }

    /// Hostile lines that must not count as errors. One arm per kind of
    /// line, read as a table, so it stays one function.
    fn write_hostile_quiet(&mut self, out: &mut Vec<u8>) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let mut wrapper = Wrapper::Bare;
        match self.rng.below(100) {
            0..=19 => {
                self.push_header(&mut line, b"warn", b"stytch response without error");
                for _ in 0..1 + self.rng.below(3) {
                    line.push(b',');
                    line.extend_from_slice(self.rng.pick_bytes(NEAR_MISS_FIELDS));
                }
                line.push(b'}');
                wrapper = self.pick_wrapper();
            }
            20..=31 => {
                self.push_header(&mut line, b"warn", b"stytch request failed");
                line.extend_from_slice(b",\"error_type\":");
                line.extend_from_slice(self.rng.pick_bytes(NON_STRING_VALUES));
                line.extend_from_slice(b",\"status_code\":404}");
                wrapper = self.pick_wrapper();
            }
            32..=43 => {
                // The value never closes before the end of the line.
                self.push_header(&mut line, b"warn", b"stytch request failed");
                line.extend_from_slice(b",\"status_code\":404,\"error_type\":\"");
                let name: &[u8] = match self.cat_values.len() {
                    0 => b"email_not_found",
                    n => &self.cat_values[self.rng.index(n)],
                };
                let cut = 1 + self.rng.index(name.len().max(1));
                line.extend_from_slice(&name[..cut.min(name.len())]);
                if self.rng.percent(40) {
                    // Docker cut mid-line: unterminated at level 1.
                    out.extend_from_slice(b"{\"log\":\"");
                    push_escaped(out, &line);
                    self.line = line;
                    return;
                }
            }
            44..=59 => {
                let len = self.rng.index(300);
                self.push_garbage(&mut line, len, false);
            }
            60..=67 => {
                // NUL-padded junk, as left behind by a crash mid-write.
                let len = 1 + self.rng.index(200);
                line.resize(len, 0);
                line.extend_from_slice(b"{\"level\":\"info\"}");
            }
            68..=73 => {
                // UTF-16LE JSON: no byte sequence is a key.
                for &b in b"{\"error_type\":\"email_not_found\",\"status_code\":404}" {
                    line.push(b);
                    line.push(0);
                }
            }
            74..=83 => {
                self.push_header(&mut line, b"info", b"login \xc3\x28 \xe2\x82 \xff");
                line.extend_from_slice(b",\"note\":\"\xed\xa0\x80 \xf0\x9f\x98\"}");
            }
            _ => line.extend_from_slice(self.rng.pick_bytes(SHORT_LINES)),
        }
        self.wrap(out, wrapper, &line);
        self.line = line;
    }

    /// A line longer than `max_line_bytes` (max+1 ..= 3*max bytes): the error
    /// object sits well inside the scanned prefix, well beyond it, or nowhere.
    fn write_overlong(&mut self, out: &mut Vec<u8>) -> Truth {
        const MARGIN: usize = 64;
        let max = self.max_line_bytes;
        let start = out.len();
        let total = max + 1 + self.rng.index(2 * max.max(1));
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        self.push_header(&mut line, b"error", b"stytch request failed");
        let header_len = line.len();
        let mut truth = Truth::None;
        let kind = self.rng.below(100);
        let pick = if kind < 80 { self.pick_error() } else { None };
        if let Some(pick) = pick {
            self.fill_value(pick);
            let (body_status, _) = self.plan_status(pick, Form::Flat);
            if kind < 40 {
                line.push(b',');
                self.push_error_fields(&mut line, pick, body_status);
                if line.len() + MARGIN <= max {
                    truth = self.truth_of(pick, body_status.and_then(StatusWrite::truth));
                } else {
                    line.truncate(header_len);
                }
                line.extend_from_slice(b",\"payload\":\"");
                let pad = total.saturating_sub(line.len() + 2);
                self.push_padding(&mut line, pad);
                line.extend_from_slice(b"\"}");
            } else {
                line.extend_from_slice(b",\"payload\":\"");
                let pad = total
                    .saturating_sub(512)
                    .max(max + MARGIN)
                    .saturating_sub(line.len());
                self.push_padding(&mut line, pad);
                line.extend_from_slice(b"\",");
                self.push_error_fields(&mut line, pick, body_status);
                line.push(b'}');
            }
        } else {
            line.extend_from_slice(b",\"payload\":\"");
            let pad = total.saturating_sub(line.len() + 2);
            self.push_padding(&mut line, pad);
            line.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(&line);
        debug_assert!(out.len() - start > max);
        self.line = line;
        truth
    }

    fn push_padding(&self, buf: &mut Vec<u8>, mut n: usize) {
        while n > 0 {
            let take = n.min(self.padding.len());
            buf.extend_from_slice(&self.padding[..take]);
            n -= take;
        }
    }

    /// Random bytes, never `\n`; `safe` also avoids `"` and `\`.
    fn push_garbage(&mut self, buf: &mut Vec<u8>, len: usize, safe: bool) {
        let mut left = len;
        while left > 0 {
            let word = self.rng.next_u64().to_le_bytes();
            for &b in word.iter().take(left) {
                let b = match b {
                    b'\n' => 0,
                    b'"' | b'\\' if safe => 0xff,
                    _ => b,
                };
                buf.push(b);
            }
            left = left.saturating_sub(8);
        }
    }

    /// Frames the app's `line` for output (its line ending excepted).
    fn wrap(&mut self, out: &mut Vec<u8>, wrapper: Wrapper, line: &[u8]) {
        match wrapper {
            Wrapper::Bare => out.extend_from_slice(line),
            Wrapper::Cri => {
                let nanos = self.rng.below(1_000_000) as u32;
                push_iso_time(out, self.clock_ms, Some(nanos));
                out.extend_from_slice(if self.rng.percent(90) {
                    b" stdout F "
                } else {
                    b" stderr F "
                });
                out.extend_from_slice(line);
            }
            Wrapper::Syslog => {
                out.push(b'<');
                let priority = self.rng.pick_bytes(SYSLOG_PRIORITIES);
                out.extend_from_slice(priority);
                out.push(b'>');
                push_syslog_time(out, self.clock_ms);
                out.push(b' ');
                out.extend_from_slice(self.rng.pick_bytes(HOSTS));
                out.push(b' ');
                out.extend_from_slice(self.rng.pick_bytes(APPS));
                out.push(b'[');
                push_u64(out, 100 + self.rng.below(30_000));
                out.extend_from_slice(b"]: ");
                out.extend_from_slice(line);
            }
            Wrapper::Docker => {
                out.extend_from_slice(b"{\"log\":\"");
                push_escaped(out, line);
                out.extend_from_slice(if self.rng.percent(90) {
                    b"\\n\",\"stream\":\"stdout\",\"time\":\""
                } else {
                    b"\\n\",\"stream\":\"stderr\",\"time\":\""
                });
                let nanos = self.rng.below(1_000_000) as u32;
                push_iso_time(out, self.clock_ms, Some(nanos));
                out.extend_from_slice(b"\"}");
            }
        }
    }
}

/// `"status_code":<v>` followed (`trailing_comma`) or preceded by a comma.
fn push_status_field(buf: &mut Vec<u8>, status: Option<StatusWrite>, trailing_comma: bool) {
    let Some(status) = status else { return };
    if !trailing_comma {
        buf.push(b',');
    }
    buf.extend_from_slice(b"\"status_code\":");
    match status {
        StatusWrite::Int(v) => push_u64(buf, u64::from(v)),
        StatusWrite::Str(v) => {
            buf.push(b'"');
            push_padded(buf, u64::from(v), 3);
            buf.push(b'"');
        }
        StatusWrite::Null => buf.extend_from_slice(b"null"),
    }
    if trailing_comma {
        buf.push(b',');
    }
}

/// "Email could not be found." from `email_not_found` (else the name as a
/// sentence), JSON-escaped.
fn message_for(name: &str) -> Vec<u8> {
    let subject = name.strip_suffix("_not_found").unwrap_or(name);
    let mut text: String = subject.replace('_', " ");
    if let Some(first) = text.get(..1) {
        let upper = first.to_ascii_uppercase();
        text.replace_range(..1, &upper);
    }
    text.push_str(if name.ends_with("_not_found") {
        " could not be found."
    } else {
        "."
    });
    let mut out = Vec::with_capacity(text.len());
    push_escaped(&mut out, text.as_bytes());
    out
}

/// Escape class per byte: 0 none, b'u' as `\u00XX`, else the letter after `\`.
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `src` as JSON string content (one quoting level deeper); bytes
/// >= 0x80 pass through unchanged, valid UTF-8 or not.
fn push_escaped(out: &mut Vec<u8>, src: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, &b) in src.iter().enumerate() {
        let class = ESCAPES[usize::from(b)];
        if class == 0 {
            continue;
        }
        out.extend_from_slice(&src[run..i]);
        out.push(b'\\');
        if class == b'u' {
            out.extend_from_slice(b"u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.push(class);
        }
        run = i + 1;
    }
    out.extend_from_slice(&src[run..]);
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `v` in exactly `width` digits (`width` <= 20).
fn push_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let width = width.min(20);
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// 8-4-4-4-12 lowercase hex.
fn push_uuid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = (u128::from(hi) << 64) | u128::from(lo);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        out.push(HEX[((bytes >> (124 - 4 * i)) & 15) as usize]);
    }
}

/// (year, month 1..=12, day 1..=31) from days since 1970-01-01 (Hinnant).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-29T01:02:03.123Z`, or with nine fraction digits when `extra_nanos`
/// (the sub-millisecond part) is given.
fn push_iso_time(out: &mut Vec<u8>, ms: u64, extra_nanos: Option<u32>) {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    push_padded(out, year, 4);
    out.push(b'-');
    push_padded(out, month, 2);
    out.push(b'-');
    push_padded(out, day, 2);
    out.push(b'T');
    push_padded(out, sod / 3600, 2);
    out.push(b':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(b':');
    push_padded(out, sod % 60, 2);
    out.push(b'.');
    push_padded(out, ms % 1000, 3);
    if let Some(nanos) = extra_nanos {
        push_padded(out, u64::from(nanos % 1_000_000), 6);
    }
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` (with `date_separator` and `between`) of the
/// civil second `seconds` (counted as if UTC).
fn push_civil(out: &mut Vec<u8>, seconds: i64, date_separator: u8, between: u8) {
    let seconds = seconds.max(0) as u64;
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    push_padded(out, year, 4);
    out.push(date_separator);
    push_padded(out, month, 2);
    out.push(date_separator);
    push_padded(out, day, 2);
    out.push(between);
    push_padded(out, second_of_day / 3600, 2);
    out.push(b':');
    push_padded(out, second_of_day / 60 % 60, 2);
    out.push(b':');
    push_padded(out, second_of_day % 60, 2);
}

/// `separator` then `value` in `digits` digits.
fn push_fraction(out: &mut Vec<u8>, separator: u8, value: u64, digits: u32) {
    out.push(separator);
    push_padded(out, value, digits as usize);
}

/// `±hh:mm` (or `±hhmm` without `colon`).
fn push_offset(out: &mut Vec<u8>, offset: i32, colon: bool) {
    out.push(if offset < 0 { b'-' } else { b'+' });
    let minutes = u64::from(offset.unsigned_abs() / 60);
    push_padded(out, minutes / 60, 2);
    if colon {
        out.push(b':');
    }
    push_padded(out, minutes % 60, 2);
}

/// `Nov 29 01:02:03` (RFC 3164: day padded with a space).
fn push_syslog_time(out: &mut Vec<u8>, ms: u64) {
    let secs = ms / 1000;
    let (_, month, day) = civil_from_days(secs / 86_400);
    let sod = secs % 86_400;
    out.extend_from_slice(MONTHS[(month as usize + 11) % 12]);
    out.push(b' ');
    if day < 10 {
        out.push(b' ');
    }
    push_u64(out, day);
    out.push(b' ');
    push_padded(out, sod / 3600, 2);
    out.push(b':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(b':');
    push_padded(out, sod % 60, 2);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use memchr::memmem;
    use serde_json::Value;

    /// The Stytch B2B 404 catalogue (test copy).
    const NAMES: &str = "billing_info_not_found captcha_provider_not_found cname_record_not_found \
        default_provider_not_allowed email_not_found email_settings_not_found \
        email_template_not_found idp_access_token_could_not_be_exchanged \
        idp_access_token_not_found idp_auth_code_not_found idp_client_not_found \
        idp_refresh_token_not_found insufficient_factors_for_session_exchange \
        intermediate_session_not_found magic_link_not_found \
        member_does_not_exist_in_organization member_not_found \
        member_oauth_token_not_found member_oidc_token_not_found \
        member_phone_number_not_found no_captcha_provider_configured \
        oauth_config_not_found oauth_token_not_found oauth_user_registration_not_found \
        oidc_connection_not_found organization_not_found organization_user_not_found \
        otp_code_not_found password_not_found phone_number_not_found project_not_found \
        project_user_not_found public_token_not_found recovery_codes_already_exist \
        recovery_codes_not_found redirect_url_not_found route_not_found \
        route_not_supported_in_test saml_connection_not_found secret_not_found \
        session_not_found sso_connection_not_found sso_token_not_found totp_not_found \
        totps_not_found_for_user webauthn_registration_not_found";

    fn catalog() -> Vec<String> {
        NAMES.split_whitespace().map(str::to_owned).collect()
    }

    fn config(seed: u64, target_bytes: u64, hostile: bool) -> CorpusConfig {
        CorpusConfig {
            seed,
            target_bytes,
            max_line_bytes: 4096,
            error_percent: 10,
            hostile,
            times: None,
            span_seconds: None,
        }
    }

    fn corpus(cfg: &CorpusConfig) -> (Vec<u8>, Expected) {
        let mut out = Vec::new();
        let expected = generate(cfg, &catalog(), &mut out).unwrap();
        (out, expected)
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        memmem::find_iter(hay, needle).count()
    }

    /// Splits into records: `\n`-terminated lines plus a final unterminated one.
    fn records(bytes: &[u8]) -> Vec<&[u8]> {
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// `n` records from a fresh generator, each with its truth.
    fn sample(seed: u64, n: usize, hostile: bool, max: usize) -> Vec<(Vec<u8>, Truth, bool)> {
        let mut generator = RecordGenerator::new(seed, catalog(), max, 10, hostile);
        (0..n)
            .map(|_| {
                let mut out = Vec::new();
                let (truth, over) = generator.next_record(&mut out);
                (out, truth, over)
            })
            .collect()
    }

    #[test]
    fn same_seed_gives_same_bytes_and_tally() {
        for hostile in [false, true] {
            let cfg = config(7, 300_000, hostile);
            assert_eq!(corpus(&cfg), corpus(&cfg));
        }
    }

    #[test]
    fn different_seeds_give_different_bytes() {
        let (a, _) = corpus(&config(1, 100_000, true));
        let (b, _) = corpus(&config(2, 100_000, true));
        assert_ne!(a, b);
    }

    #[test]
    fn bytes_and_lines_match_the_output() {
        for hostile in [false, true] {
            for seed in 0..4 {
                let (out, expected) = corpus(&config(seed, 200_000, hostile));
                assert_eq!(expected.bytes, out.len() as u64);
                assert!(expected.bytes >= 200_000);
                let unterminated = u64::from(out.last() != Some(&b'\n'));
                assert_eq!(
                    unterminated,
                    u64::from(hostile),
                    "only hostile corpora end mid-line"
                );
                assert_eq!(expected.lines, count(&out, b"\n") as u64 + unterminated);
                assert_eq!(expected.lines, records(&out).len() as u64);
            }
        }
    }

    #[test]
    fn zero_target_writes_nothing() {
        let (out, expected) = corpus(&config(3, 0, true));
        assert!(out.is_empty());
        assert_eq!(expected, Expected::default());
    }

    #[test]
    fn every_framing_and_level_appears() {
        let (out, expected) = corpus(&config(11, 1_500_000, true));
        let must_appear: &[&[u8]] = &[
            b"{\"ts\":\"2026-11-29T",
            b"\"caller\":\"stytchx/",
            b"\"hostname\":\"",
            b" stdout F {",
            b"]: {",
            b"<14>Nov 29 ",
            b"{\"log\":\"{\\\"",
            b"\"error_type\":\"",
            b"\"error\":{\"",
            b"\\\"error_type\\\":\\\"",
            b"\\\\\\\"error_type\\\\\\\":\\\\\\\"",
            b"\"error_type\" : \"",
            b"\\u005f",
            b"\"status_code\":\"",
            b"\"my_error_type\"",
            b"\"error_type_detail\"",
            b"\"field\":\"error_type\"",
            b"\"error_type\":null",
            b"\"error_type\":404",
            b"\r\n",
            b"\0",
            b"\xff",
            b"\n\n",
        ];
        for needle in must_appear {
            assert!(
                count(&out, needle) >= 3,
                "{:?} appears {} times",
                String::from_utf8_lossy(needle),
                count(&out, needle)
            );
        }
        assert!(expected.errors.len() >= 20, "{:?}", expected.errors);
        for status in ["404", "429", "401", "unknown"] {
            assert!(
                expected.uncatalogued.contains_key(status),
                "{:?}",
                expected.uncatalogued
            );
        }
        // Skewed: the most frequent type is far ahead of the median one.
        let mut counts: Vec<u64> = expected.errors.values().copied().collect();
        counts.sort_unstable();
        assert!(
            counts[counts.len() - 1] > 5 * counts[counts.len() / 2],
            "{counts:?}"
        );
    }

    #[test]
    fn clean_corpus_has_no_hostile_bytes() {
        let (out, expected) = corpus(&config(5, 500_000, false));
        assert!(std::str::from_utf8(&out).is_ok());
        assert_eq!(count(&out, b"\r"), 0);
        assert_eq!(count(&out, b"\"error_type\":null"), 0);
        assert_eq!(count(&out, b"\\u00"), 0);
        assert_eq!(expected.truncated_lines, 0);
    }

    #[test]
    fn overlong_lines_are_counted() {
        let mut cfg = config(9, 24_000_000, true);
        cfg.max_line_bytes = 2048;
        let (out, expected) = corpus(&cfg);
        let long = records(&out)
            .iter()
            .filter(|l| l.len() > cfg.max_line_bytes)
            .count() as u64;
        assert!(long >= 3, "only {long} over-long lines");
        assert_eq!(expected.truncated_lines, long);
        assert!(
            records(&out)
                .iter()
                .all(|l| l.len() <= 3 * cfg.max_line_bytes + 512)
        );
    }

    #[test]
    fn overlong_records_keep_their_error_clear_of_the_cut() {
        let max = 1024;
        let mut generator = RecordGenerator::new(4, catalog(), max, 10, true);
        let (mut within, mut beyond) = (0, 0);
        let mut out = Vec::new();
        for _ in 0..200 {
            out.clear();
            let truth = generator.write_overlong(&mut out);
            assert!(out.len() > max);
            let key = memmem::find(&out, b"\"error_type\"");
            match (truth, key) {
                (Truth::None, Some(at)) => {
                    assert!(at >= max + 64, "error at {at} is within the scanned prefix");
                    beyond += 1;
                }
                (Truth::None, None) => {}
                (_, Some(_)) => {
                    let end = memmem::find(&out, b"\"error_url\"").unwrap();
                    let close = end + memchr::memchr(b'"', &out[end + 13..]).unwrap() + 13;
                    let tail = memmem::find(&out, b"\"payload\"").unwrap();
                    assert!(
                        close < max - 32 && tail < max,
                        "error object ends at {close}"
                    );
                    within += 1;
                }
                (truth, None) => panic!("{truth:?} without a key"),
            }
        }
        assert!(
            within > 20 && beyond > 20,
            "{within} within, {beyond} beyond"
        );
    }

    #[test]
    fn small_max_never_cuts_ordinary_records() {
        for (line, _, over) in sample(2, 5000, false, 300) {
            assert!(!over);
            assert!(line.len() <= 301);
        }
    }

    #[test]
    fn uncatalogued_names_are_never_catalogued() {
        let names = catalog();
        let (_, expected) = corpus(&config(13, 1_000_000, true));
        assert!(expected.uncatalogued_types.len() >= 10);
        for name in expected.uncatalogued_types.keys() {
            assert!(!names.contains(name), "{name}");
        }
        let total: u64 = expected.uncatalogued.values().sum();
        assert_eq!(total, expected.uncatalogued_types.values().sum::<u64>());
    }

    #[test]
    fn empty_catalogue_gives_only_uncatalogued_errors() {
        let mut out = Vec::new();
        let expected = generate(&config(3, 200_000, true), &[], &mut out).unwrap();
        assert!(expected.errors.is_empty());
        assert!(!expected.uncatalogued_types.is_empty());
    }

    #[test]
    fn error_share_follows_error_percent() {
        let records = sample(21, 20_000, false, 4096);
        let errors = records.iter().filter(|(_, t, _)| *t != Truth::None).count();
        assert!((1_600..=2_400).contains(&errors), "{errors} of 20000");
    }

    /// Every string-valued `error_type` and every `status_code`, with its
    /// quoting level, found by walking parsed JSON (and JSON inside strings).
    #[derive(Default)]
    struct Walk {
        error_types: Vec<(usize, String)>,
        statuses: Vec<(usize, Value)>,
    }

    fn walk(value: &Value, level: usize, found: &mut Walk) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if let (true, Value::String(s)) = (key == "error_type", v) {
                        found.error_types.push((level, s.clone()));
                    }
                    if key == "status_code" {
                        found.statuses.push((level, v.clone()));
                    }
                    walk(v, level, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, level, found)),
            Value::String(s) if s.trim_start().starts_with('{') => {
                let inner: Value = serde_json::from_str(s).expect("embedded JSON parses");
                walk(&inner, level + 1, found);
            }
            _ => {}
        }
    }

    fn status_of(value: &Value) -> Option<u16> {
        let v = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()?
            }
            _ => return None,
        };
        u16::try_from(v).ok().filter(|v| (100..=599).contains(v))
    }

    #[test]
    fn clean_records_parse_and_their_truth_matches_a_json_walk() {
        let names = catalog();
        let mut seen = [0usize; 3];
        for (record, truth, over) in sample(17, 20_000, false, 64 * 1024) {
            assert!(!over);
            let line = record.strip_suffix(b"\n").expect("newline");
            let json = &line[memchr::memchr(b'{', line).expect("a JSON object")..];
            let value: Value = serde_json::from_slice(json).expect("clean record is JSON");
            let mut found = Walk::default();
            walk(&value, 0, &mut found);
            match truth {
                Truth::None => assert!(
                    found.error_types.is_empty(),
                    "{found_len}",
                    found_len = found.error_types.len()
                ),
                Truth::Catalogued(i) => {
                    assert_eq!(found.error_types.len(), 1);
                    assert_eq!(found.error_types[0].1, names[i]);
                    seen[found.error_types[0].0] += 1;
                }
                Truth::Uncatalogued { name, status } => {
                    assert_eq!(found.error_types.len(), 1);
                    let (level, ref found_name) = found.error_types[0];
                    assert_eq!(*found_name, name);
                    assert!(!names.contains(&name));
                    let at_level: Vec<&Value> = found
                        .statuses
                        .iter()
                        .filter(|(l, _)| *l == level)
                        .map(|(_, v)| v)
                        .collect();
                    assert!(at_level.len() <= 1, "{}", String::from_utf8_lossy(line));
                    assert_eq!(at_level.first().and_then(|v| status_of(v)), status);
                    seen[level] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n >= 50), "errors per level: {seen:?}");
    }

    #[test]
    fn expected_serialises_in_report_shape() {
        let mut expected = Expected::default();
        let names = catalog();
        expected.add(&Truth::Catalogued(4), &names, 10, false);
        expected.add(
            &Truth::Uncatalogued {
                name: "invalid_token".into(),
                status: Some(401),
            },
            &names,
            5,
            true,
        );
        expected.add(
            &Truth::Uncatalogued {
                name: "invalid_token".into(),
                status: None,
            },
            &names,
            5,
            false,
        );
        expected.add(&Truth::None, &names, 1, false);
        assert_eq!(
            serde_json::to_string(&expected).unwrap(),
            r#"{"lines":4,"bytes":21,"truncated_lines":1,"errors":{"email_not_found":1},"uncatalogued":{"401":1,"unknown":1},"uncatalogued_types":{"invalid_token":2}}"#
        );
    }

    #[test]
    fn escaping_round_trips_through_serde_json() {
        let mut rng = SplitMix64::new(99);
        for _ in 0..500 {
            let text: String = (0..rng.index(40))
                .map(|_| char::from(rng.below(128) as u8))
                .collect();
            let mut quoted = vec![b'"'];
            push_escaped(&mut quoted, text.as_bytes());
            quoted.push(b'"');
            assert_eq!(serde_json::from_slice::<String>(&quoted).unwrap(), text);
        }
    }

    #[test]
    fn timestamps_render_the_base_time() {
        let mut out = Vec::new();
        push_iso_time(&mut out, BASE_TIME_MS + 123, Some(456_789));
        out.push(b'|');
        push_syslog_time(&mut out, BASE_TIME_MS);
        out.push(b'|');
        push_iso_time(&mut out, 951_782_400_000, None);
        assert_eq!(
            out,
            b"2026-11-29T01:02:03.123456789Z|Nov 29 01:02:03|2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn prng_is_fixed() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
