//! `llmbench mock-server`: a local Anthropic- or OpenAI-compatible protocol server
//! ([`llmbench_mockserver`]) with deterministic answers and fault injection, until Ctrl-C.

use crate::common::{EXIT_CONFIG, EXIT_DONE, Failure, print, runtime};

#[derive(Debug, clap::Args)]
pub(crate) struct MockServerArgs {
    /// The protocol served: Anthropic's Messages API or OpenAI's Chat Completions.
    #[arg(long, value_parser = ["anthropic", "openai"])]
    protocol: String,
    /// The port on 127.0.0.1 (0 picks a free one, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Server settings, `key=value` (see crates/llmbench-mockserver/README.md), e.g.
    /// `--set ttft-ms=200 --set fault=429;retry-after=2@0.1`. No API key is required
    /// unless `--set require-api-key=true` (any key) or `--set api-key=KEY` (that key).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

pub(crate) fn run(args: MockServerArgs) -> Result<u8, Failure> {
    let MockServerArgs {
        protocol,
        port,
        settings,
    } = args;
    let protocol = protocol
        .parse()
        .map_err(|e| Failure::new(EXIT_CONFIG, anyhow::anyhow!("{e}")))?;
    let mut config = llmbench_mockserver::MockConfig::new(protocol);
    // For trying configs without a key: no key is asked for unless `--set
    // require-api-key=true` or `--set api-key=KEY` says so.
    config.api_key = llmbench_mockserver::ApiKeyCheck::NotRequired;
    config.port = port;
    for setting in &settings {
        let (key, value) = setting.split_once('=').ok_or_else(|| {
            Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("--set takes KEY=VALUE, got `{setting}`"),
            )
        })?;
        config
            .set(key, value)
            .map_err(|e| Failure::new(EXIT_CONFIG, anyhow::anyhow!("--set {setting}: {e}")))?;
    }
    runtime().block_on(llmbench_mockserver::run_until(
        config,
        |addr| {
            print(&format!(
                "mock {} server listening on http://{addr} (Ctrl-C stops it)\n",
                protocol.as_str()
            ))
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ))?;
    Ok(EXIT_DONE)
}
