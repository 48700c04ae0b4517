//! Reading a request body: the fields the mock needs, the prompt hash, the input token count
//! and the fault directive.

use serde_json::Value;

use crate::config::Protocol;
use crate::text::{Fnv, count_tokens};

/// What the server needs from a completion or count-tokens request.
#[derive(Debug, Clone)]
pub(crate) struct ParsedRequest {
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) input_tokens: u64,
    pub(crate) prompt_hash: u64,
    /// The raw `MOCK_FAULT=` spec from the last user message.
    pub(crate) directive: Option<String>,
    /// How many messages have the role `user`.
    pub(crate) user_turns: usize,
}

/// Best-effort fields for the log when a body is rejected.
pub(crate) fn peek_model(body: &Value) -> Option<String> {
    body.get("model").and_then(Value::as_str).map(str::to_owned)
}

/// Appends the text of a `content` value (string, or blocks/parts with `text`).
fn content_text(content: &Value, out: &mut String) {
    match content {
        Value::String(s) => out.push_str(s),
        Value::Array(blocks) => {
            for block in blocks {
                if let Some(t) = block.get("text").and_then(Value::as_str) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(t);
                } else if let Some(inner) = block.get("content") {
                    // Anthropic tool_result blocks nest their content.
                    content_text(inner, out);
                }
            }
        }
        _ => {}
    }
}

/// Parses a request body for `protocol`; `count_only` relaxes the Anthropic `max_tokens`
/// requirement (count_tokens has none). Errors are `invalid_request_error` messages.
pub(crate) fn parse(
    protocol: Protocol,
    body: &Value,
    count_only: bool,
) -> Result<ParsedRequest, String> {
    let obj = body
        .as_object()
        .ok_or("request body must be a JSON object")?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: field required")?
        .to_owned();
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: field required")?;
    let max_tokens = match protocol {
        Protocol::Anthropic => match obj.get("max_tokens") {
            Some(v) => Some(
                v.as_u64()
                    .ok_or("max_tokens: must be a non-negative integer")?,
            ),
            None if count_only => None,
            None => return Err("max_tokens: field required".into()),
        },
        Protocol::OpenAi => obj
            .get("max_completion_tokens")
            .or_else(|| obj.get("max_tokens"))
            .and_then(Value::as_u64),
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let mut hash = Fnv::new();
    hash.field(&model);
    let mut input_tokens = 0;
    let mut text = String::new();
    if let Some(system) = obj.get("system") {
        content_text(system, &mut text);
        input_tokens += count_tokens(&text);
    }
    hash.field(&text);
    let mut last_user = None;
    let mut user_turns = 0;
    for (i, m) in messages.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("messages.{i}.role: field required"))?;
        text.clear();
        if let Some(c) = m.get("content") {
            content_text(c, &mut text);
        }
        input_tokens += count_tokens(&text);
        hash.field(role);
        hash.field(&text);
        if role == "user" {
            last_user = Some(i);
            user_turns += 1;
        }
    }
    let directive = last_user.and_then(|i| {
        let mut t = String::new();
        if let Some(c) = messages[i].get("content") {
            content_text(c, &mut t);
        }
        crate::fault::find_directive(&t).map(str::to_owned)
    });
    Ok(ParsedRequest {
        model,
        stream,
        include_usage,
        max_tokens,
        input_tokens,
        prompt_hash: hash.finish(),
        directive,
        user_turns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_request() {
        let body = json!({
            "model": "claude-haiku-4-5", "max_tokens": 100, "stream": true,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": "What is two plus two?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Four."}]},
                {"role": "user", "content": [{"type": "text", "text": "Sure? MOCK_FAULT=529;times=1"}]}
            ]
        });
        let p = parse(Protocol::Anthropic, &body, false).unwrap();
        assert_eq!(p.model, "claude-haiku-4-5");
        assert!(p.stream);
        assert_eq!(p.max_tokens, Some(100));
        assert_eq!(p.input_tokens, 2 + 5 + 1 + 2);
        assert_eq!(p.directive.as_deref(), Some("529;times=1"));
        assert_eq!(p.user_turns, 2);
        let mut other = body.clone();
        other["messages"][0]["content"] = json!("What is three plus three?");
        assert_ne!(
            parse(Protocol::Anthropic, &other, false)
                .unwrap()
                .prompt_hash,
            p.prompt_hash
        );
        assert_eq!(
            parse(Protocol::Anthropic, &body, false)
                .unwrap()
                .prompt_hash,
            p.prompt_hash
        );
    }

    #[test]
    fn required_fields() {
        let no_max = json!({"model": "m", "messages": []});
        assert_eq!(
            parse(Protocol::Anthropic, &no_max, false).unwrap_err(),
            "max_tokens: field required"
        );
        assert!(parse(Protocol::Anthropic, &no_max, true).is_ok());
        assert!(parse(Protocol::OpenAi, &no_max, false).is_ok());
        assert_eq!(
            parse(Protocol::OpenAi, &json!({"messages": []}), false).unwrap_err(),
            "model: field required"
        );
        assert!(parse(Protocol::OpenAi, &json!([1]), false).is_err());
    }

    #[test]
    fn openai_request() {
        let body = json!({
            "model": "gpt-x", "max_completion_tokens": 5, "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "hi there"}]}]
        });
        let p = parse(Protocol::OpenAi, &body, false).unwrap();
        assert!(p.include_usage);
        assert_eq!(p.max_tokens, Some(5));
        assert_eq!(p.input_tokens, 3);
        assert_eq!(p.directive, None);
    }
}
