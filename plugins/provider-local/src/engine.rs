//! The engine: llama.cpp through `llama-cpp-2`, with nothing of the plugin around it.
//!
//! The provider and the bare decode benchmark (`examples/decode_bench.rs`) both drive a
//! [`Session`] through [`Session::generate`], so comparing them measures the harness and
//! nothing else.
//!
//! A [`Model`] is `Send + Sync`; a [`Session`] (the llama.cpp context, its KV cache and batch)
//! borrows its model and stays on the thread that created it. A [`BatchSession`] is its
//! multi-sequence counterpart: several requests decoded together, one token each per
//! llama.cpp batch (see [`batch`]).

mod batch;

pub use batch::{BatchSession, Finished};

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llmbench_plugin_sdk::core::Message;

use crate::chat::{ChatMl, IM_END, IM_START, Segment};

pub use llama_cpp_2::token::LlamaToken as Token;

/// How the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Threads for both prompt reading and decoding.
    pub threads: u32,
    /// The context (KV cache) size: prompt plus answer.
    pub context_tokens: u32,
    /// Prompt tokens decoded per llama.cpp call.
    pub batch_tokens: u32,
    /// llama.cpp's flash attention. Off by default: on this 2-core machine with one thread
    /// and a 2442-token prompt it decoded at 20-26 tokens/s against 37 without it (prompt
    /// reading and short prompts alike either way).
    pub flash_attention: bool,
    /// Sequences a [`BatchSession`] decodes together (each with `context_tokens` of KV
    /// cache). 1: requests are served one at a time by a [`Session`].
    pub parallel_sequences: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            // The founding race-condition prompt alone is 2442 tokens.
            context_tokens: 4096,
            batch_tokens: 512,
            flash_attention: false,
            parallel_sequences: 1,
        }
    }
}

/// What the engine can fail at.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot load model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("model {path} is not supported: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("cannot create a llama.cpp context: {0}")]
    Context(String),
    #[error("the prompt has {prompt} tokens but the context holds {context}")]
    PromptTooLong { prompt: usize, context: u32 },
    #[error("llama.cpp failed to decode: {0}")]
    Decode(String),
    #[error("every sequence of the batch is busy")]
    NoRoom,
}

/// llama.cpp's process-wide backend, initialized once per copy of this library, with its logs
/// routed to `tracing`.
fn backend() -> &'static LlamaBackend {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        // SAFETY: `forward_log` is a valid callback for the whole process lifetime and
        // ignores its null user data.
        unsafe { llama_cpp_sys_2::llama_log_set(Some(forward_log), std::ptr::null_mut()) };
        LlamaBackend::init().expect("only this OnceLock initializes the llama.cpp backend")
    })
}

/// llama.cpp's log lines as `tracing` events. Its `info` chatter (hundreds of lines per model
/// load) goes to `debug`; continuation fragments (progress dots) to `trace`.
unsafe extern "C" fn forward_log(
    level: llama_cpp_sys_2::ggml_log_level,
    text: *const std::ffi::c_char,
    _user_data: *mut std::ffi::c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of the call.
    let text = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    match level {
        llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR => tracing::error!(target: "llama.cpp", "{text}"),
        llama_cpp_sys_2::GGML_LOG_LEVEL_WARN => tracing::warn!(target: "llama.cpp", "{text}"),
        llama_cpp_sys_2::GGML_LOG_LEVEL_INFO | llama_cpp_sys_2::GGML_LOG_LEVEL_DEBUG => {
            tracing::debug!(target: "llama.cpp", "{text}")
        }
        _ => tracing::trace!(target: "llama.cpp", "{text}"),
    }
}

/// A loaded GGUF model with a ChatML template.
#[derive(Debug)]
pub struct Model {
    inner: LlamaModel,
    path: PathBuf,
    chat: ChatMl,
    im_start: Token,
    im_end: Token,
}

