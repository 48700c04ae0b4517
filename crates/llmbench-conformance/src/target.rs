//! What the suite runs against: a provider plugin's cdylib, loaded through the plugin host,
//! talking to an in-repo protocol server.

use std::path::PathBuf;
use std::time::Duration;

use llmbench_core::{CompletionRequest, Message, PluginContext, Secret};
use llmbench_mockserver::{MockConfig, MockServer, Protocol, RequestRecord};
use llmbench_plugin_host::PluginProvider;
use serde_json::{Value, json};

use crate::capture;

/// The fake API key every check gives the plugin. Never a real key; the secret check greps
/// errors and logs for it.
pub const FAKE_API_KEY: &str = "sk-llmbench-conformance-FAKE-7f3a9c1e5b2d";

/// The model id the checks ask for.
pub const MODEL: &str = "mock-model";

/// A provider plugin under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// The plugin's package name (`provider-anthropic`).
    pub package: String,
    /// The wire protocol it speaks.
    pub protocol: Protocol,
    /// The cdylib to load.
    pub library: PathBuf,
}

impl Target {
    /// The plugin `package` as cargo last built it for the running test's profile
    /// (`cargo test -p <package>` builds it; a stale library is refused: see
    /// [`llmbench_testsupport::built_plugin`]).
    pub fn new(package: &str, protocol: Protocol) -> Self {
        Self {
            package: package.to_owned(),
            protocol,
            library: llmbench_testsupport::built_plugin(package),
        }
    }

    /// The plugin options pointing it at a server at `base` (`http://127.0.0.1:PORT`).
    pub fn base_url_option(&self, base: &str) -> Value {
        match self.protocol {
            Protocol::Anthropic => json!({ "base-url": base }),
            Protocol::OpenAi => json!({ "base-url": format!("{base}/v1") }),
        }
    }
}

/// A running server and a plugin instance pointed at it.
#[derive(Debug)]
pub struct Harness {
    pub server: MockServer,
    pub provider: PluginProvider,
}

/// How to build a [`Harness`].
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: MockConfig,
    /// Plugin options besides `base-url`.
    pub options: Value,
    /// The key in the plugin's context.
    pub api_key: Option<String>,
}

impl Setup {
    /// The protocol's default server and [`FAKE_API_KEY`].
    pub fn new(target: &Target) -> Self {
        Self {
            config: MockConfig::new(target.protocol),
            options: json!({}),
            api_key: Some(FAKE_API_KEY.to_owned()),
        }
    }

    /// Start the server on the current runtime and instantiate the plugin.
    pub async fn start(self, target: &Target) -> Harness {
        capture::install();
        let server = MockServer::start(self.config)
            .await
            .expect("mock server starts");
        let mut options = target.base_url_option(&server.base_url());
        if let (Value::Object(o), Value::Object(extra)) = (&mut options, self.options) {
            o.extend(extra);
        }
        let plugin = llmbench_plugin_host::load(&target.library).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (is the cdylib built? `cargo test -p {}` builds it)",
                target.library.display(),
                target.package
            )
        });
        assert_eq!(plugin.meta().name, target.package);
        let context = PluginContext {
            instance_name: format!("conformance-{}", target.protocol),
            api_key: self.api_key.map(Secret::new),
            ..PluginContext::default()
        };
        let provider = PluginProvider::new(&plugin, &options, &context)
            .unwrap_or_else(|e| panic!("{} refuses {options}: {e}", target.package));
        Harness { server, provider }
    }
}

impl Harness {
    /// The request log, after giving the server a moment to record how the last response
    /// ended.
    pub async fn settled_log(&self) -> Vec<RequestRecord> {
        for _ in 0..100 {
            let log = self.server.log();
            if log
                .iter()
                .all(|r| r.outcome != llmbench_mockserver::Outcome::InFlight)
            {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.server.log()
    }
}

/// A request for [`MODEL`] with one user message.
pub fn request(prompt: &str, stream: bool) -> CompletionRequest {
    CompletionRequest {
        model: MODEL.to_owned(),
        system: Some("You are a test.".to_owned()),
        messages: vec![Message::user(prompt)],
        max_tokens: 64,
        sampling: Default::default(),
        stream,
        sample: None,
    }
}

/// A request whose last user message asks the server for `fault` (`429;retry-after=2`).
pub fn faulty(fault: &str, stream: bool) -> CompletionRequest {
    request(&format!("please answer MOCK_FAULT={fault} thanks"), stream)
}

/// Run `check` on a fresh single-threaded runtime (the plugin has its own).
pub fn block_on<F: std::future::Future>(check: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
        .block_on(check)
}
