//! The logger styles of the issue one by one, the order of candidates, and
//! a property test that writes random instants in random zones and styles
//! and reads them back.

use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use proptest::prelude::*;

use super::*;

/// 2026-11-29T13:15:22Z (`date -u -d 2026-11-29T13:15:22Z +%s`).
const T131522: i64 = 1_795_958_122;

fn at(seconds: i64, nanos: i64) -> Option<Stamp> {
    Some(Stamp::from_nanos(seconds * NANOS_PER_SECOND + nanos))
}

/// Reads `record` in Berlin (CET, +01:00, in late November).
fn berlin(record: &str) -> Option<Stamp> {
    TimeReader::new(Zone::named("Europe/Berlin").unwrap()).time_of(record.as_bytes(), None)
}

#[test]
fn cri_prefix() {
    let record = r#"2026-11-29T13:15:22.123456789Z stdout F {"error_type":"x"}"#;
    assert_eq!(berlin(record), at(T131522, 123_456_789));
}

#[test]
fn docker_envelope() {
    let record = r#"{"log":"error_type=x\n","stream":"stderr","time":"2026-11-29T13:15:22.5Z"}"#;
    assert_eq!(berlin(record), at(T131522, 500_000_000));
}

#[test]
fn zap_seconds_as_a_float() {
    let record = r#"{"level":"error","ts":1795958122.89,"msg":"x","error_type":"x"}"#;
    assert_eq!(berlin(record), at(T131522, 890_000_000));
}

#[test]
fn pino_milliseconds() {
    let record = r#"{"level":50,"time":1795958122062,"pid":1,"error_type":"x"}"#;
    assert_eq!(berlin(record), at(T131522, 62_000_000));
}