impl Model {
    /// Load a model and check that it speaks ChatML with `<|im_start|>`/`<|im_end|>` as
    /// single special tokens. Blocking.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let inner = LlamaModel::load_from_file(backend(), path, &LlamaModelParams::default())
            .map_err(|e| EngineError::Load {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let unsupported = |reason: String| EngineError::Unsupported {
            path: path.to_owned(),
            reason,
        };
        let template = inner
            .meta_val_str("tokenizer.chat_template")
            .map_err(|e| unsupported(format!("no chat template in its metadata ({e})")))?;
        let chat = ChatMl::from_jinja(&template).map_err(unsupported)?;
        let special = |text: &str| -> Result<Token, EngineError> {
            match inner.vocab().tokenize(text.as_bytes(), false, true)[..] {
                [token] if inner.vocab().is_control(token) => Ok(token),
                ref tokens => Err(unsupported(format!(
                    "`{text}` is not one special token (it tokenizes to {tokens:?})"
                ))),
            }
        };
        let im_start = special(IM_START)?;
        let im_end = special(IM_END)?;
        Ok(Self {
            inner,
            path: path.to_owned(),
            chat,
            im_start,
            im_end,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn chat(&self) -> &ChatMl {
        &self.chat
    }

    /// The tokens of a conversation with the chat template applied, ending with the opening
    /// of the assistant's turn. Message text never turns into special tokens.
    pub fn prompt_tokens(&self, system: Option<&str>, messages: &[Message]) -> Vec<Token> {
        let mut tokens = Vec::new();
        for segment in self.chat.segments(system, messages) {
            match segment {
                Segment::Special(IM_START) => tokens.push(self.im_start),
                Segment::Special(IM_END) => tokens.push(self.im_end),
                Segment::Special(other) => unreachable!("ChatML has no special `{other}`"),
                Segment::Text(text) => tokens.extend(self.tokenize(&text, false)),
            }
        }
        tokens
    }

    /// Tokenize text; with `parse_special`, the text of special tokens becomes those tokens.
    /// No BOS is added (SmolLM2's metadata says not to).
    pub fn tokenize(&self, text: &str, parse_special: bool) -> Vec<Token> {
        self.inner
            .vocab()
            .tokenize(text.as_bytes(), false, parse_special)
    }

    /// A token's bytes; special tokens render as their text.
    pub fn piece(&self, token: Token) -> Vec<u8> {
        self.inner.vocab().token_to_piece(token, true, None)
    }

    /// Whether the token is a special (control) token.
    pub fn is_control(&self, token: Token) -> bool {
        self.inner.vocab().is_control(token)
    }

    /// Whether the token ends generation (end of sequence or of turn).
    pub fn is_end_of_generation(&self, token: Token) -> bool {
        self.inner.vocab().is_eog(token)
    }

    /// A context to generate with. Blocking (allocates the KV cache).
    pub fn session(&self, options: &EngineOptions) -> Result<Session<'_>, EngineError> {
        let shape = ContextShape::new(options);
        let ctx = self.context(shape.params(options))?;
        Ok(Session {
            model: self,
            ctx,
            batch: LlamaBatch::new(shape.batch_tokens as usize, 1),
            batch_tokens: shape.batch_tokens as usize,
            context_tokens: shape.context_tokens,
        })
    }

    fn context(&self, params: LlamaContextParams) -> Result<LlamaContext<'_>, EngineError> {
        self.inner
            .new_context(backend(), params)
            .map_err(|e| EngineError::Context(e.to_string()))
    }
}

/// The sizes of a context, from the options (clamped to what llama.cpp accepts).
#[derive(Debug, Clone, Copy)]
struct ContextShape {
    /// Per sequence.
    context_tokens: u32,
    batch_tokens: u32,
    threads: i32,
}

impl ContextShape {
    fn new(options: &EngineOptions) -> Self {
        let context_tokens = options.context_tokens.max(16);
        Self {
            context_tokens,
            batch_tokens: options.batch_tokens.clamp(1, context_tokens),
            threads: i32::try_from(options.threads.max(1)).unwrap_or(i32::MAX),
        }
    }

    /// The context parameters for one sequence.
    fn params(&self, options: &EngineOptions) -> LlamaContextParams {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.context_tokens))
            .with_n_batch(self.batch_tokens)
            .with_n_ubatch(self.batch_tokens)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads)
            .with_flash_attention_policy(if options.flash_attention {
                llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED
            } else {
                llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED
            })
    }
}

/// How to generate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateParams {
    pub max_tokens: u32,
    /// Greedy decoding unless this is above zero.
    pub temperature: Option<f32>,
    /// Applied only when sampling (temperature above zero).
    pub top_p: Option<f32>,
    /// Applied only when sampling (temperature above zero).
    pub top_k: Option<u32>,
    pub seed: u32,
    /// Generation stops at the first of these; it is not part of the text.
    pub stop: Vec<String>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    MaxTokens,
    /// The context is full.
    ContextFull,
    StopString,
    /// The cancellation flag was set.
    Cancelled,
}

