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

use crate::{GraderContext, OptionsError};

/// A provider plugin: a [`Provider`] that can be built from its JSON options.
pub trait ProviderPlugin: Provider + Sized + 'static {
    /// Build the provider. May block (to load a model, say); runs inside the plugin's own
    /// runtime context, so it may create clients that need one.
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;

    /// Check the options without building anything: `llmbench validate` calls this instead
    /// of [`create`](Self::create) (so a model is not loaded and no client is made), and the
    /// host calls it before `create` at the start of a run, so a bad option is reported at
    /// its place in the config. Implement it by parsing the options struct with
    /// [`parse_options`](crate::parse_options), plus checks that need no more I/O than a
    /// file's metadata: a file an option names is resolved against `context`
    /// ([`PluginContext::resolve`]: relative to the config's directory) and checked with
    /// [`check_option_file`](crate::check_option_file), which opens nothing. Default:
    /// nothing is checked here.
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError> {
        let _ = (options, context);
        Ok(())
    }
}

/// A grader plugin: a [`Grader`] that can be built from its JSON options.
pub trait GraderPlugin: Grader + Sized + 'static {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;

    /// Build the grader with the model the config gave it (`judge = "NAME"` on the grader:
    /// [`GraderContext::judge`]). What the host calls; a grader that calls no model keeps
    /// the default, which is [`create`](Self::create).
    fn create_with(
        options: serde_json::Value,
        context: &GraderContext<'_>,
    ) -> Result<Self, String> {
        Self::create(options, context.plugin_context())
    }

    /// As [`ProviderPlugin::check_options`].
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError> {
        let _ = (options, context);
        Ok(())
    }

    /// Check the options as rendered for one item (`expected = "{{ expected }}"` filled with
    /// that item's value) before any sample runs, so that a dataset value this grader cannot
    /// use (an `expected` that is not a number, for a numeric match) is refused up front with
    /// the item's place, instead of failing every sample of that item. `options` is what
    /// [`GradeRequest::options`] will hold for the item. Called only when the config's
    /// options use item variables, for many items per call from the host
    /// ([`CHECK_ITEMS_METHOD`]), and once per distinct rendering: items whose options render
    /// the same share the answer, so the check must depend on `options` alone. Default:
    /// every item is fine.
    fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
        let _ = options;
        Ok(())
    }

    /// Options this grader reads from each item when the config leaves them out, as
    /// templates (`grader-match`: `expected = "{{ expected }}"`, the item's reference answer).
    /// Each is added to the options rendered for an item that has every variable the
    /// template names (by the host for [`check_item`](Self::check_item), which refuses a bad
    /// dataset value before any sample runs, and by this SDK for [`Grader::grade`], which
    /// sees it in [`GradeRequest::options`]), exactly as if the config had written it; for an
    /// item without them the key stays out. Asked once, after `create`
    /// ([`ITEM_DEFAULTS_METHOD`]). Default: none.
    fn item_defaults(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// Whether this grader renders the templated options it needs itself, from the request
    /// ([`GradeRequest::render`], [`GradeRequest::value`]). By default (`false`) the SDK
    /// renders every option of the config, with the [`item_defaults`](Self::item_defaults),
    /// into [`GradeRequest::options`] before each [`Grader::grade`] when the options use item
    /// variables: a copy of the options per sample. A grader that reads one or two templated
    /// values (`grader-match`'s `expected`) saves that by saying `true`: `options` is then
    /// always `None`.
    const RENDERS_OWN_OPTIONS: bool = false;

    /// Whether [`Grader::grade`] answers without waiting and without blocking: no I/O, no
    /// model, a computation of microseconds (a pattern, a comparison). When `true`, the SDK
    /// polls the grading once on the host's thread, inside the call, and answers there: no
    /// task spawned on the plugin's runtime and no wake-up of its thread and then of the
    /// host's, which cost more than a pattern match (`docs/performance.md`). A grading that
    /// is not ready at that first poll goes on on the plugin's runtime as usual, so `true` is
    /// never wrong, only slower for a grader that waits; a grader that blocks (a sandbox, a
    /// file read with `std::fs`, a long loop) must say `false`, the default, since it would
    /// hold one of the host's worker threads.
    const GRADES_INLINE: bool = false;
}

