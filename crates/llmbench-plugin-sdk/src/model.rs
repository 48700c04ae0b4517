//! Models a plugin may call through the host: [`ModelHandle`], given to graders in their
//! [`GraderContext`].
//!
//! A grader that needs a model (a judge) never calls it itself: the config names a provider
//! entry (`judge = "NAME"` on the grader), and the host serves each request through the same
//! path as the samples' (retries, rate limits, concurrency limits, the spend cap). The call
//! crosses the boundary as [`HostApi::complete_start`]: no future crosses, the host calls
//! back exactly once, and dropping the pending request releases the call with `cancel`.

use std::ffi::c_void;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use llmbench_core::{
    Completion, CompletionRequest, PluginContext, Provider, ProviderError, ProviderErrorKind,
};
use llmbench_plugin_abi::{self as abi, Bytes, HostApi};
use tokio::sync::oneshot;

/// What a grader is created with: its [`PluginContext`] (which it derefs to) and the model the
/// config gave it, if any.
#[derive(Debug, Clone)]
pub struct GraderContext<'a> {
    context: &'a PluginContext,
    judge: Option<ModelHandle>,
}

impl<'a> GraderContext<'a> {
    /// A context without a model: what a grader gets when the config names no `judge`.
    pub fn new(context: &'a PluginContext) -> Self {
        Self {
            context,
            judge: None,
        }
    }

    /// A context whose judge is `judge` (tests give a [`ModelHandle::from_provider`]).
    pub fn with_judge(context: &'a PluginContext, judge: ModelHandle) -> Self {
        Self {
            context,
            judge: Some(judge),
        }
    }

    pub fn plugin_context(&self) -> &'a PluginContext {
        self.context
    }

    /// The model named by the grader's `judge = "NAME"` in the config, if it names one.
    pub fn judge(&self) -> Option<&ModelHandle> {
        self.judge.as_ref()
    }
}

impl Deref for GraderContext<'_> {
    type Target = PluginContext;

    fn deref(&self) -> &PluginContext {
        self.context
    }
}

/// The model behind one of the config's provider entries, as a [`Provider`]. Through the host
/// (the normal case) each request goes through the runner, which sets the entry's model id,
/// applies its limits and retries, and counts its cost; a handle made with
/// [`ModelHandle::from_provider`] calls the given provider directly (for tests).
#[derive(Clone)]
pub struct ModelHandle {
    provider: String,
    model: String,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Host(HostLink),
    Local(Arc<dyn Provider>),
}

impl std::fmt::Debug for ModelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHandle")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl ModelHandle {
    /// A handle that calls `inner` directly, without the host: for tests of a grader.
    pub fn from_provider(
        provider: impl Into<String>,
        model: impl Into<String>,
        inner: Arc<dyn Provider>,
    ) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            backend: Backend::Local(inner),
        }
    }

    pub(crate) fn from_host(provider: String, model: String, host: HostLink) -> Self {
        Self {
            provider,
            model,
            backend: Backend::Host(host),
        }
    }

    /// The config's name of the provider entry (`[providers.NAME]`).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The entry's model id, which the host puts in every request.
    pub fn model(&self) -> &str {
        &self.model
    }
}

#[async_trait]
impl Provider for ModelHandle {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        match &self.backend {
            Backend::Local(inner) => inner.complete(request).await,
            Backend::Host(host) => {
                let request = serde_json::to_vec(request).expect("requests serialize");
                HostCall::start(*host, &self.provider, &request).await
            }
        }
    }
}

/// The host's API for one instance. Its function pointers may be called from any thread (the
/// ABI's contract), and `host` is an opaque token valid until the instance is destroyed,
/// which outlives every call of the instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostLink(pub(crate) HostApi);

// SAFETY: see the type's doc: the ABI makes the host's entry points callable from any thread,
// and the token is only passed back to them.
unsafe impl Send for HostLink {}
// SAFETY: as above.
unsafe impl Sync for HostLink {}

type Sender = oneshot::Sender<(u32, Vec<u8>)>;

/// The host's answer to one call: reclaims the boxed sender made in [`HostCall::start`].
extern "C" fn on_host_done(user_data: *mut c_void, status: u32, payload: Bytes) {
    // SAFETY: `user_data` is the boxed sender made in `HostCall::start`; the host completes
    // each call exactly once, so it is reclaimed exactly once.
    let sender = unsafe { Box::from_raw(user_data.cast::<Sender>()) };
    // SAFETY: the payload is valid for the duration of this callback.
    let payload = unsafe { payload.as_slice() }.to_vec();
    let _ = sender.send((status, payload));
}

/// One request to the host in flight. Dropped unfinished, it releases the call with cancel.
struct HostCall {
    host: HostLink,
    call: *mut c_void,
    rx: oneshot::Receiver<(u32, Vec<u8>)>,
    finished: bool,
}

// SAFETY: the call handle is an opaque token the host accepts from any thread.
unsafe impl Send for HostCall {}

impl HostCall {
    fn start(host: HostLink, provider: &str, request: &[u8]) -> Self {
        let (tx, rx) = oneshot::channel::<(u32, Vec<u8>)>();
        let user_data = Box::into_raw(Box::new(tx)).cast::<c_void>();
        let call = (host.0.complete_start)(
            host.0.host,
            Bytes::new(provider.as_bytes()),
            Bytes::new(request),
            on_host_done,
            user_data,
        );
        Self {
            host,
            call,
            rx,
            finished: false,
        }
    }
}

impl Future for HostCall {
    type Output = Result<Completion, ProviderError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (status, payload) = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(done)) => done,
            Poll::Ready(Err(_)) => (
                abi::STATUS_PANIC,
                b"the host dropped the call without completing it".to_vec(),
            ),
        };
        self.finished = true;
        Poll::Ready(decode(status, &payload))
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        (self.host.0.complete_release)(self.host.0.host, self.call, !self.finished);
    }
}

/// A host answer as the provider's result.
fn decode(status: u32, payload: &[u8]) -> Result<Completion, ProviderError> {
    let text = || String::from_utf8_lossy(payload).into_owned();
    let plugin = |message: String| ProviderError::new(ProviderErrorKind::Plugin, message);
    match status {
        abi::STATUS_OK => serde_json::from_slice(payload)
            .map_err(|e| plugin(format!("the host returned an invalid completion: {e}"))),
        abi::STATUS_ERROR => Err(serde_json::from_slice(payload)
            .unwrap_or_else(|e| plugin(format!("the host returned an invalid error: {e}")))),
        abi::STATUS_CANCELLED => Err(ProviderError::new(
            ProviderErrorKind::Other,
            "the host cancelled the call",
        )),
        abi::STATUS_BAD_REQUEST => Err(plugin(format!("the host refused the request: {}", text()))),
        other => Err(plugin(format!(
            "the host failed the call (status {other}): {}",
            text()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_answers_decode_to_the_providers_result() {
        let error = ProviderError::new(ProviderErrorKind::SpendLimit, "spend cap reached");
        let payload = serde_json::to_vec(&error).unwrap();
        assert_eq!(decode(abi::STATUS_ERROR, &payload).unwrap_err(), error);
        let e = decode(abi::STATUS_BAD_REQUEST, b"no such provider").unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Plugin);
        assert_eq!(e.message, "the host refused the request: no such provider");
        assert_eq!(
            decode(abi::STATUS_CANCELLED, b"").unwrap_err().kind,
            ProviderErrorKind::Other
        );
        assert!(
            decode(abi::STATUS_OK, b"not json")
                .unwrap_err()
                .message
                .starts_with("the host returned an invalid completion")
        );
    }
}
