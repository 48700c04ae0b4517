//! Plugin instances seen through the `llmbench_core` traits.

use std::collections::HashMap;

use async_trait::async_trait;
use llmbench_core::{
    Completion, CompletionRequest, FileBytes, Grade, GradeRequest, Grader, GraderError,
    PluginContext, Provider, ProviderError, ProviderErrorKind, ReportError, Reporter, RunReport,
};
use llmbench_plugin_abi::PluginKind;

use crate::{CallOutcome, Instance, JudgeModel, LoadError, Plugin};

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Room for a typical payload (a completion, a grade with its evidence) up front:
    // `to_vec` starts at 128 bytes and grows a few times per call otherwise.
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, value).expect("request serializes");
    bytes
}

/// Decode a call outcome: `Ok` payload as `T`, `Error` payload as `E`, and everything else
/// through `fail`, which turns a reason into the error type.
fn decode<T, E>(name: &str, outcome: CallOutcome, fail: impl Fn(String) -> E) -> Result<T, E>
where
    T: serde::de::DeserializeOwned,
    E: serde::de::DeserializeOwned,
{
    match outcome {
        CallOutcome::Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("plugin `{name}` returned an invalid answer: {e}"))),
        CallOutcome::Error(bytes) => Err(serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| fail(format!("plugin `{name}` returned an invalid error: {e}")))),
        CallOutcome::Panic(message) => Err(fail(format!("plugin `{name}` panicked: {message}"))),
        CallOutcome::BadRequest(reason) => Err(fail(format!(
            "plugin `{name}` refused the request: {reason}"
        ))),
        CallOutcome::Cancelled => Err(fail(format!("plugin `{name}` cancelled the call"))),
    }
}

macro_rules! adapter {
    ($name:ident, $kind:expr) => {
        /// A plugin instance of this kind.
        #[derive(Debug)]
        pub struct $name {
            instance: Instance,
            name: String,
        }

        impl $name {
            /// Instantiate `plugin` with `options`. Blocking.
            pub fn new(
                plugin: &Plugin,
                options: &serde_json::Value,
                context: &PluginContext,
            ) -> Result<Self, LoadError> {
                let instance = plugin.instantiate($kind, options, context)?;
                Ok(Self {
                    name: plugin.meta().name,
                    instance,
                })
            }

            pub fn name(&self) -> &str {
                &self.name
            }

            /// The files the instance read while it was created (through the SDK's
            /// `read_limited`: an answers file, a harness, a rubric), each as `(path as the
            /// plugin resolved it, bytes as read)`, in the order first read; served from
            /// `PluginContext::stored_files` where it was given copies. The plugin hands them
            /// over once: ask right after creating it. A plugin built by an SDK without the
            /// method read none that it can tell. Blocking.
            pub fn files_read(&self) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
                files_read(&self.instance, &self.name)
            }
        }
    };
}

/// The method the SDK answers for every plugin kind with the files an instance read while it
/// was created (the SDK's `FILES_READ_METHOD`; the host does not depend on the SDK).
pub const FILES_READ_METHOD: &str = "files-read";

fn files_read(instance: &Instance, name: &str) -> Result<Vec<(String, Vec<u8>)>, LoadError> {
    let error = |reason: String| LoadError::FilesRead {
        name: name.to_owned(),
        reason,
    };
    match futures_block_on(instance.call(FILES_READ_METHOD, b"null")) {
        CallOutcome::Ok(bytes) => {
            let files: Vec<(String, FileBytes)> = serde_json::from_slice(&bytes)
                .map_err(|e| error(format!("invalid answer: {e}")))?;
            Ok(files.into_iter().map(|(path, b)| (path, b.0)).collect())
        }
        CallOutcome::BadRequest(reason) if reason.contains("has no method") => {
            tracing::debug!(plugin = %name, "no `{FILES_READ_METHOD}` method: no files recorded");
            Ok(Vec::new())
        }
        CallOutcome::Error(bytes) => Err(error(String::from_utf8_lossy(&bytes).into_owned())),
        CallOutcome::BadRequest(reason) => Err(error(reason)),
        CallOutcome::Panic(message) => Err(error(format!("panicked: {message}"))),
        CallOutcome::Cancelled => Err(error("cancelled".into())),
    }
}

