//! The safe traits plugin authors implement, and the adapters that turn them into a
//! method-name + JSON [`Service`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use llmbench_core::{
    CompletionRequest, GradeRequest, Grader, PluginContext, Provider, Reporter, RunReport,
};
use llmbench_plugin_abi::PluginKind;

/// A provider plugin: a [`Provider`] that can be built from its JSON options.
pub trait ProviderPlugin: Provider + Sized + 'static {
    /// Build the provider. May block (to load a model, say); runs inside the plugin's own
    /// runtime context, so it may create clients that need one.
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;
}

/// A grader plugin: a [`Grader`] that can be built from its JSON options.
pub trait GraderPlugin: Grader + Sized + 'static {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;
}

/// A reporter plugin: a [`Reporter`] that can be built from its JSON options.
pub trait ReporterPlugin: Reporter + Sized + 'static {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;
}

/// The outcome of a call: `Ok(json)` or `Err(json error)`.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, Vec<u8>>> + Send>>;

/// What the export machinery drives: one instance, methods by name, JSON in and out.
pub trait Service: Send + Sync + Sized + 'static {
    const KIND: PluginKind;
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;
    /// Parse the request (synchronously: the bytes are only borrowed) and return the future
    /// that serves it, or why the request was not understood.
    fn call(self: &Arc<Self>, method: &str, request: &[u8]) -> Result<CallFuture, String>;
}

fn parse<T: serde::de::DeserializeOwned>(
    kind: PluginKind,
    method: &str,
    request: &[u8],
) -> Result<T, String> {
    if method != kind.method() {
        return Err(format!(
            "a {} plugin has no method `{method}`",
            kind.as_str()
        ));
    }
    serde_json::from_slice(request).map_err(|e| format!("invalid `{method}` request: {e}"))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plugin payloads serialize")
}

macro_rules! adapter {
    ($adapter:ident, $plugin:ident, $kind:expr, |$inner:ident, $method:ident, $bytes:ident| $body:expr) => {
        /// Serves a plugin type through the ABI.
        #[derive(Debug)]
        pub struct $adapter<T>(T, PhantomData<fn() -> T>);

        impl<T: $plugin> Service for $adapter<T> {
            const KIND: PluginKind = $kind;
            fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
                T::create(options, context).map(|t| Self(t, PhantomData))
            }
            fn call(self: &Arc<Self>, $method: &str, $bytes: &[u8]) -> Result<CallFuture, String> {
                let $inner = Arc::clone(self);
                $body
            }
        }
    };
}

adapter!(
    ProviderAdapter,
    ProviderPlugin,
    PluginKind::Provider,
    |this, method, bytes| {
        let request: CompletionRequest = parse(PluginKind::Provider, method, bytes)?;
        Ok(Box::pin(async move {
            this.0
                .complete(&request)
                .await
                .map(|c| encode(&c))
                .map_err(|e| encode(&e))
        }))
    }
);

adapter!(
    GraderAdapter,
    GraderPlugin,
    PluginKind::Grader,
    |this, method, bytes| {
        let request: GradeRequest = parse(PluginKind::Grader, method, bytes)?;
        Ok(Box::pin(async move {
            this.0
                .grade(&request)
                .await
                .map(|g| encode(&g))
                .map_err(|e| encode(&e))
        }))
    }
);

adapter!(
    ReporterAdapter,
    ReporterPlugin,
    PluginKind::Reporter,
    |this, method, bytes| {
        let report: RunReport = parse(PluginKind::Reporter, method, bytes)?;
        Ok(Box::pin(async move {
            this.0
                .render(&report)
                .map(|s| encode(&s))
                .map_err(|e| encode(&e.message))
        }))
    }
);
