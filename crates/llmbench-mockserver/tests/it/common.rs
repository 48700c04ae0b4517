//! Helpers: request builders, an SSE reader, fixture access.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use llmbench_mockserver::{MockConfig, MockServer, Protocol};
use serde_json::{Value, json};

pub const KEY: &str = "sk-test-SECRET-4242-do-not-log";

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config).await.unwrap()
}

pub async fn anthropic() -> MockServer {
    start(MockConfig::new(Protocol::Anthropic)).await
}

pub async fn openai() -> MockServer {
    start(MockConfig::new(Protocol::OpenAi)).await
}

pub fn anthropic_body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    })
}

pub fn openai_body(prompt: &str, stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": "gpt-x",
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    });
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub fn anthropic_request(server: &MockServer, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/messages", server.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

pub fn openai_request(server: &MockServer, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .bearer_auth(KEY)
        .json(body)
}

/// One SSE event: its `event:` name (if any), its `data:` payload, and when it arrived.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub at: Instant,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad data {:?}: {e}", self.data))
    }
}

/// Reads a whole SSE response; returns the events and whether the body ended cleanly.
pub async fn read_sse(mut resp: reqwest::Response) -> (Vec<SseEvent>, Result<(), reqwest::Error>) {
    let mut buf = String::new();
    let mut events = Vec::new();
    let end = loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                let now = Instant::now();
                buf.push_str(std::str::from_utf8(&bytes).unwrap());
                while let Some(pos) = buf.find("\n\n") {
                    let block: String = buf.drain(..pos + 2).collect();
                    let mut ev = SseEvent {
                        event: None,
                        data: String::new(),
                        at: now,
                    };
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            ev.event = Some(v.to_owned());
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            ev.data.push_str(v);
                        }
                    }
                    events.push(ev);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(buf.is_empty() || end.is_err(), "trailing bytes {buf:?}");
    (events, end)
}

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../llmbench-http/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Splits an `.sse` fixture into events.
pub fn fixture_sse(name: &str) -> Vec<(Option<String>, Value)> {
    fixture(name)
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            let value = if data == "[DONE]" {
                Value::String(data)
            } else {
                serde_json::from_str(&data).unwrap()
            };
            (event, value)
        })
        .collect()
}

/// An `.http` fixture: status, lower-case header names with values, and the JSON body.
pub fn fixture_http(name: &str) -> (u16, Vec<(String, String)>, Value) {
    let text = fixture(name);
    let (head, body) = text.split_once("\n\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (status, headers, serde_json::from_str(body.trim()).unwrap())
}

/// The set of key paths of a JSON value (`a.b`, arrays as `[]`), to compare shapes.
pub fn shape(v: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            Value::Array(a) => {
                for v in a {
                    walk(v, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.sort();
    out.dedup();
    out
}
