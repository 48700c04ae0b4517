//! Valid configs become the expected values.

use std::path::Path;
use std::time::Duration;

use llmbench_config::{GraderConfig, PriceConfig, ProviderConfig, RateLimits, RunSettings, render};
use llmbench_core::{Item, Message, Price, Sampling, Task, VerdictRule};
use serde_json::json;

use crate::{MINIMAL, ok};

const FULL: &str = r#"
[run]
output-dir = "results"
repeats = 3
concurrency = 8
timeout-seconds = 2.5
grace-seconds = 0.5
max-cost-usd = 1.5
plugin-dir = "../target/debug"

[providers.haiku]
plugin = "provider-replay"
model = "claude-haiku-4-5"
label = "Claude Haiku 4.5"
api-key-env = "ANTHROPIC_API_KEY"
concurrency = 2
max-tokens = 2048
requests-per-minute = 50
output-tokens-per-minute = 40000
adaptive-rate-limit = true
max-retries = 3
temperature = 0.0
top-p = 0.9
top-k = 40
seed = 7
stop = ["END"]
stream = false
price = { input-per-mtok = 1.0, output-per-mtok = 5, cache-read-per-mtok = 0.1, as-of = "2026-05-22" }

[providers.haiku.options]
answers = "replay/race.jsonl"
nested = { list = [1, "two", true], when = 2026-05-22 }

[providers.local]
plugin = "../target/debug/libprovider_local.so"
model = "tiny.gguf"
price = { input-per-mtok = 0, output-per-mtok = 0, as-of = 2026-01-31 }

[tasks.race]
description = "Find the race"
system = "You are a {{role}}."
prompt = "Fix:\n{{ code }}\nas a {{role}}"
max-tokens = 512
items = [
  { id = "stampede", code = "cache = {}", role = "reviewer" },
  { code = "x = 1", role = "teacher", n = 3, flag = true, f = 1.5 },
]

[[tasks.race.graders]]
plugin = "grader-sections"
weight = 2
[tasks.race.graders.options]
sections = ["Bug", "Fix"]

[[tasks.race.graders]]
name = "mentions"
plugin = "grader-regex"
weight = 0.5
options = { pattern = "race" }

[tasks.race.verdict]
rule = "weighted"
threshold = 0.7

[tasks.plain]
prompt = "Say hi"
"#;

