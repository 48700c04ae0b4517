//! `provider-anthropic`: Claude through the Anthropic Messages API (`POST /v1/messages`),
//! streamed (server-sent events) or not, against the public endpoint or any server that
//! speaks the protocol (Ollama's Anthropic-compatible API, the in-repo mock server).
//!
//! Options:
//! - `base-url` (string, default `https://api.anthropic.com`): `/v1/messages` is appended.
//! - `anthropic-version` (string, default `2023-06-01`): the `anthropic-version` header.
//!
//! The API key is the one the host read from the environment variable the config names
//! (`api-key-env`), sent as `x-api-key`; it is never logged and is removed from any error
//! text a server might echo it in. The public endpoint needs a key; a custom `base-url` may
//! go without.
//!
//! ```toml
//! [providers.haiku]
//! plugin = "provider-anthropic"
//! model = "claude-haiku-4-5"
//! api-key-env = "ANTHROPIC_API_KEY"
//! ```
//!
//! # What a completion holds
//! - Text: the concatenated `text` blocks (thinking and tool use are left out).
//! - Stop reason: `end_turn`, `max_tokens`, `stop_sequence`, anything else verbatim.
//! - Usage: `input_tokens` (which excludes cached tokens), `cache_read_input_tokens`,
//!   `cache_creation_input_tokens`, and `output_tokens`; streamed, from `message_start` and
//!   the cumulative `message_delta` (the `output_tokens` of `message_start` is a
//!   placeholder and is not used).
//! - Timings: latency from sending to `message_stop` (or the whole body); time to first
//!   token at the first non-empty `text_delta`, streamed answers only.
//!
//! Sampling fields left unset are not sent; `seed` has no Messages API equivalent and is
//! ignored. The plugin never retries: it classifies each failure (see `llmbench-http`) and
//! the runner decides.
//!
//! The code lives in the library `llmbench-provider-anthropic`, which `grader-llm-judge` also
//! links; this crate only exports it as a plugin.

llmbench_plugin_sdk::export_provider!(llmbench_provider_anthropic::AnthropicProvider);
