//! Plugin instances and calls across the C ABI.

use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use llmbench_core::PluginContext;
use llmbench_plugin_abi::{self as abi, Bytes, HostApi, PluginKind};
use tokio::sync::oneshot;

use crate::models::{HostState, host_complete_release, host_complete_start};
use crate::{JudgeModel, LoadError, Plugin};

/// How a plugin call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    Ok(Vec<u8>),
    /// The method returned an error (JSON).
    Error(Vec<u8>),
    /// The plugin panicked, with the message.
    Panic(String),
    /// The plugin did not understand the request.
    BadRequest(String),
    Cancelled,
}

/// One live plugin instance. Destroyed (its runtime shut down) when dropped.
#[derive(Debug)]
pub struct Instance {
    plugin: Plugin,
    ptr: *mut c_void,
    /// For an instance given a model: the API passed to its `create` and the state its
    /// `host` token points to. Both outlive the instance (dropped after `destroy`).
    _host: Option<(Box<HostApi>, Box<HostState>)>,
}

// SAFETY: the ABI requires every vtable entry to be callable from any thread, and the
// instance pointer is only passed back to the plugin that made it.
unsafe impl Send for Instance {}
// SAFETY: as above; concurrent calls on one instance are part of the contract.
unsafe impl Sync for Instance {}

extern "C" fn host_log(level: u32, target: Bytes, message: Bytes) {
    // SAFETY: the plugin passes slices valid for the duration of this call.
    let (target, message) = unsafe { (target.as_slice(), message.as_slice()) };
    let target = String::from_utf8_lossy(target);
    let message = String::from_utf8_lossy(message);
    match level {
        abi::LOG_ERROR => {
            tracing::error!(target: "llmbench::plugin", plugin_target = %target, "{message}")
        }
        abi::LOG_WARN => {
            tracing::warn!(target: "llmbench::plugin", plugin_target = %target, "{message}")
        }
        abi::LOG_INFO => {
            tracing::info!(target: "llmbench::plugin", plugin_target = %target, "{message}")
        }
        abi::LOG_DEBUG => {
            tracing::debug!(target: "llmbench::plugin", plugin_target = %target, "{message}")
        }
        _ => tracing::trace!(target: "llmbench::plugin", plugin_target = %target, "{message}"),
    }
}

/// The host's API without a model (null `host`): what providers, reporters and graders the
/// config gives no judge are created with.
fn host_api() -> &'static HostApi {
    /// A `HostApi` holds a (null) pointer: shared read-only, it is safe between threads.
    struct Shared(HostApi);
    // SAFETY: the API is immutable; its pointer is null and its functions thread-safe.
    unsafe impl Sync for Shared {}
    // SAFETY: as above.
    unsafe impl Send for Shared {}
    static API: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    &API.get_or_init(|| Shared(host_api_for(std::ptr::null_mut())))
        .0
}

/// The host's API for an instance whose `host` token is `host`.
fn host_api_for(host: *mut c_void) -> HostApi {
    static MAX_LEVEL: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let max_level = *MAX_LEVEL.get_or_init(|| match tracing::level_filters::LevelFilter::current()
        .into_level()
    {
        None => 0,
        Some(tracing::Level::ERROR) => abi::LOG_ERROR,
        Some(tracing::Level::WARN) => abi::LOG_WARN,
        Some(tracing::Level::INFO) => abi::LOG_INFO,
        Some(tracing::Level::DEBUG) => abi::LOG_DEBUG,
        Some(tracing::Level::TRACE) => abi::LOG_TRACE,
    });
    HostApi {
        log: host_log,
        max_level,
        host,
        complete_start: host_complete_start,
        complete_release: host_complete_release,
    }
}

extern "C" fn collect_error(user: *mut c_void, bytes: Bytes) {
    // SAFETY: `user` is the `&mut Vec<u8>` passed to `create` below, alive during the call;
    // `bytes` is valid for this callback.
    unsafe { (*user.cast::<Vec<u8>>()).extend_from_slice(bytes.as_slice()) };
}

type Sender = oneshot::Sender<(u32, Vec<u8>)>;

extern "C" fn on_complete(user_data: *mut c_void, status: u32, payload: Bytes) {
    // SAFETY: `user_data` is the boxed sender made in `Instance::call`; the plugin completes
    // each call exactly once, so it is reclaimed exactly once. The payload is valid now.
    let sender = unsafe { Box::from_raw(user_data.cast::<Sender>()) };
    // SAFETY: the payload is valid for the duration of this callback.
    let payload = unsafe { payload.as_slice() }.to_vec();
    let _ = sender.send((status, payload));
}

