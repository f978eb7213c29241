//! Finding where an error form may start: the one pass over every byte.
//!
//! Every form holds `ype` (`error_type`, `, type: ` in Go's error string,
//! `errorType=`, `ErrorType:`), with one of `_t`, `rT` or ` t` before it.
//! On x86-64 with AVX2 the search tests those four bytes for 32 positions
//! at a time, so the `type` keys and `Content-Type` headers of ordinary logs
//! cost nothing; elsewhere `memmem` finds each `ype` and the bytes around it
//! are checked one hit at a time (correct, slower on logs full of `type`).
//! A packed multi-needle searcher (Teddy) for the literals ran at about 60%
//! of this speed.

use memchr::memmem::Finder;

/// What an anchor points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AnchorKind {
    /// The literal `error_type` (JSON, Ruby and Python forms).
    Snake,
    /// `, type: ` (inside Go's `Stytch Error - …, type: V, …`).
    Go,
    /// The literal `errorType=` (Kotlin's data-class `toString`).
    Kotlin,
    /// The literal `ErrorType:` (Go's `%#v` of the error struct).
    GoSyntax,
}

/// Where a form's literal starts, and which literal it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Anchor {
    pub(super) at: usize,
    pub(super) kind: AnchorKind,
}

/// The anchor search; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Anchors {
    ype: Finder<'static>,
    avx2: bool,
}

impl Anchors {
    pub(super) fn new() -> Self {
        Self {
            ype: Finder::new(b"ype").into_owned(),
            avx2: has_avx2(),
        }
    }

    /// The first anchor whose literal starts at or after `from`.
    pub(super) fn find(&self, haystack: &[u8], from: usize) -> Option<Anchor> {
        // `y` stands at least three bytes into any literal (`, type: `).
        let mut pos = from + 3;
        loop {
            let y = self.next_candidate(haystack, pos)?;
            if let Some(anchor) = anchor_at(haystack, y, from) {
                return Some(anchor);
            }
            pos = y + 1;
        }
    }

    /// The next position at or after `pos` of a `y` that may be an
    /// anchor's: `ype` everywhere, and the two bytes before it as well where
    /// the CPU tests them together.
    fn next_candidate(&self, haystack: &[u8], pos: usize) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU has AVX2.
            return unsafe { avx2::find(haystack, pos) };
        }
        Some(pos + self.ype.find(haystack.get(pos..)?)?)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

