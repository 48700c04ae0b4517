//! Fixed runs for tests and examples (feature `fixtures`): the founding article's run, and the
//! same three models with repeats, failures, an error and hostile answer text.

use std::time::Duration;

use llmbench_core::{
    Completion, Grade, GradeKind, GradeOutcome, Price, ProviderError, ProviderErrorKind, RunInfo,
    RunReport, SampleKey, SampleRecord, SampleStatus, StopReason, Timings, Usage, VerdictRule,
    cost_usd,
};

const PROVIDERS: [(&str, &str, &str); 3] = [
    ("haiku", "claude-haiku-4-5", "Claude Haiku 4.5"),
    ("sonnet", "claude-sonnet-4-6", "Claude Sonnet 4.6"),
    ("opus", "claude-opus-4-7", "Claude Opus 4.7"),
];

fn price(provider: &str) -> Price {
    let (input, output) = match provider {
        "haiku" => (1.0, 5.0),
        "sonnet" => (3.0, 15.0),
        _ => (15.0, 75.0),
    };
    Price {
        input_per_mtok: input,
        output_per_mtok: output,
        ..Price::default()
    }
}

fn info(run_id: &str, planned: u64, graders: Vec<String>) -> RunInfo {
    RunInfo {
        run_id: run_id.into(),
        config_path: "configs/race.toml".into(),
        store_path: "llmbench-results/llmbench.sqlite".into(),
        status: "finished".into(),
        started_at: "2026-05-22T13:54:07Z".into(),
        planned_samples: planned,
        providers: PROVIDERS
            .iter()
            .map(|(p, m, l)| ((*p).into(), (*m).into(), (*l).into()))
            .collect(),
        graders: vec![("race-condition".into(), graders)],
        pass_at_k: Vec::new(),
    }
}

#[expect(clippy::too_many_arguments, reason = "a test fixture builder")]
fn sample(
    provider: &str,
    item: &str,
    repeat: u32,
    text: String,
    latency_ms: u64,
    ttft_ms: u64,
    tokens: (u64, u64),
    grades: Vec<(String, Grade)>,
) -> SampleRecord {
    let usage = Usage {
        input_tokens: Some(tokens.0),
        output_tokens: Some(tokens.1),
        ..Usage::default()
    };
    let only: Vec<Grade> = grades.iter().map(|(_, g)| g.clone()).collect();
    SampleRecord {
        key: SampleKey {
            task: "race-condition".into(),
            item: item.into(),
            provider: provider.into(),
            repeat,
        },
        model: PROVIDERS
            .iter()
            .find(|p| p.0 == provider)
            .map_or(provider, |p| p.1)
            .into(),
        status: SampleStatus::Done,
        completion: Some(Completion {
            text,
            stop_reason: StopReason::EndTurn,
            usage,
            timings: Timings {
                latency: Duration::from_millis(latency_ms),
                time_to_first_token: Some(Duration::from_millis(ttft_ms)),
            },
            response_model: None,
        }),
        error: None,
        verdict: Some(VerdictRule::AllPass.decide(&only)),
        grades,
        cost_usd: cost_usd(&usage, &price(provider)),
        attempts: 1,
        request: None,
    }
}

/// The founding article's run: one sample per model, the article's latencies, tokens and
/// costs; every model passes the section check.
pub fn article_run() -> RunReport {
    let rows = [
        ("haiku", 4422, 612, (121, 451)),
        ("sonnet", 15234, 1187, (121, 759)),
        ("opus", 12814, 1734, (159, 689)),
    ];
    let samples = rows
        .into_iter()
        .map(|(p, latency, ttft, tokens)| {
            sample(
                p,
                "stampede",
                0,
                format!("## Bug\nA cache stampede.\n## Why it happens\nThe await yields.\n## Fix\n```python\n# {p}'s fix\n```\n"),
                latency,
                ttft,
                tokens,
                vec![(
                    "sections".into(),
                    Grade::pass("found sections Bug, Why it happens, Fix; Fix has a code block"),
                )],
            )
        })
        .collect();
    RunReport {
        run: info("20260522T135407Z-article", 3, vec!["sections".into()]),
        samples,
        summary: None,
    }
}

/// A small deterministic jitter in `-1.0..1.0`: a hash of `seed`, not a random generator
/// (so not `fastrand`): the fixtures' numbers are pinned by other crates' snapshots and must
/// not change with a dependency's version.
fn jitter(seed: u64) -> f64 {
    let x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 0xdead_beef;
    (x % 2001) as f64 / 1000.0 - 1.0
}