/// What a grader's options need to be rendered for each item inside the plugin: the config's
/// options and the grader's item defaults, when either names an item variable.
#[derive(Debug, Default)]
pub struct ItemOptions {
    /// `None`: the options are the same for every item (or the grader renders its own).
    templates: Option<(
        serde_json::Value,
        serde_json::Map<String, serde_json::Value>,
    )>,
}

impl ItemOptions {
    fn new<T: GraderPlugin>(grader: &T, options: serde_json::Value) -> Self {
        let defaults = grader.item_defaults();
        let templated =
            llmbench_core::template::value_has_placeholder(&options) || !defaults.is_empty();
        Self {
            templates: (templated && !T::RENDERS_OWN_OPTIONS).then_some((options, defaults)),
        }
    }

    /// Sets `request.options` to the options rendered for its item, when they use variables.
    fn render_into(&self, request: &mut GradeRequest) {
        if let Some((options, defaults)) = &self.templates {
            let rendered = llmbench_core::template::render_options(options, defaults, &|name| {
                request.value(name)
            });
            request.options = Some(rendered);
        }
    }
}

/// A reporter plugin: a [`Reporter`] that can be built from its JSON options.
pub trait ReporterPlugin: Reporter + Sized + 'static {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String>;

    /// As [`ProviderPlugin::check_options`].
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError> {
        let _ = (options, context);
        Ok(())
    }
}

/// The outcome of a call: `Ok(json)` or `Err(json error)`.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, Vec<u8>>> + Send>>;

/// What the export machinery drives: one instance, methods by name, JSON in and out.
pub trait Service: Send + Sync + Sized + 'static {
    const KIND: PluginKind;
    /// Poll a call's future once on the caller's thread before spawning it
    /// ([`GraderPlugin::GRADES_INLINE`]). Default: never.
    const POLL_INLINE: bool = false;
    /// The plugin's [`ProviderPlugin::check_options`] (or the grader's, reporter's).
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError>;
    /// Check the options, then build the instance.
    fn create(options: serde_json::Value, context: &GraderContext<'_>)
    -> Result<Self, CreateError>;
    /// Parse the request (synchronously: the bytes are only borrowed) and return the future
    /// that serves it, or why the request was not understood.
    fn call(self: &Arc<Self>, method: &str, request: &[u8]) -> Result<CallFuture, String>;
}

/// Why `create` failed: an option at a place in the config, or any other reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateError {
    Options(OptionsError),
    Message(String),
}

impl From<String> for CreateError {
    fn from(message: String) -> Self {
        Self::Message(message)
    }
}

impl From<OptionsError> for CreateError {
    fn from(e: OptionsError) -> Self {
        Self::Options(e)
    }
}

/// The grader method that serves [`GraderPlugin::check_item`]: the request is the item's
/// rendered options (JSON), the answer `null`, the error a JSON string.
pub const CHECK_ITEM_METHOD: &str = "check-item";

/// The grader method that serves [`GraderPlugin::check_item`] for many items in one call:
/// the request is a JSON array of items' rendered options, the answer the refusals, each
/// `[index in the array, reason]`, in index order (`[]` when every item is fine). The host
/// sends a run's items in chunks, and falls back to [`CHECK_ITEM_METHOD`] per item for a
/// plugin built by an SDK without this method.
pub const CHECK_ITEMS_METHOD: &str = "check-items";

/// The grader method that serves [`GraderPlugin::item_defaults`]: the request is `null`, the
/// answer a JSON object of option names and templates (`{}` for none).
pub const ITEM_DEFAULTS_METHOD: &str = "item-defaults";

/// A kind's own method, or a reason naming the methods this plugin serves.
fn expect_method(kind: PluginKind, method: &str, extra: &[&str]) -> Result<(), String> {
    if method == kind.method() || extra.contains(&method) {
        return Ok(());
    }
    let served: Vec<String> = std::iter::once(kind.method())
        .chain(extra.iter().copied())
        .map(|m| format!("`{m}`"))
        .collect();
    Err(format!(
        "a {} plugin has no method `{method}` (it serves {})",
        kind.as_str(),
        served.join(", ")
    ))
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, request: &[u8]) -> Result<T, String> {
    serde_json::from_slice(request).map_err(|e| format!("invalid `{method}` request: {e}"))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Room for a typical payload (a completion, a grade with its evidence) up front:
    // `to_vec` starts at 128 bytes and grows a few times per call otherwise.
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, value).expect("plugin payloads serialize");
    bytes
}