/// The outcome of [`Session::generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    pub finish: Finish,
    pub prompt_tokens: usize,
    /// Tokens sampled into the answer, including those of a trimmed stop string and excluding
    /// the end-of-generation token.
    pub output_tokens: usize,
    pub started_at: Instant,
    /// When the prompt had been read (its last batch decoded).
    pub prompt_read_at: Instant,
    /// When the first non-empty piece of text was produced.
    pub first_text_at: Option<Instant>,
    pub finished_at: Instant,
}

impl Generation {
    /// Time to first token, from the start of [`Session::generate`].
    pub fn time_to_first_token(&self) -> Option<Duration> {
        self.first_text_at.map(|t| t - self.started_at)
    }

    /// Prompt tokens per second, over the time to first token (what a client can see).
    pub fn prompt_tokens_per_second(&self) -> Option<f64> {
        let secs = self.time_to_first_token()?.as_secs_f64();
        (secs > 0.0).then(|| self.prompt_tokens as f64 / secs)
    }

    /// Output tokens per second after the first one (the formula of
    /// `llmbench_core::Timings::output_tokens_per_second`).
    pub fn decode_tokens_per_second(&self) -> Option<f64> {
        let first = self.first_text_at?;
        let secs = (self.finished_at - first).as_secs_f64();
        (self.output_tokens > 1 && secs > 0.0).then(|| (self.output_tokens - 1) as f64 / secs)
    }
}

/// A llama.cpp context bound to a model: serves one generation at a time.
pub struct Session<'m> {
    model: &'m Model,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    batch_tokens: usize,
    context_tokens: u32,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("model", &self.model.path)
            .field("batch_tokens", &self.batch_tokens)
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

impl Session<'_> {
    pub fn model(&self) -> &Model {
        self.model
    }

    /// Generate an answer to `prompt` (tokens, chat template applied). Checks `cancel`
    /// between prompt batches and between tokens, and returns [`Finish::Cancelled`] promptly
    /// once it is set. The KV cache is cleared first: requests are independent.
    pub fn generate(
        &mut self,
        prompt: &[Token],
        params: &GenerateParams,
        cancel: &AtomicBool,
    ) -> Result<Generation, EngineError> {
        let started_at = Instant::now();
        let n_ctx = self.context_tokens as usize;
        if prompt.is_empty() || prompt.len() >= n_ctx {
            return Err(EngineError::PromptTooLong {
                prompt: prompt.len(),
                context: self.context_tokens,
            });
        }
        self.ctx.clear_kv_cache();
        let mut out = Output::new(params.stop.clone());
        let finish = |out: Output, finish, prompt_read_at| Generation {
            text: out.text,
            finish,
            prompt_tokens: prompt.len(),
            output_tokens: out.tokens,
            started_at,
            prompt_read_at,
            first_text_at: out.first_text_at,
            finished_at: Instant::now(),
        };

        // Read the prompt, batch by batch; logits only for its last token.
        for (i, chunk) in prompt.chunks(self.batch_tokens).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(finish(out, Finish::Cancelled, Instant::now()));
            }
            self.batch.clear();
            let offset = i * self.batch_tokens;
            for (j, &token) in chunk.iter().enumerate() {
                let pos = offset + j;
                self.batch
                    .add(token, pos as i32, &[0], pos == prompt.len() - 1)
                    .map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
        }
        let prompt_read_at = Instant::now();

        let mut sampler = sampler(params);
        let mut logits_index = self.batch.n_tokens() - 1;
        let mut pos = prompt.len();
        let reason = loop {
            if cancel.load(Ordering::Relaxed) {
                break Finish::Cancelled;
            }
            if out.tokens >= params.max_tokens as usize {
                break Finish::MaxTokens;
            }
            if pos >= n_ctx {
                break Finish::ContextFull;
            }
            let token = sampler.sample(&self.ctx, logits_index);
            if self.model.is_end_of_generation(token) {
                break Finish::EndOfGeneration;
            }
            let piece = self.model.inner.vocab().token_to_piece(token, false, None);
            if out.push(&piece) {
                break Finish::StopString;
            }
            if out.tokens >= params.max_tokens as usize {
                // No need to read a token whose successor will not be sampled.
                break Finish::MaxTokens;
            }
            self.batch.clear();
            self.batch
                .add(token, pos as i32, &[0], true)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            logits_index = 0;
            pos += 1;
        };
        out.finish();
        Ok(finish(out, reason, prompt_read_at))
    }
}

