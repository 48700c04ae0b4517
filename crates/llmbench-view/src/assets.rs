//! What the binary serves besides pages: its one script and one style sheet (no asset comes
//! from anywhere else).

/// Live progress on pages of running runs; marks the page ready (`data-ready`) for tests.
pub(crate) const SCRIPT: &str = include_str!("assets/view.js");

pub(crate) const STYLE: &str = include_str!("assets/view.css");

pub(crate) const SCRIPT_PATH: &str = "/assets/view.js";
pub(crate) const STYLE_PATH: &str = "/assets/view.css";
