//! Reading a model's answer as models really write it: the headings of named sections
//! (`## Bug`, `**Fix:**`, `2) Why it happens: ...`) and the fenced code blocks, with headings
//! inside code blocks ignored.
//!
//! Shared by the graders that look at an answer's structure (`grader-sections`) and those that
//! take code out of it (`grader-python-exec`). A plugin cannot depend on another plugin's
//! library: each exports the same entry symbol, so two in one binary do not link. Pure
//! functions, no I/O.

mod outline;

pub use outline::{CodeBlock, Fence, Heading, Outline, code_blocks, match_title, normalize};
