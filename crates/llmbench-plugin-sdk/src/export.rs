//! The `extern "C"` entry points behind [`crate::export_provider!`] and friends.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use llmbench_plugin_abi::{
    self as abi, Bytes, CompleteFn, DeclPrefix, FLAG_PANIC_UNWIND, HostApi, PluginDecl, PluginKind,
    SinkFn, VTable,
};

use crate::model::HostLink;
use crate::options::WireOptionsError;
use crate::service::CreateError;
use crate::{GraderContext, ModelHandle, Service};

/// The compiler that built this SDK (and so the plugin).
pub const RUSTC_VERSION: &str = env!("LLMBENCH_RUSTC_VERSION");

/// Build the declaration for a service type. Used by the export macros.
#[doc(hidden)]
pub const fn __decl<S: Service>(
    kind: PluginKind,
    name: &'static str,
    version: &'static str,
    panic_unwind: bool,
) -> PluginDecl {
    PluginDecl {
        prefix: DeclPrefix {
            magic: abi::MAGIC,
            abi_version: abi::ABI_VERSION,
            decl_size: size_of::<PluginDecl>() as u32,
            fingerprint: abi::FINGERPRINT,
        },
        flags: if panic_unwind { FLAG_PANIC_UNWIND } else { 0 },
        kind: kind as u32,
        name: Bytes::from_static(name),
        version: Bytes::from_static(version),
        sdk_version: Bytes::from_static(env!("CARGO_PKG_VERSION")),
        rustc_version: Bytes::from_static(RUSTC_VERSION),
        vtable: VTable {
            create: create::<S>,
            destroy: destroy::<S>,
            start_call: start_call::<S>,
            release_call,
        },
    }
}

/// A live instance, or (`service` and `runtime` both `None`) the token a check-only `create`
/// returns: it serves no calls and is destroyed at once.
struct Instance<S> {
    runtime: Option<tokio::runtime::Runtime>,
    service: Option<Arc<S>>,
    /// The files the plugin read while created ([`crate::files`]), until the host takes them
    /// with [`FILES_READ_METHOD`].
    files_read: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

/// The method, served for every plugin kind, that hands the host the files the instance read
/// while it was created (through [`crate::read_limited`]), once: a JSON array of
/// `[path, base64 bytes]` pairs, paths as the plugin resolved them. A second call answers `[]`.
pub const FILES_READ_METHOD: &str = "files-read";

/// A started call, owned by the host until `release_call`.
struct CallHandle {
    abort: Option<tokio::task::AbortHandle>,
}

/// What the host sends to `create`: the plugin's own options and its context, and, for a
/// grader the config gives a model (`judge = "NAME"`), that provider entry's name and model id.
///
/// With `check-only` set, `create` only runs the plugin's `check_options` (no runtime is
/// started, nothing is loaded or connected) and, when the options are fine, returns a token
/// instance that serves no calls. A create error is plain text, or, for a bad option, the
/// JSON object `{"llmbench-options-error": {"path": [...], "message": ..., "help": ...}}`.
#[derive(serde::Deserialize)]
struct CreateRequest {
    options: serde_json::Value,
    context: llmbench_core::PluginContext,
    #[serde(default, rename = "check-only")]
    check_only: bool,
    #[serde(default)]
    judge: Option<JudgeSpec>,
}

/// The provider entry a grader may call, as the host names it.
#[derive(serde::Deserialize)]
struct JudgeSpec {
    provider: String,
    model: String,
}

pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

extern "C" fn create<S: Service>(
    host: *const HostApi,
    options: Bytes,
    err: SinkFn,
    err_user: *mut c_void,
) -> *mut c_void {
    let fail = |message: &[u8]| {
        err(err_user, Bytes::new(message));
        std::ptr::null_mut()
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<*mut c_void, CreateError> {
        // SAFETY: the host passes null or a pointer to a HostApi valid until `destroy`.
        let host = unsafe { host.as_ref() }.copied();
        if let Some(host) = &host {
            crate::logging::install(host);
        }
        // SAFETY: the host guarantees `options` is valid for the duration of this call.
        let options = unsafe { options.as_slice() };
        let CreateRequest {
            options,
            mut context,
            check_only,
            judge,
        } = serde_json::from_slice(options).map_err(|e| format!("invalid create request: {e}"))?;
        if check_only {
            S::check_options(&options, &context)?;
            let token = Box::new(Instance::<S> {
                runtime: None,
                service: None,
                files_read: Default::default(),
            });
            return Ok(Box::into_raw(token).cast());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("llmbench-plugin")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the plugin runtime: {e}"))?;
        let judge = judge
            .zip(host)
            .map(|(j, host)| ModelHandle::from_host(j.provider, j.model, HostLink(host)));
        // The stored copies are served while `create` runs, on this thread, and not kept.
        let stored = std::mem::take(&mut context.stored_files);
        let context = match judge {
            Some(judge) => GraderContext::with_judge(&context, judge),
            None => GraderContext::new(&context),
        };
        let (service, files_read) = crate::files::record_reads(stored, || {
            let _entered = runtime.enter();
            S::create(options, &context)
        });
        let service = service?;
        let instance = Box::new(Instance {
            runtime: Some(runtime),
            service: Some(Arc::new(service)),
            files_read: std::sync::Mutex::new(files_read),
        });
        Ok(Box::into_raw(instance).cast())
    }));
    match result {
        Ok(Ok(instance)) => instance,
        Ok(Err(CreateError::Message(message))) => fail(message.as_bytes()),
        Ok(Err(CreateError::Options(error))) => fail(
            &serde_json::to_vec(&WireOptionsError { error: &error })
                .expect("an options error serializes"),
        ),
        Err(panic) => fail(format!("panicked while creating: {}", panic_text(&*panic)).as_bytes()),
    }
}

extern "C" fn destroy<S: Service>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `instance` came from `create::<S>` and the host destroys it once.
        let mut instance = unsafe { Box::from_raw(instance.cast::<Instance<S>>()) };
        if let Some(runtime) = instance.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(10));
        }
    }));
}

