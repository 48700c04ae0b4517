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
