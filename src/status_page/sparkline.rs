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
/// chart. Only the newest `covered` are backed by samples; the slots before
/// are shaded as "no data" rather than drawn as zeros.
pub fn write_sparkline(page: &mut String, increments: &[u64], covered: usize, interval: Duration) {
    let slots = increments.len();
    let covered = covered.min(slots);
    let start = slots - covered;
    let data = &increments[start..];
    let total = data.iter().fold(0u64, |sum, v| sum.saturating_add(*v));
    let peak = data.iter().copied().max().unwrap_or(0);
    let step = humantime::format_duration(interval);
    let title = match covered {
        0 => format!("no sample yet (one every {step})"),
        _ if covered == slots => format!("{total} in the last hour, at most {peak} per {step}"),
        _ => format!(
            "{total} since start ({}), at most {peak} per {step}",
            humantime::format_duration(interval.saturating_mul(covered as u32))
        ),
    };
    let _ = write!(
        page,
        "<svg class=\"spark\" width=\"{WIDTH_PX}\" height=\"{HEIGHT}\" viewBox=\"0 0 {slots} {HEIGHT}\" \
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
/// one horizontal segment, so a quiet hour costs a few bytes.
fn write_steps(page: &mut String, start: usize, data: &[u64], peak: u64) {
    let height_of = |value: u64| -> u64 {
        if value == 0 {
            0
        } else {
            // At least one unit, so a single event stays visible.
            (value.saturating_mul(HEIGHT) / peak).max(1)
        }
    };
    let _ = write!(page, "M{start} {HEIGHT}");
    let mut y = HEIGHT;
    let mut run = 0usize;
    for value in data {
        let next = HEIGHT - height_of(*value);
        if next != y {
            if run > 0 {
                let _ = write!(page, "h{run}");
                run = 0;
            }
            let _ = write!(page, "V{next}");
            y = next;
        }
        run += 1;
    }
    if run > 0 {
        let _ = write!(page, "h{run}");
    }
    let _ = write!(page, "V{HEIGHT}Z");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(increments: &[u64], covered: usize) -> String {
        let mut page = String::new();
        write_sparkline(&mut page, increments, covered, Duration::from_secs(10));
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
