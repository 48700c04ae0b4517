//! Integration tests of the built-in reports: the HTML report in a real headless browser.

mod browser;
mod png;
