//! [`LocalProvider`]: the engine behind the [`Provider`] trait, on a worker thread of its own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use llmbench_models::{Cache, ModelSpec, smollm2_135m_instruct};
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, Message, PluginContext, Provider, ProviderError,
    ProviderErrorKind, StopReason, Timings, Usage,
};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::engine::{
    BatchSession, EngineError, EngineOptions, Finish, Finished, GenerateParams, Generation, Model,
};

/// The plugin's options (all optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// The GGUF model: `{ package, version, file, sha256 }` or `{ path, sha256? }`. A relative
    /// path is relative to the config file. Default: SmolLM2-135M-Instruct Q4_1.
    #[serde(default = "smollm2_135m_instruct")]
    pub model: ModelSpec,
    /// Threads for llama.cpp (at least 1). On a small shared machine more threads can be
    /// slower. Default 1.
    #[serde(default = "one")]
    pub threads: u32,
    /// The context size (prompt plus answer), in tokens (at least 16). Default 4096.
    #[serde(default = "default_context_tokens")]
    pub context_tokens: u32,
    /// Prompt tokens read per llama.cpp call (at least 1). Default 512.
    #[serde(default = "default_batch_tokens")]
    pub batch_tokens: u32,
    /// llama.cpp's flash attention (off by default: slower decoding on long prompts here).
    /// Default `false`.
    #[serde(default)]
    pub flash_attention: bool,
    /// Requests decoded together, one token each per llama.cpp batch (at least 1, at most
    /// `batch-tokens` and 64). Above 1, set the provider's `concurrency` to the same number:
    /// up to that many concurrent requests then share the model, and a repeat of a prompt
    /// another sequence holds reuses its cells instead of reading it again. Answers are the
    /// same as one at a time (greedy, or seeded sampling per seed). The KV cache holds
    /// `context-tokens` per sequence, so its memory grows as many times. Default 1 (one
    /// request at a time).
    #[serde(default = "one")]
    pub parallel_sequences: u32,
}

/// The most sequences `parallel-sequences` may ask for.
const MAX_PARALLEL_SEQUENCES: u32 = 64;

fn one() -> u32 {
    1
}

fn default_context_tokens() -> u32 {
    EngineOptions::default().context_tokens
}

fn default_batch_tokens() -> u32 {
    EngineOptions::default().batch_tokens
}

impl Default for Options {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("all options have defaults")
    }
}

impl Options {
    /// Parse and check the options.
    pub fn from_json(options: serde_json::Value) -> Result<Self, String> {
        let options: Self = if options.is_null() {
            Self::default()
        } else {
            serde_json::from_value(options).map_err(|e| format!("invalid options: {e}"))?
        };
        if options.threads == 0 {
            return Err("invalid options: `threads` must be at least 1".to_owned());
        }
        if options.context_tokens < 16 {
            return Err("invalid options: `context-tokens` must be at least 16".to_owned());
        }
        if options.batch_tokens == 0 {
            return Err("invalid options: `batch-tokens` must be at least 1".to_owned());
        }
        if options.parallel_sequences == 0 || options.parallel_sequences > MAX_PARALLEL_SEQUENCES {
            return Err(format!(
                "invalid options: `parallel-sequences` must be between 1 and {MAX_PARALLEL_SEQUENCES}"
            ));
        }
        if options.parallel_sequences > options.batch_tokens {
            return Err(format!(
                "invalid options: `parallel-sequences` ({}) must be at most `batch-tokens` ({}): a batch holds one token of each sequence",
                options.parallel_sequences, options.batch_tokens
            ));
        }
        Ok(options)
    }

    fn engine(&self) -> EngineOptions {
        EngineOptions {
            threads: self.threads,
            context_tokens: self.context_tokens,
            batch_tokens: self.batch_tokens,
            flash_attention: self.flash_attention,
            parallel_sequences: self.parallel_sequences,
        }
    }
}

/// Counters of the worker, for tests and diagnostics.
#[derive(Debug, Default)]
pub struct Stats {
    pub completed: AtomicU64,
    pub cancelled: AtomicU64,
    /// Tokens sampled, over all requests (cancelled ones included).
    pub output_tokens: AtomicU64,
    /// With `parallel-sequences` above 1: requests whose prompt was not read again (its cells
    /// were reused or copied from another sequence).
    pub prompts_reused: AtomicU64,
    /// With `parallel-sequences` above 1: the most sequences decoded in one step.
    pub widest_step: AtomicU64,
}

struct Job {
    system: Option<String>,
    messages: Vec<Message>,
    params: GenerateParams,
    cancel: Arc<AtomicBool>,
    reply: oneshot::Sender<Result<Generation, EngineError>>,
}