macro_rules! adapter {
    ($adapter:ident, $plugin:ident, $kind:expr, $inline:expr, $state:ty, |$options:ident, $context:ident| $create:expr, |$created:ident, $kept:ident| $keep:expr, |$inner:ident, $method:ident, $bytes:ident| $body:expr) => {
        /// Serves a plugin type through the ABI.
        #[derive(Debug)]
        pub struct $adapter<T>(T, $state, PhantomData<fn() -> T>);

        impl<T: $plugin> Service for $adapter<T> {
            const KIND: PluginKind = $kind;
            const POLL_INLINE: bool = $inline;
            fn check_options(
                options: &serde_json::Value,
                context: &PluginContext,
            ) -> Result<(), OptionsError> {
                T::check_options(options, context)
            }
            fn create(
                $options: serde_json::Value,
                $context: &GraderContext<'_>,
            ) -> Result<Self, CreateError> {
                T::check_options(&$options, $context.plugin_context())?;
                let $kept = $options.clone();
                let created: Result<T, String> = $create;
                let $created = created?;
                let state = $keep;
                Ok(Self($created, state, PhantomData))
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
    false,
    (),
    |options, context| T::create(options, context.plugin_context()),
    |_created, _config_options| (),
    |this, method, bytes| {
        expect_method(PluginKind::Provider, method, &[])?;
        let request: CompletionRequest = parse(method, bytes)?;
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
    T::GRADES_INLINE,
    ItemOptions,
    |options, context| T::create_with(options, context),
    |created, config_options| ItemOptions::new(&created, config_options),
    |this, method, bytes| {
        expect_method(
            PluginKind::Grader,
            method,
            &[CHECK_ITEM_METHOD, CHECK_ITEMS_METHOD, ITEM_DEFAULTS_METHOD],
        )?;
        if method == ITEM_DEFAULTS_METHOD {
            return Ok(Box::pin(async move { Ok(encode(&this.0.item_defaults())) }));
        }
        if method == CHECK_ITEMS_METHOD {
            let items: Vec<serde_json::Value> = parse(method, bytes)?;
            return Ok(Box::pin(async move {
                let refused: Vec<(usize, String)> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, options)| this.0.check_item(options).err().map(|e| (i, e)))
                    .collect();
                Ok(encode(&refused))
            }));
        }
        if method == CHECK_ITEM_METHOD {
            let options: serde_json::Value = parse(method, bytes)?;
            return Ok(Box::pin(async move {
                this.0
                    .check_item(&options)
                    .map(|()| encode(&()))
                    .map_err(|e| encode(&e))
            }));
        }
        let mut request: GradeRequest = parse(method, bytes)?;
        this.1.render_into(&mut request);
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
    false,
    (),
    |options, context| T::create(options, context.plugin_context()),
    |_created, _config_options| (),
    |this, method, bytes| {
        expect_method(PluginKind::Reporter, method, &[])?;
        let report: RunReport = parse(method, bytes)?;
        Ok(Box::pin(async move {
            this.0
                .render(&report)
                .map(|s| encode(&s))
                .map_err(|e| encode(&e.message))
        }))
    }
);

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use futures_util::FutureExt as _;
    use llmbench_core::{Grade, GraderError};

    use super::*;

    /// Refuses an item whose options have no string `expected`.
    struct NeedsExpected;

    #[async_trait]
    impl Grader for NeedsExpected {
        async fn grade(&self, _request: &GradeRequest) -> Result<Grade, GraderError> {
            Ok(Grade::pass("fine"))
        }
    }

    impl GraderPlugin for NeedsExpected {
        fn create(_options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
            Ok(Self)
        }

        fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
            match options.get("expected") {
                Some(serde_json::Value::String(_)) => Ok(()),
                other => Err(format!("no text `expected`: {other:?}")),
            }
        }
    }

    fn call(method: &str, request: &str) -> Result<Result<String, String>, String> {
        let adapter = Arc::new(GraderAdapter(
            NeedsExpected,
            ItemOptions::default(),
            PhantomData,
        ));
        let future = adapter.call(method, request.as_bytes())?;
        let outcome = future.now_or_never().expect("checks do not wait");
        Ok(outcome
            .map(|b| String::from_utf8(b).unwrap())
            .map_err(|b| String::from_utf8(b).unwrap()))
    }

    /// Says what options it was given and what `{{ id }}:{{ x }}` renders to; `OWN`: renders
    /// its own options.
    struct ShowsOptions<const OWN: bool>;

    #[async_trait]
    impl<const OWN: bool> Grader for ShowsOptions<OWN> {
        async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
            let options = request.options.as_ref().map(ToString::to_string);
            let rendered = request.render("{{ id }}:{{ x }}");
            Ok(Grade::pass(format!("{options:?} {rendered}")))
        }
    }

    impl<const OWN: bool> GraderPlugin for ShowsOptions<OWN> {
        fn create(_options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
            Ok(Self)
        }

        fn item_defaults(&self) -> serde_json::Map<String, serde_json::Value> {
            serde_json::json!({ "d": "{{ x }}!", "e": "{{ missing }}" })
                .as_object()
                .cloned()
                .unwrap()
        }

        const RENDERS_OWN_OPTIONS: bool = OWN;
    }

    /// What `ShowsOptions::<OWN>` created with `options` says of a request for item `q1`
    /// with `x = "X"`.
    fn shown<const OWN: bool>(options: serde_json::Value) -> String {
        let adapter = Arc::new(GraderAdapter(
            ShowsOptions::<OWN>,
            ItemOptions::new(&ShowsOptions::<OWN>, options),
            PhantomData,
        ));
        let request = GradeRequest {
            task: "t".into(),
            item: "q1".into(),
            vars: [("x".to_owned(), "X".to_owned())].into(),
            completion: llmbench_core::Completion {
                text: "answer".into(),
                stop_reason: llmbench_core::StopReason::EndTurn,
                usage: Default::default(),
                timings: Default::default(),
                response_model: None,
            },
            options: None,
        };
        let bytes = serde_json::to_vec(&request).unwrap();
        let method = PluginKind::Grader.method();
        let future = adapter.call(method, &bytes).expect("a grade request");
        let answer = future.now_or_never().expect("no wait").expect("graded");
        serde_json::from_slice::<Grade>(&answer).unwrap().evidence
    }

    #[test]
    fn options_are_rendered_for_the_item_inside_the_plugin_unless_the_grader_renders_its_own() {
        let options = serde_json::json!({ "p": "{{ x }}/{{ id }}", "n": 3 });
        // Every string rendered, the defaults whose variables the item has added.
        assert_eq!(
            shown::<false>(options.clone()),
            r#"Some("{\"d\":\"X!\",\"n\":3,\"p\":\"X/q1\"}") q1:X"#
        );
        // A grader that renders its own gets none; `render` serves it.
        assert_eq!(shown::<true>(options), "None q1:X");
    }

    #[test]
    fn item_defaults_are_served_and_none_by_default() {
        assert_eq!(call(ITEM_DEFAULTS_METHOD, "null"), Ok(Ok("{}".into())));
    }

    #[test]
    fn check_items_answers_the_refusals_by_index_as_check_item_would() {
        let request = r#"[{"expected": "a"}, {"expected": 1}, {}, {"expected": "b"}]"#;
        assert_eq!(
            call(CHECK_ITEMS_METHOD, request),
            Ok(Ok(
                r#"[[1,"no text `expected`: Some(Number(1))"],[2,"no text `expected`: None"]]"#
                    .into()
            ))
        );
        // The same reasons one item at a time.
        assert_eq!(
            call(CHECK_ITEM_METHOD, r#"{"expected": 1}"#),
            Ok(Err(r#""no text `expected`: Some(Number(1))""#.into()))
        );
        assert_eq!(call(CHECK_ITEMS_METHOD, "[]"), Ok(Ok("[]".into())));
        assert_eq!(
            call(CHECK_ITEMS_METHOD, r#"{"expected": "a"}"#).err(),
            Some(
                "invalid `check-items` request: invalid type: map, expected a sequence at line 1 column 0"
                    .into()
            )
        );
    }

    #[test]
    fn an_unknown_method_names_those_served() {
        assert_eq!(
            call("check", "null").err(),
            Some(
                "a grader plugin has no method `check` (it serves `grade`, `check-item`, `check-items`, `item-defaults`)"
                    .into()
            )
        );
    }
}
