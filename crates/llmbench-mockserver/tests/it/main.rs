//! Integration tests: a real HTTP client against the mock servers, checked against the
//! contract fixtures copied into `crates/llmbench-http/fixtures` (from the providers' published API documentation).

mod anthropic;
mod common;
mod concurrency;
mod faults;
mod log;
mod openai;
