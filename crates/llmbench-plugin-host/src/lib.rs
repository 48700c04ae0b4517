//! The plugin host: the only crate that touches `libloading`.
//!
//! [`load`] opens a plugin library (never unloading it), reads and checks its declaration,
//! and [`Plugin::instantiate`] builds an instance from JSON options. Instances are served to
//! the rest of llmbench as `llmbench_core` trait objects ([`PluginProvider`],
//! [`PluginGrader`], [`PluginReporter`]), so the runner cannot tell a plugin from a built-in.
//! A grader given a model ([`PluginGrader::with_judge`]) has its model calls served by the
//! [`ModelAccess`] the runner registers (see [`models`](crate::ModelAccess)).

mod adapters;
mod call;
mod error;
mod library;
mod models;

pub use adapters::{CHECK_ITEM_METHOD, CHECK_ITEMS_CHUNK, CHECK_ITEMS_METHOD, FILES_READ_METHOD};
pub use adapters::{PluginGrader, PluginProvider, PluginReporter};
pub use call::{CallOutcome, Instance};
pub use error::{LoadError, dotted};
pub use library::{Plugin, PluginMeta, library_file_name, list_dir, load, plugin_names, resolve};
pub use llmbench_plugin_abi::PluginKind;
pub use models::{JudgeModel, ModelAccess, ModelFuture};
