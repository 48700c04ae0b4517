//! [`BatchSession`]: several requests decoded together in one llama.cpp context.
//!
//! Each request runs as a llama.cpp sequence in a slot of its own (sequence id = slot index).
//! [`BatchSession::step`] decodes the next token of every running sequence in one
//! `llama_batch` (one token per sequence) and then samples each sequence with its own
//! sampler. A request joins between steps ([`BatchSession::admit`]): its prompt is read then,
//! in chunks of `batch_tokens` as [`Session::generate`](super::Session::generate) reads it,
//! unless a slot already holds the cells of the same prompt (a repeat of the same item): a
//! free slot holding it is used as it is, and a prompt held by a running sequence is copied
//! from it. A finished sequence keeps its prompt's cells (and the logits after its last token)
//! for the next request with that prompt; a cancelled one frees all its cells.
//!
//! Why the answers are [`Session::generate`](super::Session::generate)'s, token for token: the
//! KV cache is not unified. Each sequence has a stream of its own, `context_tokens` long, laid
//! out as in a one-sequence context (position `i` in cell `i`), so every number a sequence's
//! token depends on is computed from the same values in the same order; the other sequences of
//! a batch only add columns to the matrix products (computed column by column) and streams to
//! the attention. A reused prompt is the same cells (llama.cpp copies a whole stream between
//! streams: its data is only moved, never recomputed), and its first token is drawn from the
//! logits saved when the prompt was read. The integration tests check this on the real model.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use super::{
    ContextShape, EngineError, EngineOptions, Finish, GenerateParams, Generation, Model, Output,
    Token, sampler,
};

/// Several generations at once in one llama.cpp context; `T` is the caller's tag for a request
/// (how it answers it). Stays on the thread that created it.
pub struct BatchSession<'m, T> {
    model: &'m Model,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    batch_tokens: usize,
    /// Per sequence.
    context_tokens: u32,
    slots: Vec<Slot<T>>,
    /// Ticks at every admission: the least recently used free slot is reused first.
    clock: u64,
    reused: u64,
    widest: usize,
    /// Time spent in llama.cpp's decode by [`BatchSession::step`].
    decoding: Duration,
}

/// A request that ended, with its caller's tag.
#[derive(Debug)]
pub struct Finished<T> {
    pub tag: T,
    pub result: Result<Generation, EngineError>,
}

struct Slot<T> {
    /// The prompt whose cells are positions `0..len` of this slot's sequence.
    prompt: Option<Arc<Prompt>>,
    running: Option<Running<T>>,
    used: u64,
}

struct Prompt {
    tokens: Vec<Token>,
    /// The logits after its last token.
    logits: Vec<f32>,
}

struct Running<T> {
    tag: T,
    cancel: Arc<AtomicBool>,
    max_tokens: usize,
    sampler: LlamaSampler,
    out: Output,
    prompt_tokens: usize,
    /// Tokens in the sequence's cells.
    pos: usize,
    /// Sampled (and already in `out`), to be decoded at the next step.
    next: Option<Token>,
    started_at: Instant,
    prompt_read_at: Instant,
}

/// Where a sequence's next token is drawn from.
enum Logits<'a> {
    /// The given output of the last decode.
    Output(i32),
    /// Logits saved with a prompt.
    Saved(&'a [f32]),
}

impl Model {
    /// A context for `options.parallel_sequences` sequences (at most `batch_tokens`, the
    /// batch holding one token of each), each with `context_tokens` of KV cache. Blocking
    /// (allocates the KV cache: `parallel_sequences` times a [`Session`](super::Session)'s).
    pub fn batch_session<T>(
        &self,
        options: &EngineOptions,
    ) -> Result<BatchSession<'_, T>, EngineError> {
        let shape = ContextShape::new(options);
        let sequences = options.parallel_sequences.clamp(1, shape.batch_tokens);
        let total = shape.context_tokens.checked_mul(sequences).ok_or_else(|| {
            EngineError::Context(format!(
                "{sequences} sequences of {} tokens do not fit a context",
                shape.context_tokens
            ))
        })?;
        // Not unified: one stream per sequence, as a one-sequence context lays it out. (A
        // unified cache interleaves the sequences' cells, which changes the order of the sums
        // in the attention: greedy answers then drifted from the sequential ones in the tests.)
        let params = shape
            .params(options)
            .with_n_ctx(NonZeroU32::new(total))
            .with_n_seq_max(sequences)
            .with_kv_unified(false);
        let ctx = self.context(params)?;
        Ok(BatchSession {
            model: self,
            ctx,
            batch: LlamaBatch::new(shape.batch_tokens as usize, 1),
            batch_tokens: shape.batch_tokens as usize,
            context_tokens: shape.context_tokens,
            slots: (0..sequences)
                .map(|_| Slot {
                    prompt: None,
                    running: None,
                    used: 0,
                })
                .collect(),
            clock: 0,
            reused: 0,
            widest: 0,
            decoding: Duration::ZERO,
        })
    }
}

