//! The provider conformance suite (`llmbench-conformance`), one test per check.

use llmbench_conformance::{Protocol, Target};

fn target() -> Target {
    Target::new(env!("CARGO_PKG_NAME"), Protocol::OpenAi)
}

llmbench_conformance::conformance_tests!(openai, target());
