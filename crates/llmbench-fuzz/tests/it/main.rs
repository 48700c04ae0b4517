//! Runs every fuzz target for a bounded number of inputs (seconds in all on this machine in
//! debug), its corpus and regressions included, under the counting allocator; and the
//! named regression tests for the inputs that once broke a parser.
//!
//! `LLMBENCH_FUZZ_SECONDS=N` runs each target for N seconds instead of a fixed count, and
//! `LLMBENCH_FUZZ_SEED` changes the mutations (`cargo xtask fuzz` sets both).

mod regressions;
mod targets;

#[global_allocator]
static ALLOCATOR: llmbench_fuzz::alloc::Counting = llmbench_fuzz::alloc::Counting;
