//! The plugin SDK: write a provider, grader or reporter as ordinary async Rust, export it
//! with one macro, and the host can load it.
//!
//! ```ignore
//! struct Echo;
//! #[async_trait::async_trait]
//! impl llmbench_core::Provider for Echo { /* ... */ }
//! impl llmbench_plugin_sdk::ProviderPlugin for Echo {
//!     fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> { Ok(Echo) }
//! }
//! llmbench_plugin_sdk::export_provider!(Echo);
//! ```
//!
//! A grader that needs a model (a judge) implements [`GraderPlugin::create_with`] and takes
//! the [`ModelHandle`] the config gave it from its [`GraderContext`]: its requests go through
//! the host's runner, with the runner's retries, limits and spend cap.
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
    CHECK_ITEM_METHOD, CreateError, GraderAdapter, GraderPlugin, ProviderAdapter, ProviderPlugin,
    ReporterAdapter, ReporterPlugin, Service,
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
