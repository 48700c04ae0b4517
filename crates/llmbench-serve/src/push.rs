//! Pushing a one-shot sweep's metrics to a Prometheus Pushgateway.
//!
//! The Pushgateway's rules for batch jobs: the group is `job="llmbench"` and the sweep's
//! name (`/metrics/job/llmbench/sweep/<name>`), with no `instance` label; the body is the
//! text format without timestamps (the gateway rejects them). Counters in a push are the
//! sweep's own totals: each push replaces the previous one's. A shard of a sharded sweep
//! (`llmbench run --shard I/N`) pushes to its own group, `.../sweep/<name>/shard/<I>`, with
//! the totals of its own samples only, so shards do not overwrite each other's group (sum
//! over `shard` for the sweep's). A sweep that succeeded is
//! pushed with `PUT`, replacing the whole group; one that did not is pushed with `POST`,
//! which replaces only the metrics it carries, so the previous
//! `llmbench_last_success_timestamp_seconds` stays and the staleness alert can fire.

use llmbench_config::Config;
use llmbench_metrics::{CONTENT_TYPE, Metrics, SweepOutcome};
use llmbench_store::{Store, StoreError};

use llmbench_runner::Shard;

use crate::{account_run, provider_labels, set_build_info};

/// The Pushgateway job name.
pub const JOB: &str = "llmbench";

/// How a push treats the metrics already in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMethod {
    /// `PUT`: replace the whole group.
    Replace,
    /// `POST`: replace only the metrics with the names pushed.
    Update,
}

/// A push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid Pushgateway URL `{url}`: expected http://HOST:PORT or https://HOST:PORT")]
    Url { url: String },
    #[error("failed to push metrics to {url}")]
    Send {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Pushgateway at {url} refused the metrics: HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

/// Pushing a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum PushSweepError {
    #[error("cannot read the run back to push its metrics")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Push(#[from] PushError),
}

/// Accounts for one-shot run `run_id` of `config` in `metrics` (which the run's
/// [`crate::MetricsObserver`] filled) and pushes them to the gateway: `PUT` when the sweep
/// succeeded, `POST` otherwise (see the module docs). For a shard, only its samples are
/// accounted (against its planned samples) and the group is the shard's. Returns how the
/// sweep (or the shard's part of it) ended.
pub async fn push_sweep(
    gateway: &str,
    config: &Config,
    store: &Store,
    run_id: &str,
    metrics: &Metrics,
    shard: Option<Shard>,
) -> Result<SweepOutcome, PushSweepError> {
    let sweep = config.sweep_name();
    let max_error_ratio = config.schedule.as_ref().map_or(0.1, |s| s.max_error_ratio);
    set_build_info(metrics, config);
    let interval = config.schedule.as_ref().and_then(|s| match s.trigger {
        llmbench_config::Trigger::Interval(every) => Some(every.as_secs_f64()),
        llmbench_config::Trigger::Cron { .. } => None,
    });
    metrics.init_sweep(&sweep, interval);
    let part = shard.map(|shard| {
        let planned = llmbench_runner::sweep_keys(config)
            .filter(|key| shard.contains(&key.id()))
            .count() as u64;
        (shard, planned)
    });
    let outcome = account_run(
        metrics,
        store,
        run_id,
        &sweep,
        &provider_labels(config),
        max_error_ratio,
        part,
    )?;
    metrics.count_sweep(&sweep, outcome);
    let method = if outcome == SweepOutcome::Success {
        PushMethod::Replace
    } else {
        PushMethod::Update
    };
    push(gateway, &sweep, shard, metrics.render(), method).await?;
    Ok(outcome)
}

impl PushError {
    /// A bounded label for the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Url { .. } => "url",
            Self::Send { .. } => "send",
            Self::Refused { .. } => "refused",
        }
    }
}

/// The URL of a sweep's group on the gateway at `gateway` (`http://host:9091`, with or
/// without a trailing `/`): `/metrics/job/llmbench/sweep/<name>`, and `/shard/<index>` for
/// a shard of a sharded sweep. Label values that the URL path cannot carry are base64url
/// encoded (`/sweep@base64/...`).
pub fn group_url(gateway: &str, sweep: &str, shard: Option<Shard>) -> Result<String, PushError> {
    let base = gateway.trim_end_matches('/');
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"));
    if rest.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
        return Err(PushError::Url {
            url: gateway.to_owned(),
        });
    }
    let plain = !sweep.is_empty()
        && sweep
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let sweep_part = if plain {
        format!("sweep/{sweep}")
    } else {
        // The gateway's spelling of an empty value is `=`.
        let encoded = base64url(sweep.as_bytes());
        format!(
            "sweep@base64/{}",
            if encoded.is_empty() { "=" } else { &encoded }
        )
    };
    let shard_part = shard
        .map(|s| format!("/shard/{}", s.index))
        .unwrap_or_default();
    Ok(format!("{base}/metrics/job/{JOB}/{sweep_part}{shard_part}"))
}

/// Pushes `body` (the text format) to the sweep's group (the shard's, for a shard).
pub async fn push(
    gateway: &str,
    sweep: &str,
    shard: Option<Shard>,
    body: String,
    method: PushMethod,
) -> Result<(), PushError> {
    let url = group_url(gateway, sweep, shard)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|source| PushError::Send {
            url: url.clone(),
            source,
        })?;
    let request = match method {
        PushMethod::Replace => client.put(&url),
        PushMethod::Update => client.post(&url),
    };
    let response = request
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .map_err(|source| PushError::Send {
            url: url.clone(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        tracing::info!(url, status = status.as_u16(), "pushed metrics");
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(PushError::Refused {
        url,
        status: status.as_u16(),
        body: body.trim().chars().take(500).collect(),
    })
}

/// RFC 4648 base64url without padding (the Pushgateway accepts it either way).
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_urls() {
        assert_eq!(
            group_url("http://127.0.0.1:9091/", "nightly", None).unwrap(),
            "http://127.0.0.1:9091/metrics/job/llmbench/sweep/nightly"
        );
        assert_eq!(
            group_url("http://gw:9091", "a/b", None).unwrap(),
            "http://gw:9091/metrics/job/llmbench/sweep@base64/YS9i"
        );
        assert_eq!(
            group_url("http://gw:9091", "", None).unwrap(),
            "http://gw:9091/metrics/job/llmbench/sweep@base64/="
        );
        assert!(group_url("gw:9091", "x", None).is_err());
        assert!(group_url("http://", "x", None).is_err());
    }

    #[test]
    fn a_shard_pushes_to_its_own_group() {
        let shard = |i| Some(Shard::new(i, 4).unwrap());
        assert_eq!(
            group_url("http://gw:9091/", "nightly", shard(2)).unwrap(),
            "http://gw:9091/metrics/job/llmbench/sweep/nightly/shard/2"
        );
        assert_eq!(
            group_url("http://gw:9091", "a/b", shard(0)).unwrap(),
            "http://gw:9091/metrics/job/llmbench/sweep@base64/YS9i/shard/0"
        );
        assert_ne!(
            group_url("http://gw:9091", "nightly", shard(1)).unwrap(),
            group_url("http://gw:9091", "nightly", shard(3)).unwrap()
        );
    }

    #[test]
    fn base64url_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
            ("\u{ff}\u{fe}", "w7_Dvg"),
        ] {
            assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
        }
    }
}
