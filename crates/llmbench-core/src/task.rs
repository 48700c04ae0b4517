//! The [`Task`] trait: what to ask, item by item.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CompletionRequest, VerdictRule};

/// One input of a task: an id unique within the task and its variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub vars: BTreeMap<String, String>,
}

/// A benchmark task: a set of items and how each becomes a request.
///
/// Tasks are pure: rendering does no I/O (items are loaded when the config is built), so the
/// same task renders the same request on every machine of a sharded sweep.
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
///
/// use llmbench_core::{CompletionRequest, Item, Message, Task, VerdictRule};
///
/// /// "Reverse WORD", one item per word.
/// struct Reverse {
///     items: Vec<Item>,
/// }
///
/// impl Task for Reverse {
///     fn id(&self) -> &str {
///         "reverse"
///     }
///     fn items(&self) -> &[Item] {
///         &self.items
///     }
///     fn render(&self, item: &Item) -> CompletionRequest {
///         CompletionRequest {
///             // The provider entry's model and sampling replace these.
///             model: String::new(),
///             system: None,
///             messages: vec![Message::user(format!("Reverse {}", item.vars["word"]))],
///             max_tokens: 32,
///             sampling: Default::default(),
///             stream: true,
///             sample: None,
///         }
///     }
///     fn verdict_rule(&self) -> &VerdictRule {
///         &VerdictRule::AllPass
///     }
/// }
///
/// let item = Item {
///     id: "one".into(),
///     vars: BTreeMap::from([("word".to_owned(), "abc".to_owned())]),
/// };
/// let task = Reverse { items: vec![item.clone()] };
/// assert_eq!(task.render(&item).messages[0].content, "Reverse abc");
/// ```
pub trait Task: Send + Sync {
    /// Stable id, used in sample ids and metric labels.
    fn id(&self) -> &str;
    fn items(&self) -> &[Item];
    /// The request for one item, before the provider's model and sampling are applied.
    fn render(&self, item: &Item) -> CompletionRequest;
    /// How this task's grades combine into a verdict.
    fn verdict_rule(&self) -> &VerdictRule;
}
