//! Mutation fuzzing on the stable toolchain for the parsers that read input people and servers
//! hand us: the config parser and validator, the items-file readers (JSONL, JSON array, CSV,
//! TSV, gzip), the replay answers reader, the SSE parser and `grader-match`'s options.
//!
//! `cargo fuzz` needs nightly sanitizers; this is the stable equivalent the tests and
//! `cargo xtask fuzz` drive. Each [`Target`] starts from a seed corpus kept in the repository
//! (`corpus/<target>/`, with crash inputs under `corpus/<target>/regressions/`), mutates it
//! ([`mutate`]), and runs every input checking that the parser does not panic, that the
//! properties the target states hold, and, under [`alloc::Counting`] as the global allocator,
//! that its peak allocation stays within a multiple of the input's size ([`AllocBound`]).
//! There is no coverage feedback; an input whose outcome (its error message with numbers
//! blanked, say) was not seen before joins the pool of inputs to mutate, a cheap stand-in,
//! and so does one that allocates more per input byte than any before it.

pub mod alloc;
pub mod engine;
pub mod mutate;
pub mod replay;
pub mod targets;

pub use engine::{AllocBound, Budget, Failure, Report, Target, corpus_dir, run, run_input};
