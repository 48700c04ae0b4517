//! Inputs that once broke a parser, each a named test (their files are also under
//! `corpus/<target>/regressions/`, which every fuzz run replays), and checks that the
//! harness itself catches what it is meant to catch.

use std::path::Path;

use llmbench_fuzz::alloc::measure;
use llmbench_fuzz::{AllocBound, Budget, Target, corpus_dir, run, run_input, targets};

fn replay(target: &str, file: &str) {
    let mut target = targets::by_name(target).expect("a target of that name");
    let path = corpus_dir(target.name()).join("regressions").join(file);
    let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(message) = run_input(&mut *target, &input) {
        panic!("{}: {message}", path.display());
    }
}

/// The SSE parser forgot a pending `\r` when pushed an empty chunk, so the `\n` after it
/// read as a blank line and dispatched (here: dropped) the event early.
#[test]
fn sse_empty_chunk_after_cr() {
    replay("sse", "empty-chunk-after-cr.sse");
    let mut parser = llmbench_http::SseParser::new();
    parser.push(b"event: a\r");
    parser.push(b"");
    parser.push(b"\ndata: 1\n\n");
    let event = parser.next_event().expect("one event");
    assert_eq!(
        (event.event.as_deref(), event.data.as_str()),
        (Some("a"), "1")
    );
}

/// Every SSE event held a copy of the last `id:`, so a long id followed by many short events
/// took memory quadratic in the stream's size (found by the fuzzer: 349 KB for 4 KB).
#[test]
fn sse_long_id_many_events() {
    replay("sse", "long-id-many-events.sse");
    // 64 KiB of id and 8192 events: each event shares the id.
    let mut input = format!("id: {}\n", "i".repeat(64 << 10)).into_bytes();
    input.extend(b"data:\n\n".repeat(8192));
    let mut target = targets::by_name("sse").unwrap();
    if let Err(message) = run_input(&mut *target, &input) {
        panic!("{message}");
    }
}

/// Every CSV record held a copy of each column name, so one long name over many short rows
/// took memory quadratic in the file's size (16 KB of name, 8000 rows: 260 MB). Names are
/// now at most 256 bytes.
#[test]
fn csv_long_column_name_many_rows() {
    replay("items-csv", "long-column-name-many-rows.csv");
}

/// Not a bug, the bound's reason: each short row's record and item are B-tree maps, whose
/// smallest node is about half a KiB, so a 3-byte row costs about 1.2 KiB (found by the
/// fuzzer with a bound of 256 per byte).
#[test]
fn csv_short_rows_stay_within_the_bound() {
    replay("items-csv", "empty-rows-small-maps.csv");
}

#[test]
fn the_counter_sees_allocations_and_frees() {
    let ((), peak) = measure(|| {
        let big = vec![1_u8; 1 << 20];
        assert_eq!(big.len(), 1 << 20);
    });
    assert!((1 << 20..(1 << 20) + 4096).contains(&peak), "{peak}");
    let (kept, peak) = measure(|| vec![0_u64; 1000]);
    assert!(peak >= 8000, "{peak}");
    drop(kept);
}

/// Panics on `boom`; allocates 64 KiB per input byte on `hog`.
struct Faulty;

impl Target for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn max_len(&self) -> usize {
        16
    }
    fn dictionary(&self) -> &'static [&'static str] {
        &["boom", "hog"]
    }
    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        if input.windows(4).any(|w| w == b"boom") {
            panic!("boom");
        }
        if input.starts_with(b"hog") {
            let hog = vec![0_u8; input.len() << 16];
            return Ok(format!("hog {}", hog.len()));
        }
        Ok(String::new())
    }
    fn alloc_bound(&self) -> Option<AllocBound> {
        Some(AllocBound {
            per_byte: 64,
            constant: 1024,
        })
    }
}

#[test]
fn the_harness_catches_panics_and_allocations_over_the_bound() {
    let e = run_input(&mut Faulty, b"xxboomxx").unwrap_err();
    assert_eq!(e, "panicked: boom");
    let e = run_input(&mut Faulty, b"hog").unwrap_err();
    assert!(
        e.starts_with("allocated 1966") && e.contains(" bytes at peak for 3 bytes of input"),
        "{e}"
    );
    assert!(run_input(&mut Faulty, b"fine").is_ok());

    // The mutator finds the panic from an empty corpus, and the failure names the input.
    let budget = Budget {
        iterations: 100_000,
        time: std::time::Duration::from_secs(60),
        seed: 3,
    };
    let failure = run(&mut Faulty, &budget).unwrap_err();
    assert!(
        failure.message.starts_with("panicked: boom") || failure.message.starts_with("allocated"),
        "{failure}"
    );
    let saved = failure.saved.expect("the input is saved");
    assert_eq!(std::fs::read(&saved).unwrap(), failure.input);
    std::fs::remove_file(Path::new(&saved)).unwrap();
}
