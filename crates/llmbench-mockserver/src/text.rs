//! Small pure helpers: the token rule, prompt hashing, the echo answer, the seeded draws of
//! ratio mode and the header time formats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Counts tokens the way the mock server does: whitespace-separated words.
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// FNV-1a 64, fed field by field; used for prompt hashes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Writes a field followed by a separator byte, so `("ab","c")` and `("a","bc")` differ.
    pub(crate) fn field(&mut self, text: &str) {
        self.write(text.as_bytes());
        self.write(&[0xff]);
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// The ratio-mode draw for request number `seq`: uniform in `[0, 1)`, the same for the same
/// `seed` and `seq` (whatever order concurrent requests are answered in). The seed's generator
/// gives a 64-bit key; the key and `seq` seed the draw.
pub(crate) fn unit_draw(seed: u64, seq: u64) -> f64 {
    let key = fastrand::Rng::with_seed(seed).u64(..);
    fastrand::Rng::with_seed(key ^ seq).f64()
}

const VOCABULARY: [&str; 32] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "one", "two", "three", "four",
    "five", "six",
];

/// The default answer for a prompt: `tokens` words, the first `mock-<16 hex of the hash>`, the
/// rest drawn from a fixed vocabulary by a generator seeded with the hash. Empty when
/// `tokens == 0`.
pub fn echo_answer(prompt_hash: u64, tokens: usize) -> String {
    let mut rng = fastrand::Rng::with_seed(prompt_hash);
    let mut out = String::with_capacity(tokens * 8 + 24);
    for i in 0..tokens {
        if i == 0 {
            out.push_str(&format!("mock-{prompt_hash:016x}"));
        } else {
            out.push(' ');
            out.push_str(VOCABULARY[rng.usize(..VOCABULARY.len())]);
        }
    }
    out
}

/// Splits an answer into stream deltas, one per word: the first word alone, each next word with
/// the whitespace before it. Concatenating the deltas gives back the text (minus leading
/// whitespace).
pub(crate) fn deltas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if !ws && !in_word {
            // A word begins: the previous delta (if any) ends where its whitespace began.
            match start {
                None => start = Some(i),
                Some(s) => {
                    let prev_end = text[s..i].trim_end().len() + s;
                    out.push(&text[s..prev_end]);
                    start = Some(prev_end);
                }
            }
        }
        in_word = !ws;
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// Truncates `text` to its first `n` words, keeping the original spacing between them.
pub(crate) fn first_words(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let mut count = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if ws && in_word {
            count += 1;
            if count == n {
                return &text[..i];
            }
        }
        in_word = !ws;
    }
    text
}

/// RFC 3339 UTC timestamp with second precision, e.g. `2026-01-01T00:00:02Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// OpenAI's reset duration style: `250ms`, `1s`, `59s`, `6m0s`, `1h2m3s` (whole seconds rounded
/// up once at least one second).
pub(crate) fn go_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_whitespace_words() {
        assert_eq!(count_tokens("  Hello there!\n how  are\tyou "), 5);
        assert_eq!(count_tokens(""), 0);
    }

    #[test]
    fn deltas_rebuild_the_text() {
        assert_eq!(deltas("Hello there!"), vec!["Hello", " there!"]);
        assert_eq!(deltas("a  b\nc"), vec!["a", "  b", "\nc"]);
        assert_eq!(deltas("one"), vec!["one"]);
        assert!(deltas("   ").is_empty());
        assert_eq!(deltas("x ").concat(), "x ");
    }

    #[test]
    fn first_words_truncates() {
        assert_eq!(first_words("a b  c d", 2), "a b");
        assert_eq!(first_words("a b", 5), "a b");
        assert_eq!(first_words("a b", 0), "");
    }

    #[test]
    fn echo_answer_is_deterministic_and_sized() {
        let a = echo_answer(42, 10);
        assert_eq!(a, echo_answer(42, 10));
        assert_eq!(count_tokens(&a), 10);
        assert!(a.starts_with("mock-000000000000002a "));
        assert_ne!(a, echo_answer(43, 10));
        assert_eq!(echo_answer(1, 0), "");
    }

    #[test]
    fn timestamps_and_durations() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_602);
        assert_eq!(rfc3339(t), "2026-01-01T00:00:02Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "2s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn draws_are_uniformish_and_seeded() {
        let a: Vec<f64> = (0..1000).map(|k| unit_draw(7, k)).collect();
        assert!(a.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = a.iter().sum::<f64>() / 1000.0;
        assert!((0.45..0.55).contains(&mean), "{mean}");
        assert_ne!(unit_draw(7, 0), unit_draw(8, 0));
    }
}
