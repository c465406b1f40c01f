//! "Could any of these patterns occur here?" in one pass, for the searches
//! that usually find nothing.
//!
//! Every recorded line is searched for each of its exchange's secrets in
//! every encoded form, in every view of the line ([`super::forms`]). On a
//! redacted line the answer is nearly always "none", and searching form by
//! form cost a pass of the view per form (tens of passes per exchange). A
//! packed multi-pattern searcher (Teddy, SIMD, from `aho-corasick`) over
//! all the forms answers "none" in one pass; only a view it cannot clear
//! is searched form by form, so what is found, and where, is unchanged.

use aho_corasick::packed::{Config, MatchKind, Searcher};

/// Past this many patterns a packed searcher's buckets fill and it clears
/// little; the form-by-form search (or its automaton) runs alone.
const MAX_PATTERNS: usize = 64;

/// One pass over a haystack for every pattern, ASCII case ignored.
#[derive(Clone, Debug)]
pub(super) struct Prefilter {
    /// `None` when no packed searcher could be built (no SIMD support, too
    /// many patterns, an empty pattern): then nothing is cleared.
    searcher: Option<Searcher>,
}

impl Prefilter {
    /// A prefilter for `patterns`, each compared ignoring ASCII case. An
    /// empty pattern occurs in every haystack (the exact search finds it
    /// at every position), so with one nothing is cleared.
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p [u8]>) -> Prefilter {
        let mut lowered: Vec<Vec<u8>> = patterns
            .into_iter()
            .map(<[u8]>::to_ascii_lowercase)
            .collect();
        lowered.sort_unstable();
        lowered.dedup();
        let clears = !lowered.is_empty()
            && lowered.len() <= MAX_PATTERNS
            && lowered.iter().all(|pattern| !pattern.is_empty());
        let searcher = clears
            .then(|| {
                Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .heuristic_pattern_limits(false)
                    .builder()
                    .extend(&lowered)
                    .build()
            })
            .flatten();
        Prefilter { searcher }
    }

    /// False only when no pattern occurs in `haystack`, ignoring ASCII
    /// case. A leftmost search finds some match wherever any pattern
    /// occurs, so "no match" clears every pattern at every position.
    pub fn may_occur(&self, haystack: &[u8]) -> bool {
        let Some(searcher) = &self.searcher else {
            return true;
        };
        // Lowercasing the haystack makes every cased spelling of a pattern
        // its lowercase one; bytes past ASCII are left as they are on
        // both sides.
        let lowered = haystack.to_ascii_lowercase();
        searcher.find(&lowered).is_some()
    }

    /// True when a packed searcher was built (tests: the prefilter is not
    /// silently off).
    #[cfg(test)]
    pub fn is_active(&self) -> bool {
        self.searcher.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(patterns: &[Vec<u8>], haystack: &[u8]) -> bool {
        let haystack = haystack.to_ascii_lowercase();
        patterns.iter().filter(|p| !p.is_empty()).any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            haystack.windows(pattern.len()).any(|w| w == pattern)
        })
    }

    #[test]
    fn clears_only_what_holds_no_pattern_in_any_case() {
        let prefilter = Prefilter::new([&b"Tok3nValue"[..], b"dG9rM25W", b"t\0o\0k\0"]);
        assert!(prefilter.is_active());
        assert!(prefilter.may_occur(b"x TOK3NVALUE y"));
        assert!(prefilter.may_occur(b"...dg9rm25w..."), "case is ignored");
        assert!(prefilter.may_occur(b"\0t\0o\0k\0"));
        assert!(prefilter.may_occur(b"tok3nvalue"), "short haystacks too");
        assert!(!prefilter.may_occur(b"tok3nvalu"));
        assert!(!prefilter.may_occur(&b"{\"a\":\"b\"}".repeat(100)));
        assert!(!prefilter.may_occur(b""));
    }

    #[test]
    fn overlapping_and_prefix_patterns_are_each_seen() {
        let prefilter = Prefilter::new([&b"abcdefgh"[..], b"defghijk", b"abcdefghij"]);
        for haystack in [&b"__defghijk__"[..], b"abcdefgh", b"xxabcdefghijkxx"] {
            assert!(prefilter.may_occur(haystack), "{haystack:?}");
        }
    }

    #[test]
    fn too_many_patterns_clear_nothing() {
        let patterns: Vec<Vec<u8>> = (0..=MAX_PATTERNS)
            .map(|i| format!("pattern-{i:04}").into_bytes())
            .collect();
        let prefilter = Prefilter::new(patterns.iter().map(Vec::as_slice));
        assert!(!prefilter.is_active());
        assert!(prefilter.may_occur(b"nothing here"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Never clears a haystack that holds a pattern: random patterns
        /// over a small alphabet (so they overlap and repeat), planted in
        /// random haystacks in a random case, or not.
        #[test]
        fn never_clears_a_haystack_holding_a_pattern(
            patterns in prop::collection::vec("[aAbB0\\x00+/=%-]{8,14}", 1..12),
            noise in "[aAbB0\\x00+/=%-]{0,300}",
            plant in prop::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>())),
        ) {
            let patterns: Vec<Vec<u8>> = patterns.into_iter().map(String::into_bytes).collect();
            let mut haystack = noise.into_bytes();
            if let Some((which, at, upper)) = plant {
                let mut pattern = patterns[which.index(patterns.len())].clone();
                if upper {
                    pattern.make_ascii_uppercase();
                }
                let at = at.index(haystack.len() + 1);
                haystack.splice(at..at, pattern);
            }
            let prefilter = Prefilter::new(patterns.iter().map(Vec::as_slice));
            prop_assert!(prefilter.is_active());
            prop_assert_eq!(prefilter.may_occur(&haystack), naive(&patterns, &haystack));
        }
    }
}