impl Plugin {
    /// Build an instance of `expected` kind from JSON options. Blocking: plugins may load
    /// large files here. Call it from a blocking context.
    pub fn instantiate(
        &self,
        expected: PluginKind,
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<Instance, LoadError> {
        self.expect_kind(expected)?;
        let ptr = self.create(options, context, false, None)?;
        Ok(Instance {
            plugin: *self,
            ptr,
            _host: None,
        })
    }

    /// [`instantiate`](Self::instantiate) a grader whose model calls (`judge`'s provider)
    /// the host serves through `judge.access`, on `judge.runtime`. Blocking.
    pub fn instantiate_with_judge(
        &self,
        options: &serde_json::Value,
        context: &PluginContext,
        judge: JudgeModel,
    ) -> Result<Instance, LoadError> {
        self.expect_kind(PluginKind::Grader)?;
        let spec = serde_json::json!({ "provider": judge.provider, "model": judge.model });
        let state = Box::new(HostState::new(judge));
        let token = (&raw const *state).cast_mut().cast::<c_void>();
        let api = Box::new(host_api_for(token));
        let ptr = self.create_with_api(options, context, false, Some(spec), &api)?;
        Ok(Instance {
            plugin: *self,
            ptr,
            _host: Some((api, state)),
        })
    }

    /// Check `options` as the plugin would at `create`, without creating anything: no model
    /// is loaded, no client made (the plugin's `check_options`; plugins that do not implement
    /// it accept any options here). What `llmbench validate` runs. `context` is the one
    /// [`instantiate`](Self::instantiate) would get (the plugin resolves the files its options
    /// name against its `config_dir`). Blocking, but quick.
    pub fn check_options(
        &self,
        expected: PluginKind,
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), LoadError> {
        self.expect_kind(expected)?;
        let token = self.create(options, context, true, None)?;
        (self.decl.vtable.destroy)(token);
        Ok(())
    }

    fn create(
        &self,
        options: &serde_json::Value,
        context: &PluginContext,
        check_only: bool,
        judge: Option<serde_json::Value>,
    ) -> Result<*mut c_void, LoadError> {
        self.create_with_api(options, context, check_only, judge, host_api())
    }

    fn create_with_api(
        &self,
        options: &serde_json::Value,
        context: &PluginContext,
        check_only: bool,
        judge: Option<serde_json::Value>,
        api: &HostApi,
    ) -> Result<*mut c_void, LoadError> {
        let mut request = serde_json::json!({
            "options": options,
            "context": context,
            "check-only": check_only,
        });
        if let Some(judge) = judge {
            request["judge"] = judge;
        }
        let request = serde_json::to_vec(&request).expect("JSON value serializes");
        let mut error = Vec::new();
        let ptr = (self.decl.vtable.create)(
            api,
            Bytes::new(&request),
            collect_error,
            (&raw mut error).cast(),
        );
        if ptr.is_null() {
            return Err(create_error(self.meta().name, &error));
        }
        Ok(ptr)
    }
}

/// A create error as the SDK sends it: `{"llmbench-options-error": {...}}` for a bad option,
/// anything else is a plain message.
fn create_error(name: String, payload: &[u8]) -> LoadError {
    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(rename = "llmbench-options-error")]
        error: WireOptionsError,
    }
    #[derive(serde::Deserialize)]
    struct WireOptionsError {
        path: Vec<String>,
        message: String,
        #[serde(default)]
        help: Option<String>,
    }
    match serde_json::from_slice::<Wire>(payload) {
        Ok(Wire { error }) => LoadError::Options {
            name,
            path: error.path,
            message: error.message,
            help: error.help,
        },
        Err(_) => LoadError::Create {
            name,
            reason: String::from_utf8_lossy(payload).into_owned(),
        },
    }
}

impl Instance {
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Start `method` and wait for its outcome. Dropping the future cancels the call.
    pub fn call(&self, method: &str, request: &[u8]) -> PendingCall<'_> {
        let (tx, rx) = oneshot::channel();
        let user_data = Box::into_raw(Box::new(tx)).cast::<c_void>();
        let handle = (self.plugin.decl.vtable.start_call)(
            self.ptr,
            Bytes::new(method.as_bytes()),
            Bytes::new(request),
            on_complete,
            user_data,
        );
        PendingCall {
            instance: self,
            handle,
            rx,
            finished: false,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        (self.plugin.decl.vtable.destroy)(self.ptr);
    }
}

/// A call in flight. Resolves to its [`CallOutcome`]; dropped early, it cancels the call.
#[derive(Debug)]
pub struct PendingCall<'a> {
    instance: &'a Instance,
    handle: *mut c_void,
    rx: oneshot::Receiver<(u32, Vec<u8>)>,
    finished: bool,
}

// SAFETY: the call handle is an opaque token the plugin accepts from any thread.
unsafe impl Send for PendingCall<'_> {}

impl Future for PendingCall<'_> {
    type Output = CallOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CallOutcome> {
        let (status, payload) = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(done)) => done,
            Poll::Ready(Err(_)) => (
                abi::STATUS_PANIC,
                b"plugin dropped the call without completing it".to_vec(),
            ),
        };
        self.finished = true;
        let text = || String::from_utf8_lossy(&payload).into_owned();
        Poll::Ready(match status {
            abi::STATUS_OK => CallOutcome::Ok(payload),
            abi::STATUS_ERROR => CallOutcome::Error(payload),
            abi::STATUS_CANCELLED => CallOutcome::Cancelled,
            abi::STATUS_BAD_REQUEST => CallOutcome::BadRequest(text()),
            abi::STATUS_PANIC => CallOutcome::Panic(text()),
            other => CallOutcome::BadRequest(format!("plugin returned unknown status {other}")),
        })
    }
}

impl Drop for PendingCall<'_> {
    fn drop(&mut self) {
        (self.instance.plugin.decl.vtable.release_call)(
            self.instance.ptr,
            self.handle,
            !self.finished,
        );
    }
}