adapter!(PluginProvider, PluginKind::Provider);
adapter!(PluginGrader, PluginKind::Grader);
adapter!(PluginReporter, PluginKind::Reporter);

#[async_trait]
impl Provider for PluginProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let outcome = self.instance.call("complete", &encode(request)).await;
        decode(&self.name, outcome, |reason| {
            ProviderError::new(ProviderErrorKind::Plugin, reason)
        })
    }
}

/// The grader method that checks one item's rendered options (the SDK's
/// `CHECK_ITEM_METHOD`; the host does not depend on the SDK, so the name is repeated here).
pub const CHECK_ITEM_METHOD: &str = "check-item";

impl PluginGrader {
    /// Instantiate grader `plugin` with `options`, giving it `judge` to call: its requests
    /// are served by `judge.access`. Blocking.
    pub fn with_judge(
        plugin: &Plugin,
        options: &serde_json::Value,
        context: &PluginContext,
        judge: JudgeModel,
    ) -> Result<Self, LoadError> {
        let instance = plugin.instantiate_with_judge(options, context, judge)?;
        Ok(Self {
            name: plugin.meta().name,
            instance,
        })
    }

    /// Ask the grader whether it can grade an item whose options render to `options`
    /// (`GraderPlugin::check_item`): `Err` is the grader's reason. A plugin that does not
    /// serve the method (built by an SDK without it) accepts every item.
    pub async fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
        let outcome = self
            .instance
            .call(CHECK_ITEM_METHOD, &encode(options))
            .await;
        match outcome {
            CallOutcome::BadRequest(reason) if reason.contains("has no method") => {
                tracing::debug!(plugin = %self.name, "no `{CHECK_ITEM_METHOD}` method: items not checked");
                Ok(())
            }
            outcome => decode::<(), String>(&self.name, outcome, |reason| reason),
        }
    }

    /// The options the grader reads from each item when the config leaves them out, as
    /// templates (`GraderPlugin::item_defaults`; the method is the SDK's
    /// `ITEM_DEFAULTS_METHOD`). A plugin that does not serve the method has none; a plugin
    /// that fails to answer is an error, so that no item goes unchecked unnoticed.
    pub async fn item_defaults(
        &self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let outcome = self.instance.call(ITEM_DEFAULTS_METHOD, b"null").await;
        match outcome {
            CallOutcome::BadRequest(reason) if reason.contains("has no method") => {
                Ok(serde_json::Map::new())
            }
            outcome => decode(&self.name, outcome, |reason| reason),
        }
    }
}

/// The grader method that names the options a grader reads from each item when the config
/// leaves them out (the SDK's `ITEM_DEFAULTS_METHOD`).
pub const ITEM_DEFAULTS_METHOD: &str = "item-defaults";

/// The grader method that checks many items' rendered options in one call (the SDK's
/// `CHECK_ITEMS_METHOD`): the request is a JSON array of options, the answer the refusals as
/// `[index in the array, reason]` pairs.
pub const CHECK_ITEMS_METHOD: &str = "check-items";

/// The most items one `check-items` call carries, so that a large dataset's check holds one
/// chunk's rendered options (and their JSON) at a time, not the whole dataset's.
pub const CHECK_ITEMS_CHUNK: usize = 1_000;

