//! Integration tests for the results store: round trips, ordering, exports and crash safety.

mod aggregates;
mod common;
mod crash;
mod export;
mod faults;
mod open;
mod postgres;
mod postgres_ops;
mod postgres_tls;
mod remember;
mod report_reads;
mod runs;
mod samples;
mod stream;