#[test]
fn iso_keys_with_z() {
    for key in ["timestamp", "time", "@timestamp"] {
        let record = format!(r#"{{"{key}":"2026-11-29T13:15:22.697Z","error_type":"x"}}"#);
        assert_eq!(berlin(&record), at(T131522, 697_000_000), "{key}");
    }
}

#[test]
fn ruby_json_with_an_offset() {
    let record = r#"{"severity":"ERROR","time":"2026-11-29T14:15:22.236+01:00","error_type":"x"}"#;
    assert_eq!(berlin(record), at(T131522, 236_000_000));
}

#[test]
fn python_json_logger_asctime_is_local() {
    let record =
        r#"{"asctime": "2026-11-29 14:15:22,697", "levelname": "ERROR", "error_type": "x"}"#;
    assert_eq!(berlin(record), at(T131522, 697_000_000));
}

#[test]
fn ruby_logger_prefix_is_local() {
    let record = r#"E, [2026-11-29T14:15:22.236752 #16020] ERROR -- : error_type='x'"#;
    assert_eq!(berlin(record), at(T131522, 236_752_000));
}

#[test]
fn go_log_is_local() {
    let record = "2026/11/29 14:15:22 Stytch Error - status code: 404, type: x, message: m";
    assert_eq!(berlin(record), at(T131522, 0));
}

#[test]
fn logback_and_loguru_are_local() {
    let logback = "2026-11-29 14:15:22.753 [main] ERROR c.e.App - errorType=x,";
    let loguru = "2026-11-29 14:15:22.377 | ERROR    | app:run:12 - error_type='x'";
    assert_eq!(berlin(logback), at(T131522, 753_000_000));
    assert_eq!(berlin(loguru), at(T131522, 377_000_000));
}

#[test]
fn a_bracketed_time_is_read() {
    let record = "[2026-11-29T13:15:22Z] error_type='x'";
    assert_eq!(berlin(record), at(T131522, 0));
}

#[test]
fn python_default_format_and_traceback_lines_are_untimed() {
    for record in [
        "ERROR:app.auth:lookup failed error_type='x' status_code=404",
        "stytch.core.response_base.StytchError: StytchErrorDetails(status_code=404, error_type='x')",
        r#"{"level":"error","error_type":"x"}"#,
    ] {
        assert_eq!(berlin(record), None, "{record}");
    }
}

#[test]
fn a_record_with_two_times_uses_the_envelopes() {
    let docker = r#"{"log":"{\"time\":\"2020-01-01T00:00:00Z\",\"error_type\":\"x\"}\n","stream":"stdout","time":"2026-11-29T13:15:22Z"}"#;
    assert_eq!(berlin(docker), at(T131522, 0));
    let cri = r#"2026-11-29T13:15:22Z stderr F {"time":"2020-01-01T00:00:00Z","error_type":"x"}"#;
    assert_eq!(berlin(cri), at(T131522, 0));
    let leading_and_key = r#"2020-01-01 00:00:00 {"ts":1795958122,"error_type":"x"}"#;
    assert_eq!(berlin(leading_and_key), at(T131522, 0));
}

#[test]
fn the_envelope_passed_for_a_split_record_wins_over_its_own_end() {
    let record = r#"{"log":"error_type=x\n","stream":"stdout","time":"2020-01-01T00:00:00Z"}"#;
    let first = r#"","stream":"stdout","time":"2026-11-29T13:15:22Z"}"#;
    let mut reader = TimeReader::new(Zone::utc());
    assert_eq!(
        reader.time_of(record.as_bytes(), Some(first.as_bytes())),
        at(T131522, 0)
    );
}

#[test]
fn keys_at_every_quoting_level() {
    let level1 = r#"{"msg":"{\"ts\":\"2026-11-29T13:15:22Z\",\"error_type\":\"x\"}"}"#;
    let level2 = r#"{"msg":"{\"body\":\"{\\\"logtime\\\": \\\"2026-11-29T13:15:22Z\\\"}\"}","error_type":"x"}"#;
    assert_eq!(berlin(level1), at(T131522, 0));
    assert_eq!(berlin(level2), at(T131522, 0));
}

#[test]
fn only_the_first_candidate_is_used() {
    // A key that does not read leaves the record untimed, even with a good
    // key or a leading time after it.
    let bad_key = r#"{"date":"Sun, 29 Nov 2026","ts":1795958122,"error_type":"x"}"#;
    assert_eq!(berlin(bad_key), None);
    let bad_key_after_text = r#"2026-11-29 14:15:22 {"time":null,"error_type":"x"}"#;
    assert_eq!(berlin(bad_key_after_text), None);
    // Docker's envelope time that does not read is not replaced by a key.
    let docker = r#"{"log":"{\"ts\":1795958122}\n","stream":"stdout","time":"yesterday"}"#;
    assert_eq!(berlin(docker), None);
}

#[test]
fn names_that_only_look_like_time_keys_are_not_keys() {
    for record in [
        r#"{"times":"2026-11-29T13:15:22Z","error_type":"x"}"#,
        r#"{"msg":"time","error_type":"x"}"#,
        r#"{"timeout":1795958122,"error_type":"x"}"#,
    ] {
        assert_eq!(berlin(record), None, "{record}");
    }
}

#[test]
fn a_value_must_be_a_time_in_full() {
    for record in [
        r#"{"time":"2026-11-29T13:15:22Z and more","error_type":"x"}"#,
        r#"{"time":"2026-11-29T13:15:22\u005a","error_type":"x"}"#,
        r#"{"ts":17959581.22e2,"error_type":"x"}"#,
    ] {
        assert_eq!(berlin(record), None, "{record}");
    }
    let quoted_epoch = r#"{"ts":"1795958122","error_type":"x"}"#;
    assert_eq!(berlin(quoted_epoch), at(T131522, 0));
}

#[test]
fn a_carriage_return_before_the_newline_is_no_part_of_the_record() {
    let docker = "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-29T13:15:22Z\"}\r";
    assert_eq!(berlin(docker), at(T131522, 0));
}

/// Zones the property test writes times in: DST in both hemispheres, a
/// half-hour DST shift, quarter-hour and negative fixed offsets.
const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Asia/Kathmandu",
    "+05:45",
    "-03:30",
];

fn jiff_zone(name: &str) -> TimeZone {
    match name {
        "UTC" => TimeZone::UTC,
        "+05:45" => TimeZone::fixed(Offset::from_seconds(5 * 3600 + 45 * 60).unwrap()),
        "-03:30" => TimeZone::fixed(Offset::from_seconds(-(3 * 3600 + 30 * 60)).unwrap()),
        name => TimeZone::get(name).unwrap(),
    }
}

