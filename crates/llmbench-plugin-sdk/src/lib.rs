//! The plugin SDK: write a provider, grader or reporter as ordinary async Rust, export it
//! with one macro, and the host can load it.
//!
//! A plugin is a `cdylib` crate (`crate-type = ["cdylib", "rlib"]`) that depends on this
//! crate, `async-trait`, `serde` and `serde_json`; `cargo xtask new provider|grader|reporter
//! NAME` writes one that builds and passes its tests. It implements one of the domain traits
//! of [`core`] (`llmbench-core`, re-exported here) and this crate's matching plugin trait
//! ([`ProviderPlugin`], [`GraderPlugin`], [`ReporterPlugin`]: how to build it from its JSON
//! `options` and check them), and exports it with [`export_provider!`], [`export_grader!`] or
//! [`export_reporter!`] (one per library).
//!
//! # What a provider sees
//! - [`CompletionRequest`](core::CompletionRequest): `model` (the id as the provider knows
//!   it), `system`, `messages` ([`Message`](core::Message): a role and its `content`),
//!   `max_tokens`, `sampling` ([`Sampling`](core::Sampling): `temperature`, `top_p`, `top_k`,
//!   `seed`, `stop`; `None` means "do not send it"), `stream` (stream the answer, so time to
//!   first token can be measured), `sample` (which sample: for logs and replay, never sent).
//! - [`Completion`](core::Completion): `text`, `stop_reason` ([`StopReason`](core::StopReason)),
//!   `usage` ([`Usage`](core::Usage): each count `None` when unknown, never `0`),
//!   `timings` ([`Timings`](core::Timings): `latency`, measured by the provider;
//!   `time_to_first_token` only when the answer was streamed), `response_model`.
//! - [`ProviderError`](core::ProviderError): a [`ProviderErrorKind`](core::ProviderErrorKind)
//!   (`RateLimited`, `SpendLimit`, `Overloaded`, `Server`, `Timeout`, `Connection`,
//!   `BadRequest`, `Auth`, `Decode`, `Plugin`, `Other`), a message without secrets, and what
//!   the server said (`http_status`, `provider_code`, `retry_after`, `should_retry`).
//!
//! One call is one attempt: a provider never retries, it classifies the failure and the
//! host's runner retries (with its limits and spend cap). Dropping the future cancels the
//! request (the export machinery drops it when the host cancels the call). The
//! [`Provider`](core::Provider) trait's page has the full contract.
//!
//! # A provider
//! ```
//! use std::time::Instant;
//!
//! use async_trait::async_trait;
//! use llmbench_plugin_sdk::core::{
//!     Completion, CompletionRequest, PluginContext, Provider, ProviderError, ProviderErrorKind,
//!     StopReason, Timings, Usage,
//! };
//! use llmbench_plugin_sdk::{OptionsError, ProviderPlugin, parse_options};
//!
//! /// `options = { prefix = "..." }`.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields, rename_all = "kebab-case")]
//! struct Options {
//!     #[serde(default)]
//!     prefix: String,
//! }
//!
//! /// Answers with the last message, prefixed.
//! struct Echo {
//!     prefix: String,
//! }
//!
//! #[async_trait]
//! impl Provider for Echo {
//!     async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
//!         let start = Instant::now();
//!         let Some(last) = request.messages.last() else {
//!             return Err(ProviderError::new(ProviderErrorKind::BadRequest, "no message"));
//!         };
//!         Ok(Completion {
//!             text: format!("{}{}", self.prefix, last.content),
//!             stop_reason: StopReason::EndTurn,
//!             usage: Usage::default(), // unknown: `None`, not 0
//!             timings: Timings { latency: start.elapsed(), time_to_first_token: None },
//!             response_model: None,
//!         })
//!     }
//! }
//!
//! impl ProviderPlugin for Echo {
//!     fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
//!         let o: Options = parse_options(&options)?;
//!         Ok(Echo { prefix: o.prefix })
//!     }
//!
//!     /// What `llmbench validate` runs: the options' shape, nothing built.
//!     fn check_options(
//!         options: &serde_json::Value,
//!         _context: &PluginContext,
//!     ) -> Result<(), OptionsError> {
//!         parse_options::<Options>(options).map(drop)
//!     }
//! }
//!
//! llmbench_plugin_sdk::export_provider!(Echo);
//!
//! # fn main() {
//! let e = Echo::check_options(&serde_json::json!({ "prefx": ">" }), &PluginContext::default())
//!     .unwrap_err();
//! assert_eq!(e.to_string(), "option `prefx`: unknown option `prefx` (did you mean `prefix`?)");
//! # }
//! ```
//!
//! # A grader
//! [`GraderPlugin::check_options`] checks the options before anything runs (a file an option
//! names is looked up with [`check_option_file`], relative to the config's directory);
//! [`GraderPlugin::check_item`] checks them as rendered for each item (here: the item's
//! `expected` must not be empty), so a bad item is refused with its place before the run.
//!
//! ```
//! use async_trait::async_trait;
//! use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};
//! use llmbench_plugin_sdk::{GraderPlugin, OptionsError, check_option_file, parse_options};
//!
//! /// `options = { expected = "{{ expected }}", notes-file = "notes.md" }`.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields, rename_all = "kebab-case")]
//! struct Options {
//!     expected: String,
//!     notes_file: Option<std::path::PathBuf>,
//! }
//!
//! struct Contains {
//!     expected: String,
//! }
//!
//! #[async_trait]
//! impl Grader for Contains {
//!     async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
//!         // Options rendered for this item (by this SDK, inside the plugin, from the
//!         // request's item id and variables), when they use item variables. A grader that
//!         // reads only a few templated values can render just those (`request.render(..)`)
//!         // and set `GraderPlugin::RENDERS_OWN_OPTIONS`.
//!         let expected = match &request.options {
//!             Some(options) => parse_options::<Options>(options)
//!                 .map_err(|e| GraderError::new(e.to_string()))?
//!                 .expected,
//!             None => self.expected.clone(),
//!         };
//!         Ok(if request.completion.text.contains(&expected) {
//!             Grade::pass(format!("contains {expected:?}"))
//!         } else {
//!             Grade::fail(format!("does not contain {expected:?}"))
//!         })
//!     }
//! }
//!
//! impl GraderPlugin for Contains {
//!     fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
//!         let o: Options = parse_options(&options)?;
//!         Ok(Contains { expected: o.expected })
//!     }
//!
//!     fn check_options(
//!         options: &serde_json::Value,
//!         context: &PluginContext,
//!     ) -> Result<(), OptionsError> {
//!         let o: Options = parse_options(options)?;
//!         match &o.notes_file {
//!             Some(file) => check_option_file(["notes-file"], &context.resolve(file)),
//!             None => Ok(()),
//!         }
//!     }
//!
//!     fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
//!         let o: Options = parse_options(options)?;
//!         if o.expected.is_empty() {
//!             return Err("`expected` is empty for this item".into());
//!         }
//!         Ok(())
//!     }
//! }
//!
//! llmbench_plugin_sdk::export_grader!(Contains);
//!
//! # fn main() {
//! let context = PluginContext::default();
//! let options = serde_json::json!({ "expected": "x", "notes-file": "/nonexistent/notes.md" });
//! let e = Contains::check_options(&options, &context).unwrap_err();
//! assert_eq!(e.to_string(), "option `notes-file`: no file at /nonexistent/notes.md");
//! let grader = Contains::create(serde_json::json!({ "expected": "{{ expected }}" }), &context)
//!     .unwrap();
//! assert!(grader.check_item(&serde_json::json!({ "expected": "" })).is_err());
//! # }
//! ```
//!
//! A grader that needs a model (a judge) implements [`GraderPlugin::create_with`] and takes
//! the [`ModelHandle`] the config gave it from its [`GraderContext`]: its requests go through
//! the host's runner, with the runner's retries, limits and spend cap.
//!
//! # A reporter
//! ```
//! use llmbench_plugin_sdk::core::{PluginContext, ReportError, Reporter, RunReport};
//! use llmbench_plugin_sdk::{ReporterPlugin, parse_options};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Models {
//!     #[serde(default)]
//!     heading: Option<String>,
//! }
//!
//! impl Reporter for Models {
//!     /// Pure: no I/O, the same report gives the same text.
//!     fn render(&self, report: &RunReport) -> Result<String, ReportError> {
//!         let mut out = format!("{}\n", self.heading.as_deref().unwrap_or("Models"));
//!         for (_provider, model, label) in &report.run.providers {
//!             out.push_str(&format!("{label} ({model})\n"));
//!         }
//!         Ok(out)
//!     }
//! }
//!
//! impl ReporterPlugin for Models {
//!     fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
//!         Ok(parse_options(&options)?)
//!     }
//! }
//!
//! llmbench_plugin_sdk::export_reporter!(Models);
//! # fn main() {}
//! ```
//!
//! Each plugin instance owns a tokio runtime; the host never polls a plugin future and a
//! plugin never polls a host future. Panics are caught at every entry point and become the
//! call's error. Plugin `tracing` events and panic messages go to the host's log.

