//! `provider-openai`: OpenAI Chat Completions (`POST {base-url}/chat/completions`), streamed
//! or not, against OpenAI or any OpenAI-compatible server: vLLM, llama.cpp's `llama-server`,
//! Ollama (`http://localhost:11434/v1`), hosted gateways, the in-repo mock server.
//!
//! Options:
//! - `base-url` (string, default `https://api.openai.com/v1`): `/chat/completions` is
//!   appended, so a compatible server's base usually ends in `/v1`.
//! - `max-tokens-field` (`max_completion_tokens` (default) or `max_tokens`): the request
//!   field that carries the output limit; older servers know only `max_tokens`.
//!
//! The API key is optional (local servers need none). When the config names one
//! (`api-key-env`), it is sent as `Authorization: Bearer <key>`, never logged, and removed
//! from any error text a server might echo it in. The public endpoint needs a key.
//!
//! ```toml
//! [providers.local-vllm]
//! plugin = "provider-openai"
//! model = "Qwen/Qwen2.5-0.5B-Instruct"
//! options = { base-url = "http://127.0.0.1:8000/v1", max-tokens-field = "max_tokens" }
//! ```
//!
//! # What a completion holds
//! - Text: the first choice's content. Stop reason: `stop` is the end of the turn,
//!   `length` the output limit, anything else verbatim.
//! - Usage: `input_tokens = prompt_tokens - cached_tokens` and `cache_read_tokens =
//!   cached_tokens` (so cached tokens are priced at their own rate), `output_tokens =
//!   completion_tokens`, `reasoning_tokens` (included in output). Streamed requests ask for
//!   `stream_options.include_usage`; a stream that ends without its usage chunk has unknown
//!   usage (`None`, never `0`) and keeps its text and stop reason.
//! - Timings: latency from sending to `[DONE]` (or the whole body); time to first token at
//!   the first non-empty `delta.content`, streamed answers only.
//!
//! Sampling fields left unset are not sent; `seed` is sent as `seed`, stop sequences as
//! `stop`, and `top_k` (not an OpenAI parameter, but vLLM, llama.cpp and Ollama take it)
//! only when set. The plugin never retries: it classifies each failure (error bodies nested
//! or flat, as vLLM sends them; see `llmbench-http`) and the runner decides.
//!
//! The code lives in the library `llmbench-provider-openai`, which `grader-llm-judge` also
//! links; this crate only exports it as a plugin.

llmbench_plugin_sdk::export_provider!(llmbench_provider_openai::OpenAiProvider);