/// Calls the host's completion exactly once: with the result, or, if dropped unfinished
/// (the task was aborted, the runtime shut down, a panic unwound), as cancelled or panicked.
struct Completion {
    on_complete: CompleteFn,
    user_data: usize,
    done: bool,
}

impl Completion {
    fn finish(mut self, status: u32, payload: &[u8]) {
        self.done = true;
        (self.on_complete)(self.user_data as *mut c_void, status, Bytes::new(payload));
    }

    /// Completes with how a call's future ended: its answer, its error, or its panic.
    fn answer(self, outcome: std::thread::Result<Result<Vec<u8>, Vec<u8>>>) {
        match outcome {
            Ok(Ok(bytes)) => self.finish(abi::STATUS_OK, &bytes),
            Ok(Err(bytes)) => self.finish(abi::STATUS_ERROR, &bytes),
            Err(panic) => self.finish(abi::STATUS_PANIC, panic_text(&*panic).as_bytes()),
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if !self.done {
            let (status, text): (u32, &[u8]) = if std::thread::panicking() {
                (abi::STATUS_PANIC, b"plugin panicked")
            } else {
                (abi::STATUS_CANCELLED, b"")
            };
            (self.on_complete)(self.user_data as *mut c_void, status, Bytes::new(text));
        }
    }
}

extern "C" fn start_call<S: Service>(
    instance: *mut c_void,
    method: Bytes,
    request: Bytes,
    on_complete: CompleteFn,
    user_data: *mut c_void,
) -> *mut c_void {
    let completion = Completion {
        on_complete,
        user_data: user_data as usize,
        done: false,
    };
    let handle = catch_unwind(AssertUnwindSafe(move || {
        // SAFETY: `instance` came from `create::<S>` and outlives its calls.
        let instance = unsafe { &*instance.cast::<Instance<S>>() };
        // SAFETY: the host guarantees both slices are valid for the duration of this call.
        let (method, request) = unsafe { (method.as_slice(), request.as_slice()) };
        let method = String::from_utf8_lossy(method);
        let (Some(runtime), Some(service)) = (&instance.runtime, &instance.service) else {
            completion.finish(
                abi::STATUS_BAD_REQUEST,
                b"a check-only instance serves no calls",
            );
            return CallHandle { abort: None };
        };
        if method == FILES_READ_METHOD {
            let files = std::mem::take(
                &mut *instance
                    .files_read
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let files: Vec<(String, llmbench_core::FileBytes)> = files
                .into_iter()
                .map(|(path, bytes)| (path, llmbench_core::FileBytes(bytes)))
                .collect();
            let payload = serde_json::to_vec(&files).expect("paths and bytes serialize");
            completion.finish(abi::STATUS_OK, &payload);
            return CallHandle { abort: None };
        }
        match service.call(&method, request) {
            Err(reason) => {
                completion.finish(abi::STATUS_BAD_REQUEST, reason.as_bytes());
                CallHandle { abort: None }
            }
            Ok(mut future) => {
                if S::POLL_INLINE {
                    // Answered on the caller's thread when the future is ready at once (a
                    // pattern grader): see `GraderPlugin::GRADES_INLINE`. Inside the plugin's
                    // runtime context, so a future that does wait registers with it.
                    let _entered = runtime.enter();
                    let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().now_or_never()));
                    // `transpose`: `None` when not ready, else the outcome or the panic.
                    if let Some(outcome) = polled.transpose() {
                        completion.answer(outcome);
                        return CallHandle { abort: None };
                    }
                }
                let task = runtime.spawn(async move {
                    completion.answer(AssertUnwindSafe(future).catch_unwind().await);
                });
                CallHandle {
                    abort: Some(task.abort_handle()),
                }
            }
        }
    }));
    let handle = handle.unwrap_or(CallHandle { abort: None });
    Box::into_raw(Box::new(handle)).cast()
}

