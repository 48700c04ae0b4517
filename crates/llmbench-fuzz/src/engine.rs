//! The fuzzing loop: run the seed corpus, then mutated inputs, for a bounded number of
//! iterations or time, and stop at the first input that panics, breaks a property or
//! allocates beyond its bound (saving it under `target/fuzz-failures/`).

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fastrand::Rng;

use crate::alloc;
use crate::mutate::mutate;

/// The most inputs kept in the pool to mutate (the corpus and the inputs with new outcomes).
const MAX_POOL: usize = 4096;

/// How far beyond its input a parser may allocate: at most `per_byte` bytes for each input
/// byte, plus `constant`.
#[derive(Debug, Clone, Copy)]
pub struct AllocBound {
    pub per_byte: usize,
    pub constant: usize,
}

impl AllocBound {
    fn limit(self, size: usize) -> usize {
        self.per_byte
            .saturating_mul(size)
            .saturating_add(self.constant)
    }
}

/// One parser under test.
pub trait Target {
    /// The name, also the corpus directory's.
    fn name(&self) -> &'static str;
    /// The longest input tried.
    fn max_len(&self) -> usize;
    /// Tokens of the input's format, for the mutator.
    fn dictionary(&self) -> &'static [&'static str];
    /// Runs one input. `Ok`: a short description of what happened (inputs with a new one
    /// join the pool); `Err`: a property that does not hold.
    fn run(&mut self, input: &[u8]) -> Result<String, String>;
    /// The bound on the peak allocation of [`Target::run`], if checked.
    fn alloc_bound(&self) -> Option<AllocBound>;
    /// The size the allocation bound scales with: the input's length, or what it
    /// decompresses to.
    fn size(&self, input: &[u8]) -> usize {
        input.len()
    }
}

/// How long to fuzz a target: whichever of the two ends first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Mutated inputs to run, after the corpus.
    pub iterations: u64,
    pub time: Duration,
    /// Seeds the mutations: the same seed, corpus and code run the same inputs.
    pub seed: u64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    /// Corpus files run as they are.
    pub corpus: usize,
    /// Inputs run in all (corpus included).
    pub executions: u64,
    /// Distinct outcomes seen.
    pub outcomes: usize,
    pub elapsed: Duration,
    /// The largest peak allocation of one input, in bytes.
    pub max_peak: usize,
    /// The largest peak allocation beyond the bound's constant per byte of input (over
    /// inputs of at least 64 bytes).
    pub max_ratio: f64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} inputs ({} from the corpus) in {:.1} s, {} outcomes, peak allocation {} bytes, at most {:.1} bytes per input byte beyond the constant",
            self.target,
            self.executions,
            self.corpus,
            self.elapsed.as_secs_f64(),
            self.outcomes,
            self.max_peak,
            self.max_ratio
        )
    }
}

/// An input that broke a target.
#[derive(Debug, Clone)]
pub struct Failure {
    pub target: &'static str,
    pub input: Vec<u8>,
    pub message: String,
    /// Where the input was saved, if it could be.
    pub saved: Option<PathBuf>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.message)?;
        if let Some(path) = &self.saved {
            write!(f, "\ninput saved to {}", path.display())?;
        }
        let shown: String = String::from_utf8_lossy(&self.input)
            .chars()
            .take(400)
            .collect();
        write!(f, "\ninput ({} bytes): {:?}", self.input.len(), shown)
    }
}

impl std::error::Error for Failure {}