/// How a time is written.
#[derive(Debug, Clone, Copy)]
enum Style {
    /// RFC 3339 in UTC with nanoseconds and `Z`.
    Zulu,
    /// Local time with milliseconds and `±hh:mm`.
    OffsetColon,
    /// Local time with microseconds and `±hhmm`, a space for `T`.
    OffsetPlain,
    /// python-json-logger: local, comma, milliseconds.
    Asctime,
    /// Ruby Logger: local, `T`, microseconds.
    RubyLogger,
    /// Go's `log`: local, slashes, seconds.
    GoLog,
    /// Seconds with two decimals.
    EpochSecondsFloat,
    /// Integer milliseconds.
    EpochMillis,
    /// Integer microseconds.
    EpochMicros,
    /// Integer nanoseconds.
    EpochNanos,
}

impl Style {
    fn is_epoch(self) -> bool {
        matches!(
            self,
            Style::EpochSecondsFloat | Style::EpochMillis | Style::EpochMicros | Style::EpochNanos
        )
    }

    fn is_local(self) -> bool {
        matches!(self, Style::Asctime | Style::RubyLogger | Style::GoLog)
    }

    /// Nanoseconds the style keeps.
    fn precision(self) -> i64 {
        match self {
            Style::Zulu | Style::EpochNanos => 1,
            Style::OffsetPlain | Style::RubyLogger | Style::EpochMicros => 1_000,
            Style::OffsetColon | Style::Asctime | Style::EpochMillis => 1_000_000,
            Style::EpochSecondsFloat => 10_000_000,
            Style::GoLog => 1_000_000_000,
        }
    }

    /// The instant written in this style in `tz`.
    fn write(self, instant: jiff::Timestamp, tz: &TimeZone) -> String {
        let zoned = instant.to_zoned(tz.clone());
        let utc = instant.to_zoned(TimeZone::UTC);
        let civil = |dt: jiff::civil::DateTime, date_sep: char, between: char| {
            format!(
                "{:04}{date_sep}{:02}{date_sep}{:02}{between}{:02}:{:02}:{:02}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            )
        };
        let nanos = i64::from(instant.subsec_nanosecond());
        let offset = zoned.offset().seconds();
        let sign = if offset < 0 { '-' } else { '+' };
        let (hours, minutes) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
        let seconds = instant.as_second();
        match self {
            Style::Zulu => format!("{}.{nanos:09}Z", civil(utc.datetime(), '-', 'T')),
            Style::OffsetColon => format!(
                "{}.{:03}{sign}{hours:02}:{minutes:02}",
                civil(zoned.datetime(), '-', 'T'),
                nanos / 1_000_000
            ),
            Style::OffsetPlain => format!(
                "{}.{:06}{sign}{hours:02}{minutes:02}",
                civil(zoned.datetime(), '-', ' '),
                nanos / 1_000
            ),
            Style::Asctime => format!(
                "{},{:03}",
                civil(zoned.datetime(), '-', ' '),
                nanos / 1_000_000
            ),
            Style::RubyLogger => {
                format!("{}.{:06}", civil(zoned.datetime(), '-', 'T'), nanos / 1_000)
            }
            Style::GoLog => civil(zoned.datetime(), '/', ' '),
            Style::EpochSecondsFloat => format!("{seconds}.{:02}", nanos / 10_000_000),
            Style::EpochMillis => format!("{}", seconds * 1_000 + nanos / 1_000_000),
            Style::EpochMicros => format!("{}", seconds * 1_000_000 + nanos / 1_000),
            Style::EpochNanos => format!("{}", seconds * 1_000_000_000 + nanos),
        }
    }
}

/// Where a time is written in a record.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// A JSON key at quoting level 0, 1 or 2 (string, or bare for epochs).
    Key(usize, u32),
    /// At the start of a text line.
    Leading,
    /// Ruby Logger's `E, [` prefix.
    RubyPrefix,
    /// A Docker envelope around a record with another time.
    Docker,
    /// A CRI prefix before a record with another time.
    Cri,
}

