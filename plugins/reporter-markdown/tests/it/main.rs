//! Snapshot tests of the Markdown report on fixed runs (`llmbench_report::fixtures`).

use llmbench_plugin_sdk::core::Reporter as _;
use llmbench_report::analysis::WinnerRule;
use llmbench_report::fixtures::{article_run, repeated_run};
use reporter_markdown::MarkdownReporter;

#[test]
fn the_founding_article() {
    let text = MarkdownReporter::default().render(&article_run()).unwrap();
    insta::assert_snapshot!("article", text);
}

#[test]
fn repeats_with_intervals_failures_and_a_winner() {
    let text = MarkdownReporter::default().render(&repeated_run()).unwrap();
    insta::assert_snapshot!("repeated", text);
}

#[test]
fn another_rule_and_a_short_excerpt() {
    let reporter = MarkdownReporter {
        winner_rule: WinnerRule::FastestNotWorse,
        excerpt_chars: 40,
        max_failures: 2,
        ..MarkdownReporter::default()
    };
    let text = reporter.render(&repeated_run()).unwrap();
    assert!(
        text.contains("**Claude Opus 4.7**, by rule `fastest-not-worse`."),
        "{text}"
    );
    assert!(text.contains("first 40 of"), "{text}");
    assert!(text.contains("- … and 7 more"), "{text}");
}

#[test]
fn model_text_cannot_escape_its_fence() {
    let mut report = repeated_run();
    let hostile = "```\n# Not a heading\n<script>alert(1)</script>\n````";
    for s in &mut report.samples {
        if let Some(c) = &mut s.completion {
            c.text = hostile.into();
        }
    }
    let text = MarkdownReporter::default().render(&report).unwrap();
    assert!(
        text.contains(&format!("`````text\n{hostile}\n`````")),
        "{text}"
    );
    // Every answer quoted is inside such a fence: no bare copy of it anywhere else.
    assert_eq!(
        text.matches(hostile).count(),
        text.matches(&format!("`````text\n{hostile}\n`````"))
            .count()
    );
}

#[test]
fn rendering_is_deterministic() {
    let r = MarkdownReporter::default();
    assert_eq!(
        r.render(&repeated_run()).unwrap(),
        r.render(&repeated_run()).unwrap()
    );
}

/// The `## pass@k` section of a report, up to the next section.
fn pass_at_k_section(text: &str) -> &str {
    let start = text.find("## pass@k").expect("a pass@k section");
    let end = text[start + 1..]
        .find("\n## ")
        .map_or(text.len(), |i| start + 1 + i);
    &text[start..end]
}

#[test]
fn pass_at_k_as_the_run_asked_with_items_left_out() {
    let mut report = repeated_run();
    report.run.pass_at_k = vec![1, 2, 5];
    let text = MarkdownReporter::default().render(&report).unwrap();
    insta::assert_snapshot!("pass_at_k", pass_at_k_section(&text));
}

#[test]
fn no_pass_at_k_without_repeats_or_a_k() {
    let text = MarkdownReporter::default().render(&article_run()).unwrap();
    assert!(!text.contains("pass@"), "{text}");
    // Asked for, it is shown even with one sample per item.
    let mut asked = article_run();
    asked.run.pass_at_k = vec![1, 10];
    let text = MarkdownReporter::default().render(&asked).unwrap();
    let section = pass_at_k_section(&text);
    assert!(
        section.contains("| Claude Haiku 4.5 | 1 | 100% | - |"),
        "{section}"
    );
    assert!(
        section.contains("pass@10 leaves out items with fewer than 10 graded samples: Claude Haiku 4.5 1 of 1 item, Claude Sonnet 4.6 1 of 1 item, Claude Opus 4.7 1 of 1 item."),
        "{section}"
    );
}

#[test]
fn pass_at_k_per_task_then_over_all_tasks() {
    let mut report = repeated_run();
    report.run.pass_at_k = vec![1, 2];
    let mut second = report.run.graders[0].clone();
    second.0 = "second-task".into();
    report.run.graders.push(second);
    // Items case-05 to case-09 move to the second task.
    for s in &mut report.samples {
        if s.key.item.as_str() >= "case-05" {
            s.key.task = "second-task".into();
        }
    }
    let text = MarkdownReporter::default().render(&report).unwrap();
    let section = pass_at_k_section(&text);
    assert!(
        section.contains("| Task | Model | Items | pass@1 | pass@2 |"),
        "{section}"
    );
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.contains("| Claude Sonnet 4.6 |"))
        .collect();
    assert_eq!(rows.len(), 3, "{section}");
    assert!(
        rows[0].starts_with("| race-condition | Claude Sonnet 4.6 | 5 |"),
        "{section}"
    );
    assert!(
        rows[1].starts_with("| second-task | Claude Sonnet 4.6 | 5 |"),
        "{section}"
    );
    assert!(
        rows[2].starts_with("| all tasks | Claude Sonnet 4.6 | 10 | 90% ("),
        "{section}"
    );
}