/// An in-process model. Requests are served by a dedicated thread that owns the llama.cpp
/// context, one at a time in order, or with `parallel-sequences` several together in one
/// batch; decoding never runs on an async worker.
#[derive(Debug)]
pub struct LocalProvider {
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    model_name: String,
    stats: Arc<Stats>,
}

impl LocalProvider {
    /// Fetch the model if needed (into the default cache), load it and start the worker.
    /// Blocking.
    pub fn create(options: Options, context: &PluginContext) -> Result<Self, String> {
        let spec = options.model.clone().relative_to(&context.config_dir);
        // A `path` spec is only verified; it never touches (or needs) the cache directory.
        let cache_dir = match &spec {
            ModelSpec::Path { .. } => PathBuf::new(),
            ModelSpec::Package { .. } => Cache::default_dir().map_err(|e| e.to_string())?,
        };
        let path = Cache::new(cache_dir)
            .ensure(&spec)
            .map_err(|e| format!("cannot get the model: {e}"))?;
        Self::start(path, options.engine())
    }

    /// Load the model at `path` (already verified) and start the worker. Blocking.
    pub fn start(path: PathBuf, engine: EngineOptions) -> Result<Self, String> {
        let model_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stats = Arc::new(Stats::default());
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::sync_channel::<Result<(), String>>(1);
        let worker_stats = Arc::clone(&stats);
        let worker = std::thread::Builder::new()
            .name("provider-local".to_owned())
            .spawn(move || {
                let load_started = Instant::now();
                let model = match Model::load(&path) {
                    Ok(model) => model,
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                let report_loaded = |ready_tx: mpsc::SyncSender<_>| {
                    tracing::info!(
                        model = %path.display(),
                        threads = engine.threads,
                        context_tokens = engine.context_tokens,
                        parallel_sequences = engine.parallel_sequences,
                        seconds = load_started.elapsed().as_secs_f64(),
                        "model loaded"
                    );
                    let _ = ready_tx.send(Ok(()));
                };
                if engine.parallel_sequences > 1 {
                    let mut session = match model.batch_session(&engine) {
                        Ok(session) => session,
                        Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                    };
                    report_loaded(ready_tx);
                    serve_batched(&model, &mut session, &queue, &worker_stats);
                } else {
                    let mut session = match model.session(&engine) {
                        Ok(session) => session,
                        Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                    };
                    report_loaded(ready_tx);
                    for job in queue {
                        serve(&model, &mut session, job, &worker_stats);
                    }
                }
            })
            .map_err(|e| format!("cannot start the model thread: {e}"))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self {
                jobs: Some(jobs),
                worker: Some(worker),
                model_name,
                stats,
            }),
            Ok(Err(e)) => {
                let _ = worker.join();
                Err(e)
            }
            Err(_) => {
                let _ = worker.join();
                Err("the model thread stopped while loading the model".to_owned())
            }
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

fn serve(model: &Model, session: &mut crate::engine::Session<'_>, job: Job, stats: &Stats) {
    if job.cancel.load(Ordering::Relaxed) {
        stats.cancelled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let prompt = model.prompt_tokens(job.system.as_deref(), &job.messages);
    let result = session.generate(&prompt, &job.params, &job.cancel);
    count(&result, stats);
    let _ = job.reply.send(result);
}

type Reply = oneshot::Sender<Result<Generation, EngineError>>;

/// Serve requests up to `parallel-sequences` at a time: requests join between decode steps
/// while a sequence is free, and the worker waits for one only when none is running. Ends
/// when the queue is closed and every running request has ended.
fn serve_batched(
    model: &Model,
    session: &mut BatchSession<'_, Reply>,
    queue: &mpsc::Receiver<Job>,
    stats: &Stats,
) {
    let mut open = true;
    loop {
        while open && session.has_room() {
            let job = if session.running() == 0 {
                queue.recv().map_err(|_| mpsc::TryRecvError::Disconnected)
            } else {
                queue.try_recv()
            };
            let job = match job {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            };
            if job.cancel.load(Ordering::Relaxed) {
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let prompt = model.prompt_tokens(job.system.as_deref(), &job.messages);
            if let Some(ended) = session.admit(job.reply, &prompt, &job.params, job.cancel) {
                answer(ended, stats);
            }
        }
        stats
            .prompts_reused
            .store(session.prompts_reused(), Ordering::Relaxed);
        if session.running() == 0 {
            if open {
                continue;
            }
            return;
        }
        for ended in session.step() {
            answer(ended, stats);
        }
        stats
            .widest_step
            .store(session.widest_step() as u64, Ordering::Relaxed);
    }
}

fn answer(ended: Finished<Reply>, stats: &Stats) {
    count(&ended.result, stats);
    let _ = ended.tag.send(ended.result);
}

fn count(result: &Result<Generation, EngineError>, stats: &Stats) {
    if let Ok(generation) = result {
        stats
            .output_tokens
            .fetch_add(generation.output_tokens as u64, Ordering::Relaxed);
        let counter = if generation.finish == Finish::Cancelled {
            &stats.cancelled
        } else {
            &stats.completed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            prompt_tokens = generation.prompt_tokens,
            output_tokens = generation.output_tokens,
            finish = ?generation.finish,
            "generated"
        );
    }
}

impl Drop for LocalProvider {
    fn drop(&mut self) {
        // Closing the queue ends the worker after its current job; joining it makes sure no
        // code of this library still runs when the host unloads it.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Sets the flag when dropped, unless disarmed: a dropped request stops decoding.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let sampling = &request.sampling;
        let params = GenerateParams {
            max_tokens: request.max_tokens,
            temperature: sampling.temperature.map(|t| t as f32),
            top_p: sampling.top_p.map(|p| p as f32),
            top_k: sampling.top_k,
            // Folded to llama.cpp's 32 bits; no seed means seed 0, so runs repeat.
            seed: sampling.seed.map_or(0, |s| (s ^ (s >> 32)) as u32),
            stop: sampling.stop.clone(),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let mut guard = CancelOnDrop(Some(Arc::clone(&cancel)));
        let (reply, result) = oneshot::channel();
        let stopped =
            || ProviderError::new(ProviderErrorKind::Plugin, "the model thread has stopped");
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Job {
                system: request.system.clone(),
                messages: request.messages.clone(),
                params,
                cancel,
                reply,
            })
            .map_err(|_| stopped())?;
        let generation = result.await.map_err(|_| stopped())?;
        guard.0 = None;
        let generation = generation.map_err(|e| {
            let kind = match e {
                EngineError::PromptTooLong { .. } => ProviderErrorKind::BadRequest,
                _ => ProviderErrorKind::Other,
            };
            ProviderError::new(kind, e.to_string())
        })?;
        let stop_reason = match generation.finish {
            Finish::EndOfGeneration => StopReason::EndTurn,
            Finish::MaxTokens | Finish::ContextFull => StopReason::MaxTokens,
            Finish::StopString => StopReason::StopSequence,
            Finish::Cancelled => StopReason::Other("cancelled".to_owned()),
        };
        Ok(Completion {
            text: generation.text,
            stop_reason,
            usage: Usage {
                input_tokens: Some(generation.prompt_tokens as u64),
                output_tokens: Some(generation.output_tokens as u64),
                ..Usage::default()
            },
            timings: Timings {
                latency: generation.finished_at - started,
                time_to_first_token: generation
                    .first_text_at
                    .filter(|_| request.stream)
                    .map(|t| t - started),
            },
            response_model: Some(self.model_name.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_have_defaults_and_refuse_typos() {
        let o = Options::from_json(serde_json::json!({})).unwrap();
        assert_eq!(o.model, smollm2_135m_instruct());
        assert_eq!(o.engine(), EngineOptions::default());
        assert_eq!(o.threads, 1);
        let o = Options::from_json(serde_json::Value::Null).unwrap();
        assert_eq!(o.context_tokens, 4096);

        let o = Options::from_json(serde_json::json!({
            "threads": 2, "context-tokens": 8192, "batch-tokens": 64, "flash-attention": true,
            "model": { "path": "m.gguf" }
        }))
        .unwrap();
        assert_eq!((o.threads, o.context_tokens, o.batch_tokens), (2, 8192, 64));
        assert!(o.engine().flash_attention);

        let e = Options::from_json(serde_json::json!({ "thread": 2 })).unwrap_err();
        assert!(e.contains("unknown field `thread`"), "{e}");
        let e = Options::from_json(serde_json::json!({ "threads": 0 })).unwrap_err();
        assert!(e.contains("at least 1"), "{e}");

        let o = Options::from_json(serde_json::json!({ "parallel-sequences": 4 })).unwrap();
        assert_eq!(o.engine().parallel_sequences, 4);
        assert_eq!(Options::default().parallel_sequences, 1);
        let e = Options::from_json(serde_json::json!({ "parallel-sequences": 65 })).unwrap_err();
        assert!(e.contains("between 1 and 64"), "{e}");
        let e = Options::from_json(serde_json::json!({ "model": { "path": "a", "package": "b" } }))
            .unwrap_err();
        assert!(e.contains("not both"), "{e}");
    }
}