/// A record with `time` at `place`, as a logger of that kind writes it.
fn record(time: &str, style: Style, place: Place) -> String {
    match place {
        Place::Key(key, level) => {
            let key = std::str::from_utf8(TIME_KEYS[key]).unwrap();
            let value = if style.is_epoch() {
                time.to_string()
            } else {
                format!("\"{time}\"")
            };
            let inner = format!(r#"{{"{key}": {value},"error_type":"x","status_code":404}}"#);
            let mut text = inner;
            for _ in 0..level {
                text = format!(r#"{{"msg":{}}}"#, serde_json::to_string(&text).unwrap());
            }
            text
        }
        Place::Leading => format!("{time} ERROR error_type='x' status_code=404"),
        Place::RubyPrefix => format!("E, [{time} #16020] ERROR -- : error_type='x'"),
        Place::Docker => format!(
            r#"{{"log":"{{\"time\":\"2001-02-03T04:05:06Z\",\"error_type\":\"x\"}}\n","stream":"stdout","time":"{time}"}}"#
        ),
        Place::Cri => format!(r#"{time} stdout F {{"ts":981173106,"error_type":"x"}}"#),
    }
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Zulu),
        Just(Style::OffsetColon),
        Just(Style::OffsetPlain),
        Just(Style::Asctime),
        Just(Style::RubyLogger),
        Just(Style::GoLog),
        Just(Style::EpochSecondsFloat),
        Just(Style::EpochMillis),
        Just(Style::EpochMicros),
        Just(Style::EpochNanos),
    ]
}

/// A place that loggers use for `style`.
fn place(style: Style) -> BoxedStrategy<Place> {
    let key = (0..TIME_KEYS.len(), 0u32..=2).prop_map(|(key, level)| Place::Key(key, level));
    match style {
        Style::Zulu | Style::OffsetColon => prop_oneof![
            key,
            Just(Place::Docker),
            Just(Place::Cri),
            Just(Place::Leading)
        ]
        .boxed(),
        Style::RubyLogger => {
            prop_oneof![key, Just(Place::RubyPrefix), Just(Place::Leading)].boxed()
        }
        Style::OffsetPlain | Style::Asctime | Style::GoLog => {
            prop_oneof![key, Just(Place::Leading)].boxed()
        }
        _ => key.boxed(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_instant_written_in_any_zone_and_style_reads_back(
        // 2000-01-01 to 2100-01-01.
        seconds in 946_684_800i64..4_102_444_800,
        nanos in 0i64..1_000_000_000,
        zone in 0..ZONES.len(),
        (style, place) in style().prop_flat_map(|style| (Just(style), place(style))),
    ) {
        let instant = jiff::Timestamp::new(seconds, nanos as i32).unwrap();
        let tz = jiff_zone(ZONES[zone]);
        let written = style.write(instant, &tz);
        let text = record(&written, style, place);
        let mut reader = TimeReader::new(Zone::named(ZONES[zone]).unwrap());
        let read = reader.time_of(text.as_bytes(), None);

        let precision = style.precision();
        let kept = seconds * NANOS_PER_SECOND + nanos / precision * precision;
        let expected = if style.is_local() {
            // A local time written in a fold reads as its earlier instant.
            let civil = instant.to_zoned(tz.clone()).datetime();
            match tz.to_ambiguous_timestamp(civil).offset() {
                AmbiguousOffset::Fold { before, .. } => {
                    let earlier = civil.to_zoned(TimeZone::fixed(before)).unwrap();
                    earlier.timestamp().as_second() * NANOS_PER_SECOND
                        + nanos / precision * precision
                }
                _ => kept,
            }
        } else {
            kept
        };
        prop_assert_eq!(read, Some(Stamp::from_nanos(expected)), "{}", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The block search finds exactly the quotes a byte-by-byte look finds,
    /// wherever they fall against the 64-byte blocks.
    #[test]
    fn key_quotes_are_every_quote_before_a_key_initial(
        bytes in proptest::collection::vec(
            prop_oneof![Just(b'"'), Just(b't'), Just(b'd'), Just(b'@'), Just(b'x'), any::<u8>()],
            0..700,
        ),
    ) {
        let expected: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i] == b'"' && bytes.get(i + 1).is_some_and(|&b| is_key_initial(b)))
            .collect();
        prop_assert_eq!(KeyQuotes::new(&bytes).collect::<Vec<_>>(), expected);
    }
}

/// The key-quote search gives the same bits with and without AVX2, at the
/// block's edges too: a quote at a block's last byte whose key letter is
/// the next block's first.
#[test]
fn key_quotes_are_found_at_block_edges_with_and_without_avx2() {
    let mut record = vec![b'x'; 130];
    // `"` then a key letter at 0, 30, 32 and 63 (its letter at 64); a
    // quote before a non-key letter at 10; a key letter without a quote at 40.
    for (at, pair) in [
        (0, b"\"t"),
        (30, b"\"d"),
        (32, b"\"@"),
        (63, b"\"l"),
        (10, b"\"x"),
    ] {
        record[at..at + 2].copy_from_slice(pair);
    }
    record[40] = b'a';
    let expected = 1u64 | 1 << 30 | 1 << 32 | 1 << 63;
    assert_eq!(super::key_quote_mask(&record, 0, false), expected);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        assert_eq!(super::key_quote_mask(&record, 0, true), expected);
    }
    // A block without 65 bytes left (read shifted with AVX2, byte by byte
    // without): `"t` at 66 + 58, and a quote as the last byte.
    record[124..126].copy_from_slice(b"\"t");
    record[129] = b'"';
    assert_eq!(super::key_quote_mask(&record, 66, false), 1 << 58);
    assert_eq!(super::key_quote_mask(&record, 66, true), 1 << 58);
    // A block that is only the last byte.
    assert_eq!(super::key_quote_mask(&record, 129, true), 0);
}

/// The block search skips runs of blocks without a key quote in one call:
/// a lone `"t` anywhere in a long record, the blocks before it empty, is
/// found where it is, and nothing is found when it is missing.
#[test]
fn a_lone_key_quote_is_found_after_empty_blocks() {
    for len in [64, 65, 128, 129, 200, 257, 300] {
        let blank = vec![b'x'; len];
        assert_eq!(KeyQuotes::new(&blank).count(), 0, "len {len}");
        for at in 0..len - 1 {
            let mut record = blank.clone();
            record[at..at + 2].copy_from_slice(b"\"t");
            assert_eq!(
                KeyQuotes::new(&record).collect::<Vec<_>>(),
                [at],
                "len {len}, at {at}"
            );
        }
        // A quote as the very last byte has no letter after it.
        let mut record = blank.clone();
        record[len - 1] = b'"';
        assert_eq!(KeyQuotes::new(&record).count(), 0, "len {len}");
    }
}

/// A value's end is its first `"` or `\`, a CRI time's its first space,
/// found 16 bytes at a time and then byte by byte: at every position
/// against the 16-byte steps, and none when there is none.
#[test]
fn the_first_of_two_bytes_is_found_at_every_position() {
    for len in [0, 1, 15, 16, 17, 31, 32, 33, 50] {
        let blank = vec![b'7'; len];
        for from in 0..=len {
            assert_eq!(super::first_of(&blank, from, b'"', b'\\'), None);
        }
        for at in 0..len {
            for stop in [b'"', b'\\'] {
                let mut record = blank.clone();
                record[at] = stop;
                if at + 1 < len {
                    // A later stop byte is not the first.
                    record[len - 1] = b'"';
                }
                for from in 0..=at {
                    assert_eq!(
                        super::first_of(&record, from, b'"', b'\\'),
                        Some(at),
                        "{len} {at} {from}"
                    );
                }
                // Past it, only the later one (if any) is found.
                let later = (at + 1 < len).then_some(len - 1);
                assert_eq!(super::first_of(&record, at + 1, b'"', b'\\'), later);
            }
        }
    }
}

/// A Docker envelope's time starts after its last quote, found 16 bytes
/// at a time from the end: at every position, with an earlier quote that
/// must not be taken.
#[test]
fn the_last_quote_is_found_at_every_position() {
    for len in [0, 1, 15, 16, 17, 31, 32, 33, 50] {
        let blank = vec![b'7'; len];
        assert_eq!(super::last_quote(&blank), None);
        for at in 0..len {
            let mut record = blank.clone();
            record[at] = b'"';
            if at > 0 {
                record[0] = b'"';
            }
            assert_eq!(super::last_quote(&record), Some(at), "{len} {at}");
        }
    }
}

/// Every time key at level 0, 1 and 2, and names one letter off, which
/// the per-name comparisons must not take.
#[test]
fn each_time_key_is_read_by_its_own_name() {
    let epoch = "1795958122";
    for key in TIME_KEYS {
        let key = std::str::from_utf8(key).unwrap();
        for (open, close) in [("\"", "\""), ("\\\"", "\\\""), ("\\\\\\\"", "\\\\\\\"")] {
            let record = format!(r#"x{open}{key}{close}: {epoch},"error_type""#);
            assert_eq!(berlin(&record), at(T131522, 0), "{record}");
        }
        // One letter more, or the last one missing: no key.
        for name in [format!("{key}s"), key[..key.len() - 1].to_owned()] {
            let record = format!(r#"{{"{name}":{epoch},"error_type":"x"}}"#);
            assert_eq!(berlin(&record), None, "{record}");
        }
    }
}