#[test]
fn full_config_becomes_the_expected_values() {
    let config = ok(FULL);
    let dir = std::path::absolute("configs").unwrap();
    assert_eq!(config.dir, dir);
    assert_eq!(config.path, dir.join("x.toml"));
    assert_eq!(config.source, FULL);
    assert_eq!(
        config.run,
        RunSettings {
            output_dir: Some(dir.join("results")),
            store: None,
            store_password_env: None,
            repeats: 3,
            concurrency: 8,
            timeout: Duration::from_millis(2500),
            grace: Duration::from_millis(500),
            plugin_dir: Some(dir.join("../target/debug")),
            max_cost_usd: Some(1.5),
            pass_at_k: Vec::new(),
        }
    );

    let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["haiku", "local"], "file order");
    assert_eq!(
        config.providers[0],
        ProviderConfig {
            name: "haiku".into(),
            plugin: "provider-replay".into(),
            model: "claude-haiku-4-5".into(),
            label: "Claude Haiku 4.5".into(),
            api_key_env: Some("ANTHROPIC_API_KEY".into()),
            concurrency: Some(2),
            max_tokens: Some(2048),
            rate_limits: RateLimits {
                requests_per_minute: Some(50),
                input_tokens_per_minute: None,
                output_tokens_per_minute: Some(40000),
                adaptive: true,
            },
            max_retries: 3,
            sampling: Sampling {
                temperature: Some(0.0),
                top_p: Some(0.9),
                top_k: Some(40),
                seed: Some(7),
                stop: vec!["END".into()],
            },
            stream: false,
            price: Some(PriceConfig {
                price: Price {
                    input_per_mtok: 1.0,
                    output_per_mtok: 5.0,
                    cache_read_per_mtok: 0.1,
                    // Defaults to the input price.
                    cache_write_per_mtok: 1.0,
                },
                as_of: Some("2026-05-22".into()),
                from_catalog: false,
            }),
            options: json!({
                "answers": "replay/race.jsonl",
                "nested": { "list": [1, "two", true], "when": "2026-05-22" },
            }),
        }
    );
    let local = config.provider("local").unwrap();
    assert_eq!(
        local.plugin, "../target/debug/libprovider_local.so",
        "kept as written"
    );
    assert_eq!(local.label, "tiny.gguf", "label defaults to the model");
    assert_eq!(local.sampling, Sampling::default());
    assert!(local.stream);
    assert_eq!(local.options, json!({}));
    assert_eq!(
        local.price.as_ref().unwrap().as_of.as_deref(),
        Some("2026-01-31"),
        "a TOML date is accepted"
    );

    let race = config.task("race").unwrap();
    assert_eq!(race.description.as_deref(), Some("Find the race"));
    assert_eq!(race.max_tokens, 512);
    assert_eq!(
        *race.items.all(),
        [
            Item {
                id: "stampede".into(),
                vars: [("code", "cache = {}"), ("role", "reviewer")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .into(),
            },
            Item {
                id: "item-2".into(),
                vars: [
                    ("code", "x = 1"),
                    ("role", "teacher"),
                    ("n", "3"),
                    ("flag", "true"),
                    ("f", "1.5")
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            },
        ]
    );
    assert_eq!(
        race.graders,
        [
            GraderConfig {
                name: "grader-sections".into(),
                plugin: "grader-sections".into(),
                weight: 2.0,
                advisory: false,
                judge: None,
                api_key_env: None,
                price: None,
                options: json!({ "sections": ["Bug", "Fix"] }),
                uses_item_vars: false,
            },
            GraderConfig {
                name: "mentions".into(),
                plugin: "grader-regex".into(),
                weight: 0.5,
                advisory: false,
                judge: None,
                api_key_env: None,
                price: None,
                options: json!({ "pattern": "race" }),
                uses_item_vars: false,
            },
        ]
    );
    assert_eq!(
        race.verdict,
        VerdictRule::Weighted {
            weights: vec![2.0, 0.5],
            threshold: 0.7
        }
    );

    let plain = config.task("plain").unwrap();
    assert_eq!(plain.max_tokens, 1024);
    assert_eq!(
        *plain.items.all(),
        [Item {
            id: "default".into(),
            vars: Default::default()
        }]
    );
    assert!(plain.graders.is_empty());
    assert_eq!(plain.verdict, VerdictRule::AllPass);
}

#[test]
fn tasks_render_requests() {
    let config = ok(FULL);
    let race = config.task("race").unwrap();
    assert_eq!(race.id(), "race");
    let request = race.render(&race.items()[0]);
    assert_eq!(request.model, "", "the runner sets the model");
    assert_eq!(request.system.as_deref(), Some("You are a reviewer."));
    assert_eq!(
        request.messages,
        [Message::user("Fix:\ncache = {}\nas a reviewer")]
    );
    assert_eq!(request.max_tokens, 512);
    assert_eq!(request.sampling, Sampling::default());
    assert!(request.stream);
    assert_eq!(request.sample, None);
    assert!(matches!(race.verdict_rule(), VerdictRule::Weighted { .. }));
}

#[test]
fn defaults() {
    let config = ok(MINIMAL);
    assert_eq!(config.run, RunSettings::default());
    assert_eq!(config.run.repeats, 1);
    assert_eq!(config.run.concurrency, 4);
    assert_eq!(config.run.timeout, Duration::from_secs(300));
    assert_eq!(config.run.output_dir, None);
    assert_eq!(config.run.plugin_dir, None);
    let p = &config.providers[0];
    assert_eq!(
        (
            p.price.as_ref(),
            p.api_key_env.as_ref(),
            p.concurrency,
            p.max_tokens
        ),
        (None, None, None, None)
    );
}

#[test]
fn items_file_and_prompt_file_are_read_relative_to_the_config() {
    let config = llmbench_config::load(Path::new("tests/fixtures/with-files.toml")).unwrap();
    let task = &config.tasks[0];
    assert_eq!(
        task.prompt,
        "Review this {{ lang }} snippet:\n\n{{ code }}\n"
    );
    let ids: Vec<_> = (0..task.items.len()).map(|i| task.items.id(i)).collect();
    // An item without an `id` is named by its content, not its line: the same id wherever
    // it is in the file.
    assert_eq!(ids, ["first", "5738596164d462f5"]);
    assert_eq!(task.items.get(1).vars["lines"], "1");
    assert_eq!(task.items.get(1).vars["unsafe"], "false");
    let request = task.render(&task.items.get(1));
    assert_eq!(request.system.as_deref(), Some("You review rust code."));
    assert_eq!(
        request.messages[0].content,
        "Review this rust snippet:\n\nlet x = 1;\n"
    );
    assert!(config.path.is_absolute());
    assert!(config.path.ends_with("tests/fixtures/with-files.toml"));
}

#[test]
fn render_is_public_and_leaves_text_alone() {
    let vars = [("a".to_owned(), "{{b}}".to_owned())].into();
    assert_eq!(render("<{{a}}> {x} {{ b }}", &vars), "<{{b}}> {x} {{ b }}");
}

/// A grader that calls a model by itself (not through a `judge` entry): its key variable and
/// price, given or from the catalog by `options.model`.
#[test]
fn a_grader_with_its_own_model_has_its_own_key_and_price() {
    let config = ok(&format!(
        r#"{MINIMAL}
[[tasks.t.graders]]
name = "priced"
plugin = "grader-own-model"
api-key-env = "JUDGE_KEY"
price = {{ input-per-mtok = 2, output-per-mtok = 8 }}
options = {{ model = "judge", rubric = "r" }}

[[tasks.t.graders]]
name = "catalog"
plugin = "grader-own-model"
options = {{ model = "claude-haiku-4-5", rubric = "r" }}

[[tasks.t.graders]]
name = "unpriced"
plugin = "grader-own-model"
options = {{ model = "not-in-the-catalog", rubric = "r" }}
"#
    ));
    let graders = &config.task("t").unwrap().graders;
    assert_eq!(graders[0].api_key_env.as_deref(), Some("JUDGE_KEY"));
    assert_eq!(
        graders[0].price,
        Some(PriceConfig {
            price: Price {
                input_per_mtok: 2.0,
                output_per_mtok: 8.0,
                cache_read_per_mtok: 2.0,
                cache_write_per_mtok: 2.0,
            },
            as_of: None,
            from_catalog: false,
        })
    );
    assert_eq!(
        graders[1].price,
        llmbench_config::catalog_price("claude-haiku-4-5")
    );
    assert!(graders[1].price.as_ref().unwrap().from_catalog);
    assert_eq!(
        (graders[2].api_key_env.as_ref(), graders[2].price.as_ref()),
        (None, None)
    );
}

/// A `judge-only` provider entry is a model graders ask, not one under test; a grader names
/// it (or a model under test) with `judge`.
#[test]
fn judge_only_providers_are_apart_and_graders_name_them() {
    let config = ok(r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[providers.judge]
plugin = "provider-openai"
model = "gpt-judge"
api-key-env = "JUDGE_KEY"
judge-only = true
concurrency = 1
requests-per-minute = 10
max-retries = 4
price = { input-per-mtok = 2, output-per-mtok = 8 }
options = { base-url = "http://127.0.0.1:1/v1" }

[tasks.t]
prompt = "hello"

[[tasks.t.graders]]
plugin = "grader-llm-judge"
judge = "judge"
options = { rubric = "r" }

[[tasks.t.graders]]
name = "self-judged"
plugin = "grader-llm-judge"
judge = "p"
options = { rubric = "r" }
"#);
    let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["p"], "a judge-only entry is not under test");
    let judge = &config.judges[0];
    assert_eq!(judge.name, "judge");
    assert_eq!(judge.model, "gpt-judge");
    assert_eq!(judge.api_key_env.as_deref(), Some("JUDGE_KEY"));
    assert_eq!(judge.concurrency, Some(1));
    assert_eq!(judge.rate_limits.requests_per_minute, Some(10));
    assert_eq!(judge.max_retries, 4);
    assert_eq!(judge.price.as_ref().unwrap().price.output_per_mtok, 8.0);
    let graders = &config.task("t").unwrap().graders;
    assert_eq!(graders[0].judge.as_deref(), Some("judge"));
    assert_eq!(graders[0].price, None, "the entry's price applies");
    assert_eq!(graders[1].judge.as_deref(), Some("p"));
    assert_eq!(config.judge("judge").unwrap().model, "gpt-judge");
    assert_eq!(config.judge("p").unwrap().model, "m");
    assert!(config.provider("judge").is_none());
}