/// Greedy unless the temperature is above zero; then top-k, top-p, temperature and a seeded
/// draw, in llama.cpp's usual order.
fn sampler(params: &GenerateParams) -> LlamaSampler {
    match params.temperature {
        Some(t) if t > 0.0 => {
            let mut chain = Vec::new();
            if let Some(k) = params.top_k {
                chain.push(LlamaSampler::top_k(i32::try_from(k).unwrap_or(i32::MAX)));
            }
            if let Some(p) = params.top_p {
                chain.push(LlamaSampler::top_p(p, 1));
            }
            chain.push(LlamaSampler::temp(t));
            chain.push(LlamaSampler::dist(params.seed));
            LlamaSampler::chain_simple(chain)
        }
        _ => LlamaSampler::greedy(),
    }
}

/// The answer as it grows: UTF-8 reassembled across token boundaries, stop strings cut.
struct Output {
    text: String,
    pending: Vec<u8>,
    tokens: usize,
    first_text_at: Option<Instant>,
    stop: Vec<String>,
    longest_stop: usize,
}

impl Output {
    fn new(stop: Vec<String>) -> Self {
        Self {
            text: String::new(),
            pending: Vec::new(),
            tokens: 0,
            first_text_at: None,
            longest_stop: stop.iter().map(String::len).max().unwrap_or(0),
            stop,
        }
    }

    /// Append one token's bytes. Returns whether a stop string now appears (the text is then
    /// cut where it starts).
    fn push(&mut self, piece: &[u8]) -> bool {
        self.tokens += 1;
        let before = self.text.len();
        self.pending.extend_from_slice(piece);
        decode_utf8(&mut self.pending, &mut self.text);
        if self.text.len() > before && self.first_text_at.is_none() {
            self.first_text_at = Some(Instant::now());
        }
        self.cut_at_stop(before)
    }

    fn cut_at_stop(&mut self, before: usize) -> bool {
        if self.longest_stop == 0 || self.text.len() == before {
            return false;
        }
        // A stop string ending in the new text starts at most `longest - 1` bytes before it.
        let mut from = before.saturating_sub(self.longest_stop - 1);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let found = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text[from..].find(s.as_str()))
            .min();
        match found {
            Some(at) => {
                self.text.truncate(from + at);
                true
            }
            None => false,
        }
    }

    /// Flush bytes left incomplete at the end (lossily).
    fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.text.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
    }
}

/// Move the complete UTF-8 prefix of `pending` into `text`; invalid bytes become U+FFFD and
/// an incomplete sequence at the end stays pending.
fn decode_utf8(pending: &mut Vec<u8>, text: &mut String) {
    loop {
        match std::str::from_utf8(pending) {
            Ok(s) => {
                text.push_str(s);
                pending.clear();
                return;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                text.push_str(std::str::from_utf8(&pending[..valid]).expect("valid prefix"));
                match e.error_len() {
                    None => {
                        pending.drain(..valid);
                        return;
                    }
                    Some(bad) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        pending.drain(..valid + bad);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_reassembled_across_pieces() {
        let mut out = Output::new(Vec::new());
        let snowman = "☃".as_bytes();
        assert!(!out.push(&snowman[..1]));
        assert_eq!(out.text, "");
        assert!(out.first_text_at.is_none(), "no text yet");
        out.push(&snowman[1..]);
        assert_eq!(out.text, "☃");
        assert!(out.first_text_at.is_some());
        out.push(&[0xff, b'a']);
        assert_eq!(out.text, "☃\u{fffd}a");
        out.push(&snowman[..2]);
        out.finish();
        assert_eq!(out.text, "☃\u{fffd}a\u{fffd}");
        assert_eq!(out.tokens, 4);
    }

    #[test]
    fn stop_strings_spanning_pieces_are_cut() {
        let stop = vec!["STOP".to_owned(), "\n\n".to_owned()];
        let mut out = Output::new(stop.clone());
        assert!(!out.push(b"hello S"));
        assert!(!out.push(b"T"));
        assert!(out.push(b"OP and more"));
        assert_eq!(out.text, "hello ");

        let mut out = Output::new(stop.clone());
        assert!(!out.push(b"a\n"));
        assert!(out.push(b"\nb"));
        assert_eq!(out.text, "a");
    }

    #[test]
    fn the_earliest_stop_string_wins() {
        let stop = vec!["c".to_owned(), "ab".to_owned()];
        let mut out = Output::new(stop.clone());
        assert!(out.push(b"xabc"));
        assert_eq!(out.text, "x");
    }
}
