//! `provider-replay`'s answers reader, compiled here from the plugin's own source file.
//!
//! Every plugin exports the same entry symbol, so two plugin crates cannot link into one
//! binary, and this crate already links `grader-match`. Compiling the reader's module
//! (which uses nothing else of its crate) fuzzes exactly the plugin's code without linking
//! the plugin or changing it.

#[path = "../../../plugins/provider-replay/src/answers.rs"]
mod answers;

pub use answers::{Answers, AnswersError, Recorded};
