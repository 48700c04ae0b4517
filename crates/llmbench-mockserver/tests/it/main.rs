//! Integration tests: a real HTTP client against the mock servers, checked against the
//! contract fixtures in `shared/contracts/fixtures`.

mod anthropic;
mod common;
mod concurrency;
mod faults;
mod log;
mod openai;