extern "C" fn release_call(_instance: *mut c_void, call: *mut c_void, cancel: bool) {
    if call.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `call` came from `start_call` and the host releases it once.
        let handle = unsafe { Box::from_raw(call.cast::<CallHandle>()) };
        if cancel && let Some(abort) = handle.abort {
            abort.abort();
        }
    }));
}

#[cfg(test)]
mod tests {
    //! `start_call` as the host drives it: a call answered on the caller's thread when the
    //! service says `POLL_INLINE` and its future is ready at once, on the plugin's runtime
    //! otherwise.

    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::thread::ThreadId;

    use super::*;
    use crate::service::CallFuture;

    /// Answers `now` at once, `later` after yielding to the runtime, and panics on `boom`.
    struct Echo<const INLINE: bool>;

    impl<const INLINE: bool> Service for Echo<INLINE> {
        const KIND: PluginKind = PluginKind::Grader;
        const POLL_INLINE: bool = INLINE;
        fn check_options(
            _: &serde_json::Value,
            _: &llmbench_core::PluginContext,
        ) -> Result<(), crate::options::OptionsError> {
            Ok(())
        }
        fn create(_: serde_json::Value, _: &crate::GraderContext<'_>) -> Result<Self, CreateError> {
            Ok(Self)
        }
        fn call(self: &Arc<Self>, method: &str, _: &[u8]) -> Result<CallFuture, String> {
            let method = method.to_owned();
            Ok(Box::pin(async move {
                match method.as_str() {
                    "now" => Ok(b"now".to_vec()),
                    "later" => {
                        tokio::task::yield_now().await;
                        Ok(b"later".to_vec())
                    }
                    "refused" => Err(b"refused".to_vec()),
                    _ => panic!("boom"),
                }
            }))
        }
    }

    type Answer = (u32, Vec<u8>, ThreadId);

    static SENDERS: Mutex<Vec<mpsc::Sender<Answer>>> = Mutex::new(Vec::new());

    extern "C" fn on_complete(user_data: *mut c_void, status: u32, payload: Bytes) {
        // SAFETY: the payload is valid for the duration of this call.
        let payload = unsafe { payload.as_slice() }.to_vec();
        let senders = SENDERS.lock().unwrap();
        senders[user_data as usize]
            .send((status, payload, std::thread::current().id()))
            .unwrap();
    }

    /// Starts `method` on `instance` and waits (at most a minute) for its answer, with the
    /// thread the answer came on: the caller's own only when it was answered inside
    /// `start_call`, since a spawned call completes on the plugin's runtime thread.
    fn call<S: Service>(instance: &Instance<S>, method: &str) -> Answer {
        let (tx, rx) = mpsc::channel();
        let slot = {
            let mut senders = SENDERS.lock().unwrap();
            senders.push(tx);
            senders.len() - 1
        };
        let handle = start_call::<S>(
            std::ptr::from_ref(instance).cast_mut().cast(),
            Bytes::new(method.as_bytes()),
            Bytes::new(b"{}"),
            on_complete,
            slot as *mut c_void,
        );
        let answer = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("every call is answered");
        release_call(std::ptr::null_mut(), handle, false);
        answer
    }

    fn instance<S: Service>(service: S) -> Instance<S> {
        Instance {
            runtime: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
            service: Some(Arc::new(service)),
            files_read: Default::default(),
        }
    }

    #[test]
    fn an_inline_call_ready_at_once_is_answered_on_the_callers_thread() {
        let echo = instance(Echo::<true>);
        let me = std::thread::current().id();
        assert_eq!(call(&echo, "now"), (abi::STATUS_OK, b"now".to_vec(), me));
        assert_eq!(
            call(&echo, "refused"),
            (abi::STATUS_ERROR, b"refused".to_vec(), me)
        );
        let (status, text, thread) = call(&echo, "boom");
        assert_eq!((status, thread), (abi::STATUS_PANIC, me));
        assert!(String::from_utf8_lossy(&text).contains("boom"));
    }

    #[test]
    fn an_inline_call_that_waits_goes_on_on_the_plugins_runtime() {
        let echo = instance(Echo::<true>);
        let (status, payload, thread) = call(&echo, "later");
        assert_eq!(
            (status, payload.as_slice()),
            (abi::STATUS_OK, &b"later"[..])
        );
        assert_ne!(
            thread,
            std::thread::current().id(),
            "finished on the plugin's runtime"
        );
    }

    #[test]
    fn a_call_that_is_not_inline_always_runs_on_the_plugins_runtime() {
        let echo = instance(Echo::<false>);
        let (status, payload, thread) = call(&echo, "now");
        assert_eq!((status, payload.as_slice()), (abi::STATUS_OK, &b"now"[..]));
        assert_ne!(thread, std::thread::current().id());
    }
}