/// The anchor whose `ype` has its `y` at `y`, if its literal is complete
/// and starts at or after `from`.
fn anchor_at(haystack: &[u8], y: usize, from: usize) -> Option<Anchor> {
    if haystack.get(y..y + 3)? != b"ype" {
        return None;
    }
    let before = |literal: &[u8]| {
        y.checked_sub(literal.len())
            .filter(|&at| at >= from && haystack[at..y] == *literal)
    };
    let after = |literal: &[u8]| haystack[y + 3..].starts_with(literal);
    let (at, kind) = if let Some(at) = before(b"error_t") {
        (at, AnchorKind::Snake)
    } else if let Some(at) = before(b"errorT").filter(|_| after(b"=")) {
        (at, AnchorKind::Kotlin)
    } else if let Some(at) = before(b"ErrorT").filter(|_| after(b":")) {
        (at, AnchorKind::GoSyntax)
    } else if let Some(at) = before(b", t").filter(|_| after(b": ")) {
        (at, AnchorKind::Go)
    } else {
        return None;
    };
    Some(Anchor { at, kind })
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };

    /// Bytes tested per step.
    const LANES: usize = 32;

    /// How far before the `y` the test looks.
    const BACK: usize = 3;

    /// True if the scalar test of the candidate at `i` passes (the same
    /// test as the vector one).
    fn is_candidate(haystack: &[u8], i: usize) -> bool {
        haystack[i] == b'y'
            && haystack[i + 1] == b'p'
            && haystack[i - 1] | 0x20 == b't'
            && matches!(haystack[i - 2], b'_' | b'r' | b' ')
            && matches!(haystack[i - 3], b'r' | b'o' | b',')
    }

    /// The first `y` at or after `pos` (and at least [`BACK`]) that may be
    /// an anchor's: `p` after it, and before it `t` or `T`, one of `_`,
    /// `r`, ` `, and one of `r`, `o`, `,` (`rror_type`, `rorType`,
    /// `, type`), so `"type"`, `content_type` and `Content-Type` are passed
    /// over.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn find(haystack: &[u8], pos: usize) -> Option<usize> {
        let mut y = pos.max(BACK);
        // Each step reads haystack[y - BACK .. y + 1 + LANES].
        while y + 1 + LANES <= haystack.len() {
            // SAFETY: y >= BACK and y + 1 + LANES <= len, so the 32-byte
            // loads at y - 3 ..= y + 1 are inside the haystack.
            let mask = unsafe { candidates(haystack.as_ptr().add(y)) };
            if mask != 0 {
                return Some(y + mask.trailing_zeros() as usize);
            }
            y += LANES;
        }
        (y..haystack.len().saturating_sub(1)).find(|&i| is_candidate(haystack, i))
    }

    /// One bit per candidate `y` among the 32 bytes at `at`.
    ///
    /// # Safety
    /// The CPU must have AVX2, and `at - 3 .. at + 33` must be readable.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn candidates(at: *const u8) -> u32 {
        let load = |offset: isize| {
            // SAFETY: the caller guarantees `at - 3 .. at + 33` is readable.
            unsafe { _mm256_loadu_si256(at.offset(offset).cast::<__m256i>()) }
        };
        let is = |v: __m256i, byte: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8));
        // Most blocks hold no `yp`: test the rest only when one does.
        let yp = _mm256_and_si256(is(load(0), b'y'), is(load(1), b'p'));
        if _mm256_movemask_epi8(yp) == 0 {
            return 0;
        }
        let (three, two) = (load(-3), load(-2));
        let third = _mm256_or_si256(
            _mm256_or_si256(is(three, b'r'), is(three, b'o')),
            is(three, b','),
        );
        let second = _mm256_or_si256(_mm256_or_si256(is(two, b'_'), is(two, b'r')), is(two, b' '));
        // `T` | 0x20 is `t`.
        let first = is(_mm256_or_si256(load(-1), _mm256_set1_epi8(0x20)), b't');
        let head = _mm256_and_si256(_mm256_and_si256(third, second), first);
        _mm256_movemask_epi8(_mm256_and_si256(head, yp)) as u32
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every anchor of `haystack` from `from` on, found by `anchors`.
    fn all(anchors: &Anchors, haystack: &[u8], from: usize) -> Vec<(usize, AnchorKind)> {
        let mut found = Vec::new();
        let mut pos = from;
        while let Some(anchor) = anchors.find(haystack, pos) {
            found.push((anchor.at, anchor.kind));
            pos = anchor.at + 1;
        }
        found
    }

    /// The same, by testing every position for every literal.
    fn naive(haystack: &[u8], from: usize) -> Vec<(usize, AnchorKind)> {
        let literals: [(&[u8], AnchorKind); 4] = [
            (b"error_type", AnchorKind::Snake),
            (b"errorType=", AnchorKind::Kotlin),
            (b"ErrorType:", AnchorKind::GoSyntax),
            (b", type: ", AnchorKind::Go),
        ];
        (from..haystack.len())
            .filter_map(|at| {
                literals
                    .iter()
                    .find(|(literal, _)| haystack[at..].starts_with(literal))
                    .map(|&(_, kind)| (at, kind))
            })
            .collect()
    }

    fn haystack() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop_oneof![
            Just(b"error_type".to_vec()),
            Just(b"errorType=".to_vec()),
            Just(b"ErrorType:".to_vec()),
            Just(b", type: ".to_vec()),
            Just(b"\"type\"".to_vec()),
            Just(b"Content-Type".to_vec()),
            Just(b"content_type".to_vec()),
            Just(b"ype".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        proptest::collection::vec(pieces, 0..30).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_search_path_finds_every_literal(haystack in haystack(), from in 0usize..16) {
            let from = from.min(haystack.len());
            let expected = naive(&haystack, from);
            let fast = Anchors::new();
            let portable = Anchors { avx2: false, ..Anchors::new() };
            prop_assert_eq!(all(&fast, &haystack, from), expected.clone());
            prop_assert_eq!(all(&portable, &haystack, from), expected);
        }
    }

    #[test]
    fn literals_at_the_edges_are_found() {
        let anchors = Anchors::new();
        for pad in 0..70 {
            let mut haystack = vec![b'x'; pad];
            haystack.extend_from_slice(b"error_type");
            assert_eq!(
                all(&anchors, &haystack, 0),
                vec![(pad, AnchorKind::Snake)],
                "pad {pad}"
            );
            haystack.extend_from_slice(&vec![b'y'; pad]);
            assert_eq!(
                all(&anchors, &haystack, 0),
                vec![(pad, AnchorKind::Snake)],
                "pad {pad}"
            );
        }
    }
}