/// Ten items, two repeats, three graders of the three kinds. Sonnet passes 18/20, Haiku 11/20
/// (Sonnet passes every item Haiku passes, and 7 more), Opus 17/19 with one rate-limited
/// sample (so Opus cannot be paired with the others). One Haiku answer contains
/// `<script>`, a Markdown table pipe and a code fence, to test escaping.
pub fn repeated_run() -> RunReport {
    let graders = vec![
        "sections".to_owned(),
        "fix-runs".to_owned(),
        "judge".to_owned(),
    ];
    let mut samples = Vec::new();
    let base = [
        ("haiku", 4422.0, 612.0, 121, 451.0),
        ("sonnet", 15234.0, 1187.0, 121, 759.0),
        ("opus", 12814.0, 1734.0, 159, 689.0),
    ];
    for (pi, (provider, latency, ttft, input, output)) in base.into_iter().enumerate() {
        for k in 0..20u32 {
            let item = format!("case-{:02}", k / 2);
            let repeat = k % 2;
            let seed = (pi as u64) * 100 + u64::from(k);
            if provider == "opus" && k == 9 {
                samples.push(SampleRecord {
                    key: SampleKey {
                        task: "race-condition".into(),
                        item,
                        provider: provider.into(),
                        repeat,
                    },
                    model: "claude-opus-4-7".into(),
                    status: SampleStatus::Error,
                    completion: None,
                    error: Some(ProviderError {
                        http_status: Some(429),
                        ..ProviderError::new(
                            ProviderErrorKind::RateLimited,
                            "rate limited: retry after 30 s",
                        )
                    }),
                    grades: vec![],
                    verdict: None,
                    cost_usd: None,
                    attempts: 4,
                    request: None,
                });
                continue;
            }
            let fails_execution = match provider {
                "sonnet" => [3, 14].contains(&k),
                "haiku" => [0, 2, 3, 5, 8, 11, 14, 16, 19].contains(&k),
                _ => [3, 12].contains(&k),
            };
            let missing_fix = provider == "haiku" && k == 16;
            let sections = if missing_fix {
                Grade::fail("missing section `Fix` (found: Bug, Why it happens)")
            } else {
                Grade::pass("found sections Bug, Why it happens, Fix; Fix has a code block")
            };
            let execution = if fails_execution {
                Grade {
                    outcome: GradeOutcome::Fail,
                    score: 0.0,
                    evidence: format!(
                        "40 concurrent calls for key 'a': fetcher ran {} times (expected 1)",
                        2 + k % 3
                    ),
                    kind: GradeKind::Execution,
                    usage: None,
                    cost_usd: None,
                }
            } else {
                Grade {
                    outcome: GradeOutcome::Pass,
                    score: 1.0,
                    evidence: "40 concurrent calls for key 'a': fetcher ran once".into(),
                    kind: GradeKind::Execution,
                    usage: None,
                    cost_usd: None,
                }
            };
            let judge_score = match provider {
                "haiku" => 0.6,
                "sonnet" => 0.9,
                _ => 0.85,
            } + 0.05 * jitter(seed + 7);
            let judge = Grade {
                outcome: if judge_score >= 0.5 {
                    GradeOutcome::Pass
                } else {
                    GradeOutcome::Fail
                },
                score: (judge_score * 100.0).round() / 100.0,
                evidence: format!(
                    "Judge: names the stampede; {}",
                    if fails_execution {
                        "the in-flight entry is written after an await"
                    } else {
                        "the future is stored before any await"
                    }
                ),
                kind: GradeKind::Judgement,
                usage: None,
                cost_usd: None,
            };
            let text = if provider == "haiku" && k == 0 {
                "## Bug\nTwo callers race | both miss the cache.\n<script>alert('xss')</script>\n## Why it happens\n`await` yields.\n## Fix\n```python\nif key in in_flight:\n    return await in_flight[key]\nvalue = await fetcher(key)\n```\n".to_owned()
            } else {
                format!(
                    "## Bug\nCache stampede on item {item}.\n## Why it happens\nEvery caller that misses awaits its own fetch.\n## Fix\n```python\n# {provider} fix, repeat {repeat}\n```\n"
                )
            };
            samples.push(sample(
                provider,
                &item,
                repeat,
                text,
                (latency * (1.0 + 0.2 * jitter(seed))).round() as u64,
                (ttft * (1.0 + 0.3 * jitter(seed + 1))).round() as u64,
                (
                    input,
                    (output * (1.0 + 0.1 * jitter(seed + 2))).round() as u64,
                ),
                vec![
                    ("sections".into(), sections),
                    ("fix-runs".into(), execution),
                    ("judge".into(), judge),
                ],
            ));
        }
    }
    RunReport {
        run: info("20260601T090000Z-repeats", 60, graders),
        samples,
        summary: None,
    }
}