impl<T> std::fmt::Debug for BatchSession<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSession")
            .field("model", &self.model.path)
            .field("sequences", &self.slots.len())
            .field("running", &self.running())
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

impl<T> BatchSession<'_, T> {
    /// How many sequences it decodes together at most.
    pub fn sequences(&self) -> usize {
        self.slots.len()
    }

    /// How many requests are being generated.
    pub fn running(&self) -> usize {
        self.slots.iter().filter(|s| s.running.is_some()).count()
    }

    /// Whether [`Self::admit`] can take a request.
    pub fn has_room(&self) -> bool {
        self.running() < self.slots.len()
    }

    /// Requests whose prompt was not read again: its cells were already there or were copied.
    pub fn prompts_reused(&self) -> u64 {
        self.reused
    }

    /// The most sequences decoded in one step so far.
    pub fn widest_step(&self) -> usize {
        self.widest
    }

    /// Time spent inside llama.cpp's decode by [`Self::step`] so far (the rest of a step is
    /// sampling, detokenizing and bookkeeping).
    pub fn decode_time(&self) -> Duration {
        self.decoding
    }

    /// Start generating an answer to `prompt` (tokens, chat template applied): read the
    /// prompt, or reuse cells that hold it, and draw the first token. Blocking. Returns the
    /// request when it ended already (an error, cancelled, or an answer of zero tokens);
    /// otherwise [`Self::step`] returns it when it ends. A request finds no room when
    /// [`Self::has_room`] is false: it is then returned with [`EngineError::NoRoom`].
    pub fn admit(
        &mut self,
        tag: T,
        prompt: &[Token],
        params: &GenerateParams,
        cancel: Arc<AtomicBool>,
    ) -> Option<Finished<T>> {
        let started_at = Instant::now();
        if prompt.is_empty() || prompt.len() >= self.context_tokens as usize {
            let error = EngineError::PromptTooLong {
                prompt: prompt.len(),
                context: self.context_tokens,
            };
            return Some(Finished {
                tag,
                result: Err(error),
            });
        }
        let Some(slot) = self.choose(prompt) else {
            return Some(Finished {
                tag,
                result: Err(EngineError::NoRoom),
            });
        };
        self.clock += 1;
        self.slots[slot].used = self.clock;
        let mut running = Running {
            tag,
            cancel,
            max_tokens: params.max_tokens as usize,
            sampler: sampler(params),
            out: Output::new(params.stop.clone()),
            prompt_tokens: prompt.len(),
            pos: prompt.len(),
            next: None,
            started_at,
            prompt_read_at: started_at,
        };
        let logits = match self.place_prompt(slot, prompt, &running.cancel) {
            Ok(logits) => logits,
            Err(reason) => {
                running.prompt_read_at = Instant::now();
                self.slots[slot].running = Some(running);
                return Some(match reason {
                    Stopped::Cancelled => self.finish(slot, Finish::Cancelled),
                    Stopped::Failed(e) => self.fail(slot, e),
                });
            }
        };
        running.prompt_read_at = Instant::now();
        let n_ctx = self.context_tokens as usize;
        let saved = self.slots[slot].prompt.clone();
        let logits = match (logits, &saved) {
            (Some(index), _) => Logits::Output(index),
            (None, Some(prompt)) => Logits::Saved(&prompt.logits),
            (None, None) => unreachable!("a reused prompt has saved logits"),
        };
        let ended = advance(self.model, &self.ctx, n_ctx, &mut running, logits);
        self.slots[slot].running = Some(running);
        ended.map(|finish| self.finish(slot, finish))
    }

    /// Decode the next token of every running sequence in one batch, then draw each one's
    /// next token. Returns the requests that ended. Blocking.
    pub fn step(&mut self) -> Vec<Finished<T>> {
        self.batch.clear();
        let mut members = Vec::new();
        let mut error = None;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(Running {
                next: Some(token),
                pos,
                ..
            }) = slot.running
            else {
                continue;
            };
            members.push(i);
            if let Err(e) = self.batch.add(token, pos as i32, &[i as i32], true) {
                error = Some(EngineError::Decode(e.to_string()));
            }
        }
        if members.is_empty() {
            return Vec::new();
        }
        self.widest = self.widest.max(members.len());
        let decode_started = Instant::now();
        let error = match error {
            Some(e) => Some(e),
            None => self
                .ctx
                .decode(&mut self.batch)
                .err()
                .map(|e| EngineError::Decode(e.to_string())),
        };
        self.decoding += decode_started.elapsed();
        if let Some(e) = error {
            return members
                .into_iter()
                .map(|i| self.fail(i, EngineError::Decode(e.to_string())))
                .collect();
        }
        let n_ctx = self.context_tokens as usize;
        let mut finished = Vec::new();
        for (output, &i) in members.iter().enumerate() {
            let running = self.slots[i].running.as_mut().expect("a member runs");
            running.pos += 1;
            let logits = Logits::Output(output as i32);
            if let Some(finish) = advance(self.model, &self.ctx, n_ctx, running, logits) {
                finished.push(self.finish(i, finish));
            }
        }
        finished
    }

    /// The free slot for `prompt`: one holding it, else an empty one, else the least recently
    /// used.
    fn choose(&self, prompt: &[Token]) -> Option<usize> {
        let free = || {
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.running.is_none())
        };
        free()
            .find(|(_, s)| s.prompt.as_ref().is_some_and(|p| p.tokens == prompt))
            .or_else(|| free().find(|(_, s)| s.prompt.is_none()))
            .or_else(|| free().min_by_key(|(_, s)| s.used))
            .map(|(i, _)| i)
    }

    /// Make `slot`'s sequence hold `prompt`'s cells and nothing else. Returns the output index
    /// of the prompt's logits when it was read, `None` when its cells were reused (the saved
    /// logits then apply).
    fn place_prompt(
        &mut self,
        slot: usize,
        prompt: &[Token],
        cancel: &AtomicBool,
    ) -> Result<Option<i32>, Stopped> {
        let holds = |s: &Slot<T>| s.prompt.as_ref().is_some_and(|p| p.tokens == prompt);
        if holds(&self.slots[slot]) {
            self.reused += 1;
            return Ok(None);
        }
        let seq = slot as i32;
        if let Some(source) = self.slots.iter().position(holds) {
            // Across streams llama.cpp copies whole buffers (the source's answer so far too);
            // the cells after the prompt are then dropped.
            self.ctx
                .copy_kv_cache_seq(source as i32, seq, None, None)
                .map_err(|e| Stopped::Failed(EngineError::Decode(e.to_string())))?;
            self.remove_cells(slot, Some(prompt.len()))?;
            self.slots[slot].prompt = self.slots[source].prompt.clone();
            self.reused += 1;
            return Ok(None);
        }
        self.slots[slot].prompt = None;
        self.remove_cells(slot, None)?;
        // Read the prompt, batch by batch; logits only for its last token.
        for (i, chunk) in prompt.chunks(self.batch_tokens).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Stopped::Cancelled);
            }
            self.batch.clear();
            let offset = i * self.batch_tokens;
            for (j, &token) in chunk.iter().enumerate() {
                let pos = offset + j;
                self.batch
                    .add(token, pos as i32, &[seq], pos == prompt.len() - 1)
                    .map_err(|e| Stopped::Failed(EngineError::Decode(e.to_string())))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| Stopped::Failed(EngineError::Decode(e.to_string())))?;
        }
        let last = self.batch.n_tokens() - 1;
        self.slots[slot].prompt = Some(Arc::new(Prompt {
            tokens: prompt.to_vec(),
            logits: self.ctx.get_logits_ith(last).to_vec(),
        }));
        Ok(Some(last))
    }

    /// Remove `slot`'s cells from position `from` on (all of them for `None`).
    fn remove_cells(&mut self, slot: usize, from: Option<usize>) -> Result<(), Stopped> {
        let failed = |reason: String| Stopped::Failed(EngineError::Decode(reason));
        let from = from
            .map(u32::try_from)
            .transpose()
            .map_err(|e| failed(e.to_string()))?;
        match self.ctx.clear_kv_cache_seq(Some(slot as u32), from, None) {
            Ok(true) => Ok(()),
            Ok(false) => Err(failed(format!("cannot free the cells of sequence {slot}"))),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// End `slot`'s request. A cancelled request frees all its cells; any other keeps its
    /// prompt's for the next request with the same prompt.
    fn finish(&mut self, slot: usize, finish: Finish) -> Finished<T> {
        let mut running = self.slots[slot].running.take().expect("the slot runs");
        running.out.finish();
        let kept = match finish {
            Finish::Cancelled => None,
            _ => Some(running.prompt_tokens),
        };
        if kept.is_none() || self.remove_cells(slot, kept).is_err() {
            self.slots[slot].prompt = None;
            // Freeing every cell of a sequence cannot fail (llama.cpp: full removals
            // always succeed).
            let _ = self.remove_cells(slot, None);
        }
        let Running {
            tag,
            out,
            prompt_tokens,
            started_at,
            prompt_read_at,
            ..
        } = running;
        Finished {
            tag,
            result: Ok(Generation {
                text: out.text,
                finish,
                prompt_tokens,
                output_tokens: out.tokens,
                started_at,
                prompt_read_at,
                first_text_at: out.first_text_at,
                finished_at: Instant::now(),
            }),
        }
    }

    /// End `slot`'s request with an error; its cells are freed.
    fn fail(&mut self, slot: usize, error: EngineError) -> Finished<T> {
        let running = self.slots[slot].running.take().expect("the slot runs");
        self.slots[slot].prompt = None;
        let _ = self.remove_cells(slot, None);
        Finished {
            tag: running.tag,
            result: Err(error),
        }
    }
}

/// Why reading a prompt stopped.
enum Stopped {
    Cancelled,
    Failed(EngineError),
}

/// Draw a sequence's next token, as [`Session::generate`](super::Session::generate)'s loop
/// does (the same checks in the same order), and keep it for the next step. Returns why the
/// request ended, if it did.
fn advance<T>(
    model: &Model,
    ctx: &LlamaContext<'_>,
    n_ctx: usize,
    running: &mut Running<T>,
    logits: Logits<'_>,
) -> Option<Finish> {
    running.next = None;
    if running.cancel.load(Ordering::Relaxed) {
        return Some(Finish::Cancelled);
    }
    if running.out.tokens >= running.max_tokens {
        return Some(Finish::MaxTokens);
    }
    if running.pos >= n_ctx {
        return Some(Finish::ContextFull);
    }
    let token = match logits {
        Logits::Output(index) => running.sampler.sample(ctx, index),
        Logits::Saved(logits) => sample_saved(&mut running.sampler, logits),
    };
    if model.is_end_of_generation(token) {
        return Some(Finish::EndOfGeneration);
    }
    let piece = model.inner.vocab().token_to_piece(token, false, None);
    if running.out.push(&piece) {
        return Some(Finish::StopString);
    }
    if running.out.tokens >= running.max_tokens {
        // No need to read a token whose successor will not be sampled.
        return Some(Finish::MaxTokens);
    }
    running.next = Some(token);
    None
}

/// Draw from saved logits as `llama_sampler_sample` draws from a context's: every token with
/// its logit, unsorted, through the sampler, then the choice accepted.
fn sample_saved(sampler: &mut LlamaSampler, logits: &[f32]) -> Token {
    let mut candidates = LlamaTokenDataArray::from_iter(
        (0..)
            .zip(logits)
            .map(|(id, &logit)| LlamaTokenData::new(Token(id), logit, 0.0)),
        false,
    );
    candidates.apply_sampler(sampler);
    let token = candidates
        .selected_token()
        .expect("every sampler chain ends in a choice");
    sampler.accept(token);
    token
}
