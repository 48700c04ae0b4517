//! Integration tests through the real model (SmolLM2-135M-Instruct). The first test to need
//! it fetches it into the model cache (`$XDG_CACHE_HOME/llmbench/models`), so a fresh machine
//! works; afterwards the cached file is reused.

mod batch;
mod checksum;
mod conformance;
mod generate;
mod plugin;
mod provider;
mod tokens;

use std::path::PathBuf;
use std::sync::OnceLock;

use llmbench_models::{Cache, smollm2_135m_instruct};
use provider_local::engine::Model;

/// A prompt whose greedy answer runs past 1500 tokens (about 20 s here) instead of ending on
/// its own: cancellation tests need a request that would keep the model busy.
const LONG_ANSWER: &str =
    "Write a very long story about a dragon and a knight, at least 3000 words.";

/// The default model's file in the cache, fetched on first use.
fn model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        Cache::new(Cache::default_dir().expect("a cache directory"))
            .ensure(&smollm2_135m_instruct())
            .expect("the default model can be fetched and verified")
    })
    .clone()
}

fn model() -> Model {
    Model::load(&model_path()).expect("the default model loads")
}

/// This package's cdylib, as cargo last built it (refused if stale: see
/// `llmbench_testsupport::built_plugin`).
fn library() -> PathBuf {
    llmbench_testsupport::built_plugin(env!("CARGO_PKG_NAME"))
}
