//! Whether a finished sweep measured anything: a model whose every request failed (a wrong
//! key, a wrong model name, an endpoint that is down) got no answer to grade, and the run
//! exits [`crate::exit::ExitCode::NoAnswers`] with the reason in one line, so that a CI job
//! can tell it from a sweep that worked.

use llmbench_core::RunReport;
use llmbench_report::stats::Bootstrap;
use llmbench_report::summary::Summary;

/// The one-line reason when every stored sample of some model failed without an answer,
/// e.g. ``every request to `haiku` failed: 20 x auth (HTTP 401)``; `None` when every model
/// (with stored samples) got at least one answer.
pub(crate) fn unanswered(report: &RunReport) -> Option<String> {
    // From the summary of every sample (the report's samples may be a selection).
    let summary = Summary::of(
        report,
        &Bootstrap {
            resamples: 0,
            ..Bootstrap::default()
        },
    );
    let mut lines = Vec::new();
    for m in &summary.overall {
        if m.samples == 0 || m.samples > m.errors {
            continue;
        }
        // Kind and HTTP status, counted, most frequent first.
        let causes = summary
            .error_causes
            .iter()
            .find(|(p, _)| *p == m.provider)
            .map(|(_, causes)| {
                causes
                    .iter()
                    .map(|(cause, n)| format!("{n} x {cause}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        lines.push(format!(
            "every request to `{}` failed: {causes}",
            m.provider
        ));
    }
    (!lines.is_empty()).then(|| lines.join("; "))
}

#[cfg(test)]
mod tests {
    use llmbench_core::{
        ProviderError, ProviderErrorKind, RunInfo, SampleKey, SampleRecord, SampleStatus,
    };

    use super::*;

    fn sample(
        provider: &str,
        item: &str,
        error: Option<(ProviderErrorKind, Option<u16>)>,
    ) -> SampleRecord {
        SampleRecord {
            key: SampleKey {
                task: "t".into(),
                item: item.into(),
                provider: provider.into(),
                repeat: 0,
            },
            model: "m".into(),
            status: if error.is_some() {
                SampleStatus::Error
            } else {
                SampleStatus::Done
            },
            completion: None,
            error: error.map(|(kind, status)| ProviderError {
                http_status: status,
                ..ProviderError::new(kind, "refused")
            }),
            grades: Vec::new(),
            verdict: None,
            cost_usd: None,
            attempts: 1,
            request: None,
        }
    }

    fn report(samples: Vec<SampleRecord>) -> RunReport {
        RunReport {
            run: RunInfo {
                run_id: "r".into(),
                config_path: "c.toml".into(),
                store_path: "s".into(),
                status: "finished".into(),
                started_at: "now".into(),
                planned_samples: samples.len() as u64,
                providers: ["haiku", "sonnet"]
                    .map(|p| (p.to_owned(), "m".to_owned(), p.to_owned()))
                    .to_vec(),
                graders: Vec::new(),
                pass_at_k: Vec::new(),
            },
            samples,
            summary: None,
        }
    }

    #[test]
    fn a_model_without_any_answer_is_named_with_its_causes() {
        let auth = Some((ProviderErrorKind::Auth, Some(401)));
        let mut samples: Vec<_> = (0..20)
            .map(|i| sample("haiku", &format!("q{i}"), auth))
            .collect();
        samples.push(sample("sonnet", "q0", None));
        samples.push(sample("sonnet", "q1", auth));
        assert_eq!(
            unanswered(&report(samples)).as_deref(),
            Some("every request to `haiku` failed: 20 x auth (HTTP 401)")
        );
    }

    #[test]
    fn causes_are_counted_most_frequent_first() {
        let samples = vec![
            sample("haiku", "a", Some((ProviderErrorKind::Timeout, None))),
            sample("haiku", "b", Some((ProviderErrorKind::Auth, Some(401)))),
            sample("haiku", "c", Some((ProviderErrorKind::Timeout, None))),
            sample("sonnet", "a", Some((ProviderErrorKind::Auth, Some(403)))),
        ];
        assert_eq!(
            unanswered(&report(samples)).as_deref(),
            Some(
                "every request to `haiku` failed: 2 x timeout, 1 x auth (HTTP 401); every request to `sonnet` failed: 1 x auth (HTTP 403)"
            )
        );
    }

    #[test]
    fn one_answer_is_enough_and_no_samples_is_not_a_failure() {
        let samples = vec![
            sample("haiku", "a", Some((ProviderErrorKind::Auth, Some(401)))),
            sample("haiku", "b", None),
        ];
        assert_eq!(unanswered(&report(samples)), None);
    }
}