/// The repository's corpus directory of the target `name`.
pub fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// Every file under `dir`, recursively, in path order.
fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs one input: its outcome and peak allocation, or what went wrong (a panic, a broken
/// property, an allocation over the bound).
pub fn run_input(target: &mut dyn Target, input: &[u8]) -> Result<(String, usize), String> {
    let bound = target.alloc_bound();
    let size = target.size(input);
    let (result, peak) =
        match catch_unwind(AssertUnwindSafe(|| alloc::measure(|| target.run(input)))) {
            Ok(done) => done,
            Err(payload) => return Err(format!("panicked: {}", panic_message(&*payload))),
        };
    let outcome = result?;
    if let Some(bound) = bound
        && peak > bound.limit(size)
    {
        return Err(format!(
            "allocated {peak} bytes at peak for {size} bytes of input, over the bound of {} per byte + {}",
            bound.per_byte, bound.constant
        ));
    }
    Ok((outcome, peak))
}

/// Where failing inputs are saved: `target/fuzz-failures/` of the workspace.
fn failures_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
    .join("fuzz-failures")
}

fn save(target: &str, input: &[u8]) -> Option<PathBuf> {
    // FNV-1a: a stable name for the same input, no dependency for eight lines.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let dir = failures_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{target}-{hash:016x}"));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// Runs `input`, records it in `report`, and adds it to `pool` if its outcome is new.
fn check(
    target: &mut dyn Target,
    input: Vec<u8>,
    pool: &mut Vec<Vec<u8>>,
    seen: &mut HashSet<String>,
    report: &mut Report,
) -> Result<(), Failure> {
    report.executions += 1;
    match run_input(target, &input) {
        Ok((outcome, peak)) => {
            report.max_peak = report.max_peak.max(peak);
            let size = target.size(&input);
            let constant = target.alloc_bound().map_or(0, |b| b.constant);
            // An input that allocates more per byte than any before joins the pool too:
            // mutating it further climbs towards the inputs that allocate far beyond their
            // size, which outcomes alone do not tell apart.
            let mut climbs = false;
            if size >= 64 {
                let ratio = peak.saturating_sub(constant) as f64 / size as f64;
                climbs = ratio > report.max_ratio * 1.05;
                report.max_ratio = report.max_ratio.max(ratio);
            }
            if (seen.insert(outcome) || climbs) && pool.len() < MAX_POOL {
                pool.push(input);
            }
            Ok(())
        }
        Err(message) => Err(Failure {
            target: report.target,
            saved: save(report.target, &input),
            input,
            message,
        }),
    }
}

/// Fuzzes `target`: its corpus first (regressions included), then mutated inputs within
/// `budget`. Stops at the first failure.
pub fn run(target: &mut dyn Target, budget: &Budget) -> Result<Report, Failure> {
    let name = target.name();
    let start = Instant::now();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report {
        target: name,
        corpus: 0,
        executions: 0,
        outcomes: 0,
        elapsed: Duration::ZERO,
        max_peak: 0,
        max_ratio: 0.0,
    };
    let files = corpus_files(&corpus_dir(name));
    for path in &files {
        let input = std::fs::read(path).map_err(|e| Failure {
            target: name,
            input: Vec::new(),
            message: format!("cannot read the corpus file {}: {e}", path.display()),
            saved: None,
        })?;
        // A corpus input is always kept, whatever its outcome.
        pool.push(input.clone());
        check(target, input, &mut pool, &mut seen, &mut report).map_err(|mut failure| {
            failure.message = format!("{} (corpus file {})", failure.message, path.display());
            failure
        })?;
    }
    report.corpus = files.len();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let mut rng = Rng::with_seed(budget.seed);
    let max_len = target.max_len();
    let dictionary = target.dictionary();
    for _ in 0..budget.iterations {
        if start.elapsed() >= budget.time {
            break;
        }
        let mut input = pool[rng.usize(..pool.len())].clone();
        input.truncate(max_len);
        let other = &pool[rng.usize(..pool.len())];
        let other = other[..other.len().min(max_len)].to_vec();
        mutate(&mut rng, &mut input, max_len, dictionary, &other);
        check(target, input, &mut pool, &mut seen, &mut report)?;
    }
    report.outcomes = seen.len();
    report.elapsed = start.elapsed();
    Ok(report)
}
