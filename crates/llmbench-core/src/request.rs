//! What the runner asks a provider for.

use serde::{Deserialize, Serialize};

use crate::SampleKey;

/// Who speaks a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation sent to a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// Sampling parameters. `None` means "do not send it, let the model use its default" (some
/// hosted models reject non-default values, so omission must be expressible).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Vec<String>,
}

/// A request for one completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The model id as the provider knows it (`claude-haiku-4-5`, a GGUF file, ...).
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    #[serde(default)]
    pub sampling: Sampling,
    /// Ask for a streamed answer, so that time to first token can be measured.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Which sample this request serves. Providers must not send it to a model; it lets a
    /// replay provider find a recorded answer and lets logs name the sample.
    #[serde(default)]
    pub sample: Option<SampleKey>,
}

fn yes() -> bool {
    true
}
