//! Sparklines as inline SVG: one filled step path per series, no script and
//! no external asset. Each is scaled to its own peak; its `<title>` (the
//! browser's tooltip) gives the numbers, so the shape never has to be read
//! for values.

use std::fmt::Write as _;
use std::time::Duration;

/// Drawn width in CSS pixels; the view box has one unit per increment.
const WIDTH_PX: usize = 180;

/// Height in pixels and view box units.
const HEIGHT: u64 = 24;

/// Writes `increments` (oldest first, one per `interval`) as an SVG step
/// chart, `per_step` increments summed into each step (the hour in 10 s
/// steps, or in 1 min steps where many sparklines share a page). Only the
/// newest `covered` increments are backed by samples; the steps before are
/// shaded as "no data" rather than drawn as zeros.
pub(super) fn write_sparkline(
    page: &mut String,
    increments: &[u64],
    covered: usize,
    interval: Duration,
    per_step: usize,
) {
    let per_step = per_step.max(1);
    // Steps end at the newest increment; a partial step is the oldest.
    let mut steps: Vec<u64> = increments
        .rchunks(per_step)
        .map(|chunk| chunk.iter().fold(0u64, |sum, v| sum.saturating_add(*v)))
        .collect();
    steps.reverse();
    let width = steps.len();
    let covered = covered.min(increments.len());
    let covered_steps = covered.div_ceil(per_step);
    let start = width - covered_steps;
    let data = &steps[start..];
    let total = data.iter().fold(0u64, |sum, v| sum.saturating_add(*v));
    let peak = data.iter().copied().max().unwrap_or(0);
    let step = humantime::format_duration(interval.saturating_mul(per_step as u32));
    let title = match covered {
        0 => format!(
            "no sample yet (one every {})",
            humantime::format_duration(interval)
        ),
        _ if covered == increments.len() => {
            format!("{total} in the last hour, at most {peak} per {step}")
        }
        _ => format!(
            "{total} since start ({}), at most {peak} per {step}",
            humantime::format_duration(interval.saturating_mul(covered as u32))
        ),
    };
    let _ = write!(
        page,
        "<svg class=\"spark\" width=\"{WIDTH_PX}\" height=\"{HEIGHT}\" viewBox=\"0 0 {width} {HEIGHT}\" \
         preserveAspectRatio=\"none\" role=\"img\"><title>{title}</title>"
    );
    if start > 0 {
        let _ = write!(
            page,
            "<rect class=\"nodata\" width=\"{start}\" height=\"{HEIGHT}\"/>"
        );
    }
    if peak > 0 {
        page.push_str("<path d=\"");
        write_steps(page, start, data, peak);
        page.push_str("\"/>");
    }
    page.push_str("</svg>");
}

/// The area under the steps, as path data: runs of equal height merge into
/// one horizontal segment, so a quiet hour costs a few bytes. Numbers are
/// pushed by hand: a page can hold hundreds of these, and `write!` per
/// step was most of its rendering time.
fn write_steps(page: &mut String, start: usize, data: &[u64], peak: u64) {
    let height_of = |value: u64| -> u64 {
        if value == 0 {
            0
        } else {
            // At least one unit, so a single event stays visible.
            (value.saturating_mul(HEIGHT) / peak).max(1)
        }
    };
    page.push('M');
    push_number(page, start as u64);
    page.push(' ');
    push_number(page, HEIGHT);
    let mut y = HEIGHT;
    let mut run = 0u64;
    for value in data {
        let next = HEIGHT - height_of(*value);
        if next != y {
            if run > 0 {
                page.push('h');
                push_number(page, run);
                run = 0;
            }
            page.push('V');
            push_number(page, next);
            y = next;
        }
        run += 1;
    }
    if run > 0 {
        page.push('h');
        push_number(page, run);
    }
    page.push('V');
    push_number(page, HEIGHT);
    page.push('Z');
}

/// Appends `number` in decimal.
fn push_number(page: &mut String, mut number: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    for digit in &digits[at..] {
        page.push(char::from(*digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(increments: &[u64], covered: usize) -> String {
        let mut page = String::new();
        write_sparkline(&mut page, increments, covered, Duration::from_secs(10), 1);
        page
    }

    #[test]
    fn steps_are_scaled_to_the_peak_and_runs_merge() {
        let page = svg(&[0, 0, 4, 4, 2, 0, 1, 0], 8);
        // Peak 4 is the full 24; 2 is 12; 1 is 6.
        assert!(
            page.contains("<path d=\"M0 24h2V0h2V12h1V24h1V18h1V24h1V24Z\"/>"),
            "{page}"
        );
        assert!(
            page.contains("<title>11 in the last hour, at most 4 per 10s</title>"),
            "{page}"
        );
        assert!(page.contains("viewBox=\"0 0 8 24\""), "{page}");
        assert!(!page.contains("nodata"), "{page}");
    }

    #[test]
    fn a_single_event_beside_a_large_peak_stays_visible() {
        let page = svg(&[1000, 1], 2);
        assert!(page.contains("d=\"M0 24V0h1V23h1V24Z\""), "{page}");
    }

    #[test]
    fn slots_before_the_first_sample_are_shaded_not_drawn() {
        let page = svg(&[0, 0, 0, 0, 0, 3], 2);
        assert!(
            page.contains("<rect class=\"nodata\" width=\"4\" height=\"24\"/>"),
            "{page}"
        );
        assert!(page.contains("d=\"M4 24h1V0h1V24Z\""), "{page}");
        assert!(
            page.contains("<title>3 since start (20s), at most 3 per 10s</title>"),
            "{page}"
        );
    }

    #[test]
    fn a_flat_hour_has_no_path() {
        let page = svg(&[0; 360], 360);
        assert!(
            page.starts_with("<svg ") && page.ends_with("</svg>"),
            "{page}"
        );
        assert!(!page.contains("<path"), "{page}");
        assert!(page.contains("<title>0 in the last hour, at most 0 per 10s</title>"));
    }

    #[test]
    fn steps_of_a_minute_sum_six_increments_ending_at_the_newest() {
        let mut increments = vec![0u64; 360];
        increments[359] = 2; // the newest step
        increments[354] = 3; // still the newest step
        increments[353] = 7; // the one before
        let mut page = String::new();
        write_sparkline(&mut page, &increments, 9, Duration::from_secs(10), 6);
        assert!(page.contains("viewBox=\"0 0 60 24\""), "{page}");
        // 9 increments sampled: the newest two steps.
        assert!(
            page.contains("<rect class=\"nodata\" width=\"58\""),
            "{page}"
        );
        assert!(page.contains("d=\"M58 24V0h1V7h1V24Z\""), "{page}");
        assert!(
            page.contains("<title>12 since start (1m 30s), at most 7 per 1m</title>"),
            "{page}"
        );
    }

    #[test]
    fn numbers_are_pushed_in_decimal() {
        for number in [0, 7, 10, 360, 1234567890, u64::MAX] {
            let mut out = String::new();
            push_number(&mut out, number);
            assert_eq!(out, number.to_string());
        }
    }

    #[test]
    fn before_the_first_sample_everything_is_shaded() {
        let page = svg(&[0; 4], 0);
        assert!(
            page.contains("<title>no sample yet (one every 10s)</title>"),
            "{page}"
        );
        assert!(
            page.contains("<rect class=\"nodata\" width=\"4\""),
            "{page}"
        );
        assert!(!page.contains("<path"), "{page}");
    }
}
