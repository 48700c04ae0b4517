//! Serving a plugin's model calls ([`HostApi::complete_start`]): the host hands each request
//! to the [`ModelAccess`] the runner registered for that instance, runs it on the host's
//! runtime, and calls the plugin back exactly once.
//!
//! [`HostApi::complete_start`]: llmbench_plugin_abi::HostApi::complete_start

use std::ffi::c_void;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;

use llmbench_core::{Completion, CompletionRequest, ProviderError, ProviderErrorKind};
use llmbench_plugin_abi::{self as abi, Bytes, CompleteFn};

/// What one model call returns.
pub type ModelFuture = Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send>>;

/// Serves the model calls of plugin instances: implemented by the runner, which sends them
/// through the same path as samples (retries, rate limits, concurrency limits, spend cap).
pub trait ModelAccess: Send + Sync + 'static {
    /// Send `request` to the config's provider entry `provider`. An error (the provider is
    /// not one the instance may call, the spend cap is reached, the retries ran out) is the
    /// plugin's to report.
    fn complete(&self, provider: &str, request: CompletionRequest) -> ModelFuture;
}

/// The model a grader is given: the provider entry its config names, and who serves it.
#[derive(Clone)]
pub struct JudgeModel {
    /// The provider entry's name (`[providers.NAME]`).
    pub provider: String,
    /// Its model id, which the grader may show (the runner puts it in every request).
    pub model: String,
    pub access: Arc<dyn ModelAccess>,
    /// Where the calls run: the host's runtime.
    pub runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for JudgeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeModel")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// What an instance's `host` token points to.
pub(crate) struct HostState {
    access: Arc<dyn ModelAccess>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState").finish_non_exhaustive()
    }
}

impl HostState {
    pub(crate) fn new(judge: JudgeModel) -> Self {
        Self {
            access: judge.access,
            runtime: judge.runtime,
        }
    }
}

/// Calls the plugin back exactly once: with the result, or, dropped unfinished (the task was
/// aborted, the runtime shut down, the access panicked), as cancelled or panicked.
struct Done {
    done: CompleteFn,
    user_data: usize,
    finished: bool,
}

impl Done {
    fn finish(mut self, status: u32, payload: &[u8]) {
        self.finished = true;
        (self.done)(self.user_data as *mut c_void, status, Bytes::new(payload));
    }

    fn error(self, error: &ProviderError) {
        self.finish(
            abi::STATUS_ERROR,
            &serde_json::to_vec(error).expect("errors serialize"),
        );
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if !self.finished {
            let (status, text): (u32, &[u8]) = if std::thread::panicking() {
                (abi::STATUS_PANIC, b"the host's model call panicked")
            } else {
                (abi::STATUS_CANCELLED, b"")
            };
            (self.done)(self.user_data as *mut c_void, status, Bytes::new(text));
        }
    }
}

/// A model call in flight, owned by the plugin until `complete_release`.
struct HostCall {
    abort: Option<tokio::task::AbortHandle>,
}

pub(crate) extern "C" fn host_complete_start(
    host: *mut c_void,
    provider: Bytes,
    request: Bytes,
    done: CompleteFn,
    user_data: *mut c_void,
) -> *mut c_void {
    let done = Done {
        done,
        user_data: user_data as usize,
        finished: false,
    };
    let call = catch_unwind(AssertUnwindSafe(move || {
        if host.is_null() {
            done.error(&ProviderError::new(
                ProviderErrorKind::Plugin,
                "this plugin was given no model to call (the config names none for it)",
            ));
            return HostCall { abort: None };
        }
        // SAFETY: a non-null token is the `HostState` of a live instance (see `Instance`),
        // which outlives the instance's calls.
        let state = unsafe { &*host.cast::<HostState>() };
        // SAFETY: the plugin passes slices valid for the duration of this call.
        let (provider, request) = unsafe { (provider.as_slice(), request.as_slice()) };
        let provider = String::from_utf8_lossy(provider).into_owned();
        let request: CompletionRequest = match serde_json::from_slice(request) {
            Ok(request) => request,
            Err(e) => {
                done.finish(
                    abi::STATUS_BAD_REQUEST,
                    format!("invalid completion request: {e}").as_bytes(),
                );
                return HostCall { abort: None };
            }
        };
        let future = state.access.complete(&provider, request);
        let task = state.runtime.spawn(async move {
            match future.await {
                Ok(completion) => done.finish(
                    abi::STATUS_OK,
                    &serde_json::to_vec(&completion).expect("completions serialize"),
                ),
                Err(error) => done.error(&error),
            }
        });
        HostCall {
            abort: Some(task.abort_handle()),
        }
    }));
    // A panic above dropped `done`, which completed the call as panicked.
    let call = call.unwrap_or(HostCall { abort: None });
    Box::into_raw(Box::new(call)).cast()
}

pub(crate) extern "C" fn host_complete_release(
    _host: *mut c_void,
    call: *mut c_void,
    cancel: bool,
) {
    if call.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `call` came from `host_complete_start` and the plugin releases it once.
        let call = unsafe { Box::from_raw(call.cast::<HostCall>()) };
        if cancel && let Some(abort) = call.abort {
            abort.abort();
        }
    }));
}
