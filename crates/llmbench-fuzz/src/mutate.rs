//! Byte-level mutations of an input, in the style of libFuzzer's: bit flips, interesting
//! bytes, deletions, insertions, dictionary tokens, repeated slices and splices with another
//! input of the pool. Repeating a slice many times is what reaches the inputs that would
//! make a parser allocate far beyond their size (one long field name shared by many
//! records, one long id shared by many events).

use fastrand::Rng;

/// Bytes that delimit or escape something in at least one of the formats fuzzed here.
const INTERESTING_BYTES: &[u8] = b"\0\x7f\x80\xff\n\r\t \"'\\,:;=#{}[]<>0-.eE";

/// Tokens useful to every target: numbers at the edges of their types, odd characters.
const COMMON_TOKENS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1e308",
    "1e309",
    "-1e-400",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "NaN",
    "inf",
    "null",
    "true",
    "\u{feff}",
    "\u{0}",
    "é",
    "✓",
    "\u{10ffff}",
    "\r\n",
];

/// Mutates `data` in place with one to four stacked mutations, within `max_len` bytes.
/// `dictionary`: tokens of the target's format; `other`: another input, for splices.
pub fn mutate(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    max_len: usize,
    dictionary: &[&str],
    other: &[u8],
) {
    for _ in 0..rng.usize(1..=4) {
        one(rng, data, max_len, dictionary, other);
    }
    data.truncate(max_len);
}

fn token<'a>(rng: &mut Rng, dictionary: &[&'a str]) -> &'a [u8] {
    let common = dictionary.is_empty() || rng.u8(..) < 64;
    if common {
        COMMON_TOKENS[rng.usize(..COMMON_TOKENS.len())].as_bytes()
    } else {
        dictionary[rng.usize(..dictionary.len())].as_bytes()
    }
}

/// A position in `0..=len`.
fn place(rng: &mut Rng, len: usize) -> usize {
    rng.usize(..=len)
}

/// A range of `data`, of at most `most` bytes.
fn range(rng: &mut Rng, len: usize, most: usize) -> (usize, usize) {
    let start = rng.usize(..len);
    let end = (start + 1 + rng.usize(..most.max(1))).min(len);
    (start, end)
}

fn one(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize, dictionary: &[&str], other: &[u8]) {
    let room = max_len.saturating_sub(data.len());
    match rng.u8(..12) {
        // Flip a bit.
        0 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] ^= 1 << rng.u8(..8);
        }
        // Set a byte to an interesting one.
        1 if !data.is_empty() => {
            let i = rng.usize(..data.len());
            data[i] = INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())];
        }
        // Delete a range.
        2 | 3 if !data.is_empty() => {
            let (start, end) = range(rng, data.len(), 64);
            data.drain(start..end);
        }
        // Insert random bytes.
        4 => {
            let at = place(rng, data.len());
            let bytes: Vec<u8> = (0..rng.usize(1..=8).min(room))
                .map(|_| rng.u8(..))
                .collect();
            data.splice(at..at, bytes);
        }
        // Insert a token (the target's or a common one).
        5..=7 => {
            let at = place(rng, data.len());
            let token = token(rng, dictionary);
            data.splice(at..at, token.iter().copied().take(room));
        }
        // Overwrite with a token.
        8 if !data.is_empty() => {
            let token = token(rng, dictionary);
            let at = rng.usize(..data.len());
            let end = (at + token.len()).min(data.len());
            data.splice(at..end, token.iter().copied());
        }
        // Repeat a slice: once, or many times.
        9 if !data.is_empty() => {
            let (start, end) = range(rng, data.len(), 128);
            let slice = data[start..end].to_vec();
            let times = if rng.bool() { 1 } else { rng.usize(2..=256) };
            let wanted = (slice.len() * times).min(room);
            let copies: Vec<u8> = slice.iter().copied().cycle().take(wanted).collect();
            data.splice(end..end, copies);
        }
        // A long run of one byte (a long name, value or line).
        10 => {
            let at = place(rng, data.len());
            let byte = if rng.bool() {
                b'a'
            } else {
                INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())]
            };
            let len = rng.usize(1..=max_len / 2).min(room);
            data.splice(at..at, std::iter::repeat_n(byte, len));
        }
        // Splice: keep a head of this input and a tail of another.
        11 if !other.is_empty() => {
            let cut = place(rng, data.len());
            let from = rng.usize(..other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        _ => {
            let at = place(rng, data.len());
            let token = token(rng, dictionary);
            data.splice(at..at, token.iter().copied().take(room));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_within_the_length_and_change_inputs() {
        let mut rng = Rng::with_seed(7);
        let seed = b"{\"id\": \"a\", \"question\": \"q\"}\n".to_vec();
        let mut changed = 0;
        for _ in 0..2000 {
            let mut data = seed.clone();
            mutate(&mut rng, &mut data, 64, &["\"id\""], b"x,y\n");
            assert!(data.len() <= 64);
            changed += usize::from(data != seed);
        }
        assert!(changed > 1800, "{changed}");
        let mut empty = Vec::new();
        for _ in 0..100 {
            mutate(&mut rng, &mut empty, 16, &[], b"");
            assert!(empty.len() <= 16);
        }
    }
}
