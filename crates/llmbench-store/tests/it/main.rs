//! Integration tests for the results store: round trips, ordering, exports and crash safety.

mod common;
mod crash;
mod export;
mod open;
mod runs;
mod samples;