impl PluginGrader {
    /// [`check_item`](Self::check_item) for many items: `items` are `(key, the item's
    /// rendered options)`, read lazily; the answer is the refused items' `(key, reason)`, in
    /// the order of `items`, with the reasons `check_item` gives. The items go to the plugin
    /// in chunks of [`CHECK_ITEMS_CHUNK`], one `check-items` call each (not one call per
    /// item), which carries each distinct rendering once: items whose options render the
    /// same (a multiple-choice letter, a repeated number) get the same answer, as
    /// `check_item` is a check of the options alone. A plugin that does not serve that method
    /// (built by an older SDK) is asked one item at a time, as is a chunk whose call failed
    /// otherwise (a panic, an invalid answer), so that each of its items gets the outcome it
    /// would get alone.
    pub async fn check_items<I>(&self, items: I) -> Vec<(usize, String)>
    where
        I: IntoIterator<Item = (usize, serde_json::Value)>,
    {
        let mut items = items.into_iter();
        let mut refused = Vec::new();
        let mut batched = true;
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            chunk.extend(items.by_ref().take(CHECK_ITEMS_CHUNK));
            if chunk.is_empty() {
                return refused;
            }
            if batched {
                match self.check_chunk(&chunk).await {
                    Ok(found) => {
                        refused.extend(found);
                        continue;
                    }
                    Err(Unbatched::NoMethod) => {
                        tracing::debug!(plugin = %self.name, "no `{CHECK_ITEMS_METHOD}` method: items checked one by one");
                        batched = false;
                    }
                    Err(Unbatched::Failed(reason)) => {
                        tracing::debug!(plugin = %self.name, %reason, "`{CHECK_ITEMS_METHOD}` failed: this chunk's items checked one by one");
                    }
                }
            }
            for (key, options) in &chunk {
                if let Err(reason) = self.check_item(options).await {
                    refused.push((*key, reason));
                }
            }
        }
    }

    /// One `check-items` call for `chunk`, each distinct rendering sent once: its refusals,
    /// keyed, in order.
    async fn check_chunk(
        &self,
        chunk: &[(usize, serde_json::Value)],
    ) -> Result<Vec<(usize, String)>, Unbatched> {
        // The request array, and for each item of the chunk the index in it of its options.
        let mut request = b"[".to_vec();
        let mut sent: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut positions = Vec::with_capacity(chunk.len());
        for (_, options) in chunk {
            let next = sent.len();
            let position = *sent.entry(encode(options)).or_insert_with_key(|json| {
                if next > 0 {
                    request.push(b',');
                }
                request.extend_from_slice(json);
                next
            });
            positions.push(position);
        }
        request.push(b']');
        let distinct = sent.len();
        drop(sent);
        let outcome = self.instance.call(CHECK_ITEMS_METHOD, &request).await;
        let bytes = match outcome {
            CallOutcome::Ok(bytes) => bytes,
            CallOutcome::BadRequest(reason) if reason.contains("has no method") => {
                return Err(Unbatched::NoMethod);
            }
            CallOutcome::Error(bytes) => {
                let error = String::from_utf8_lossy(&bytes);
                return Err(Unbatched::Failed(format!("error {error}")));
            }
            CallOutcome::BadRequest(reason) => {
                return Err(Unbatched::Failed(format!("bad request: {reason}")));
            }
            CallOutcome::Panic(message) => {
                return Err(Unbatched::Failed(format!("panicked: {message}")));
            }
            CallOutcome::Cancelled => return Err(Unbatched::Failed("cancelled".into())),
        };
        let found: Vec<(usize, String)> = serde_json::from_slice(&bytes)
            .map_err(|e| Unbatched::Failed(format!("invalid answer: {e}")))?;
        let mut reasons: Vec<Option<String>> = vec![None; distinct];
        for (index, reason) in found {
            *reasons
                .get_mut(index)
                .ok_or_else(|| Unbatched::Failed(format!("no item at index {index}")))? =
                Some(reason);
        }
        Ok(chunk
            .iter()
            .zip(positions)
            .filter_map(|((key, _), position)| Some((*key, reasons[position].clone()?)))
            .collect())
    }
}

/// Why a chunk's items are checked one by one.
enum Unbatched {
    /// The plugin does not serve `check-items`: nor will it for the next chunk.
    NoMethod,
    /// This call failed.
    Failed(String),
}

#[async_trait]
impl Grader for PluginGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        let outcome = self.instance.call("grade", &encode(request)).await;
        decode(&self.name, outcome, GraderError::new)
    }
}

impl Reporter for PluginReporter {
    fn render(&self, report: &RunReport) -> Result<String, ReportError> {
        // Reporters are synchronous; wait on the plugin's runtime from this thread.
        let outcome = futures_block_on(self.instance.call("render", &encode(report)));
        decode::<String, String>(&self.name, outcome, |m| m)
            .map_err(|message| ReportError { message })
    }
}

/// Minimal blocking wait for one plugin call (the plugin's own runtime does the work; this
/// thread only parks until the completion callback fires).
fn futures_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