mod export;
mod files;
mod logging;
mod model;
mod options;
mod service;

pub use export::{__decl, FILES_READ_METHOD, RUSTC_VERSION};
pub use files::{FileError, MAX_OPTION_FILE_BYTES, read_limited, read_text_limited};
pub use llmbench_core as core;
pub use llmbench_plugin_abi as abi;
pub use model::{GraderContext, ModelHandle};
pub use options::{OptionsError, check_option_file, parse_options, suggest};
pub use service::{
    CHECK_ITEM_METHOD, CHECK_ITEMS_METHOD, CreateError, GraderAdapter, GraderPlugin,
    ITEM_DEFAULTS_METHOD, ProviderAdapter, ProviderPlugin, ReporterAdapter, ReporterPlugin,
    Service,
};

/// Export a [`ProviderPlugin`] type as this library's plugin.
#[macro_export]
macro_rules! export_provider {
    ($ty:ty) => {
        $crate::__export!(
            $crate::abi::PluginKind::Provider,
            $crate::ProviderAdapter<$ty>
        );
    };
}

/// Export a [`GraderPlugin`] type as this library's plugin.
#[macro_export]
macro_rules! export_grader {
    ($ty:ty) => {
        $crate::__export!($crate::abi::PluginKind::Grader, $crate::GraderAdapter<$ty>);
    };
}

/// Export a [`ReporterPlugin`] type as this library's plugin.
#[macro_export]
macro_rules! export_reporter {
    ($ty:ty) => {
        $crate::__export!(
            $crate::abi::PluginKind::Reporter,
            $crate::ReporterAdapter<$ty>
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    ($kind:expr, $service:ty) => {
        /// The plugin's entry point (see `llmbench-plugin-abi`).
        #[unsafe(no_mangle)]
        pub extern "C" fn llmbench_plugin_entry(
            _host_abi_version: u32,
        ) -> *const $crate::abi::PluginDecl {
            static DECL: $crate::abi::PluginDecl = $crate::__decl::<$service>(
                $kind,
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                cfg!(panic = "unwind"),
            );
            &DECL
        }
    };
}
