//! The ChatML chat template, applied here rather than by llama.cpp (whose built-in template
//! handling dropped SmolLM2's system prompt).
//!
//! A conversation renders as
//! `<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n...<|im_start|>assistant\n`.
//! The markers are emitted as their own special tokens and the text between them is tokenized
//! as plain text, so a message that contains `<|im_start|>` cannot forge a turn.

use llmbench_plugin_sdk::core::{Message, Role};

/// Start of a turn.
pub const IM_START: &str = "<|im_start|>";
/// End of a turn.
pub const IM_END: &str = "<|im_end|>";

/// One piece of a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A special token, by its text (`<|im_start|>`, `<|im_end|>`).
    Special(&'static str),
    /// Plain text, tokenized without parsing special tokens.
    Text(String),
}

/// The ChatML template of a model, with the system prompt its template inserts when the
/// conversation has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMl {
    default_system: Option<String>,
}

impl ChatMl {
    pub fn new(default_system: Option<String>) -> Self {
        Self { default_system }
    }

    /// Recognize a ChatML template in the model's `tokenizer.chat_template` (Jinja). Only the
    /// default system prompt is taken from it (SmolLM2's inserts "You are a helpful AI
    /// assistant named SmolLM, trained by Hugging Face" when the first message is not a
    /// system message); the rest of ChatML is fixed.
    pub fn from_jinja(template: &str) -> Result<Self, String> {
        if !(template.contains(IM_START) && template.contains(IM_END)) {
            return Err(format!(
                "the model's chat template is not ChatML (no {IM_START}/{IM_END}): {}",
                excerpt(template)
            ));
        }
        let opening = format!("'{IM_START}system\n");
        let default_system = template.find(&opening).and_then(|start| {
            let rest = &template[start + opening.len()..];
            rest.find(IM_END).map(|end| rest[..end].to_owned())
        });
        Ok(Self { default_system })
    }

    pub fn default_system(&self) -> Option<&str> {
        self.default_system.as_deref()
    }

    /// The prompt as segments, ending with the opening of the assistant's turn. Consecutive
    /// text is merged, as a tokenizer splitting on special tokens would see it.
    pub fn segments(&self, system: Option<&str>, messages: &[Message]) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut text = String::new();
        if let Some(system) = system.or(self.default_system.as_deref()) {
            turn(&mut out, &mut text, "system", system);
        }
        for message in messages {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            turn(&mut out, &mut text, role, &message.content);
        }
        flush(&mut out, &mut text);
        out.push(Segment::Special(IM_START));
        out.push(Segment::Text("assistant\n".to_owned()));
        out
    }

    /// The prompt as one string (for logs and tests).
    pub fn render(&self, system: Option<&str>, messages: &[Message]) -> String {
        self.segments(system, messages)
            .into_iter()
            .map(|s| match s {
                Segment::Special(s) => s.to_owned(),
                Segment::Text(t) => t,
            })
            .collect()
    }
}

fn turn(out: &mut Vec<Segment>, text: &mut String, role: &str, content: &str) {
    flush(out, text);
    out.push(Segment::Special(IM_START));
    text.push_str(role);
    text.push('\n');
    text.push_str(content);
    flush(out, text);
    out.push(Segment::Special(IM_END));
    text.push('\n');
}

fn flush(out: &mut Vec<Segment>, text: &mut String) {
    if !text.is_empty() {
        out.push(Segment::Text(std::mem::take(text)));
    }
}

fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(80).collect();
    if e.len() < s.len() {
        e.push('…');
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's `tokenizer.chat_template`, verbatim from its GGUF.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_system_and_user_exactly() {
        let chat = ChatMl::from_jinja(SMOLLM2).unwrap();
        let text = chat.render(Some("Be terse."), &[Message::user("What is 2+2?")]);
        assert_eq!(
            text,
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn inserts_the_templates_default_system_prompt() {
        let chat = ChatMl::from_jinja(SMOLLM2).unwrap();
        assert_eq!(
            chat.default_system(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        let text = chat.render(None, &[Message::user("Hi")]);
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn multi_turn_segments_alternate_specials_and_text() {
        let chat = ChatMl::new(None);
        let messages = [
            Message::user("a"),
            Message {
                role: Role::Assistant,
                content: "b".into(),
            },
            Message::user("c"),
        ];
        let segments = chat.segments(None, &messages);
        use Segment::*;
        assert_eq!(
            segments,
            [
                Special(IM_START),
                Text("user\na".into()),
                Special(IM_END),
                Text("\n".into()),
                Special(IM_START),
                Text("assistant\nb".into()),
                Special(IM_END),
                Text("\n".into()),
                Special(IM_START),
                Text("user\nc".into()),
                Special(IM_END),
                Text("\n".into()),
                Special(IM_START),
                Text("assistant\n".into()),
            ]
        );
    }

    #[test]
    fn markers_inside_a_message_stay_text() {
        let chat = ChatMl::new(None);
        let segments = chat.segments(None, &[Message::user("x<|im_end|>y")]);
        assert_eq!(segments[1], Segment::Text("user\nx<|im_end|>y".into()));
    }

    #[test]
    fn refuses_a_template_that_is_not_chatml() {
        let err =
            ChatMl::from_jinja("{{ bos_token }}{% for m in messages %}[INST]...").unwrap_err();
        assert!(err.contains("not ChatML"), "{err}");
    }
}
