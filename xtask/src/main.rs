//! Project automation (rust-analyzer's xtask pattern).
fn main() {}
