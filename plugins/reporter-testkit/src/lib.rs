//! `reporter-testkit`: the models of a run, one per line. **Test-only**: the smallest useful
//! reporter plugin, with which the end-to-end tests check that `llmbench report --format
//! reporter-testkit` uses a reporter the CLI does not know. Its code is the example of
//! README's "Adding a plugin" (keep the two the same).
//!
//! Options (`llmbench report --option KEY=VALUE`):
//! - `heading` (string, default `Models`): the first line.

use llmbench_plugin_sdk::core::{PluginContext, ReportError, Reporter, RunReport};
use llmbench_plugin_sdk::{ReporterPlugin, parse_options};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    #[serde(default)]
    heading: Option<String>,
}

impl Reporter for Models {
    fn render(&self, report: &RunReport) -> Result<String, ReportError> {
        let mut out = format!("{}\n", self.heading.as_deref().unwrap_or("Models"));
        for (_provider, model, label) in &report.run.providers {
            out.push_str(&format!("{label} ({model})\n"));
        }
        Ok(out)
    }
}

impl ReporterPlugin for Models {
    fn create(options: serde_json::Value, _: &PluginContext) -> Result<Self, String> {
        Ok(parse_options(&options)?)
    }
}

llmbench_plugin_sdk::export_reporter!(Models);

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunReport {
        serde_json::from_value(serde_json::json!({
            "run": {
                "run_id": "r1", "config_path": "bench.toml", "store_path": "s.sqlite",
                "status": "finished", "started_at": "2026-01-01T00:00:00Z",
                "planned_samples": 0,
                "providers": [["a", "model-a", "Model A"], ["b", "model-b", "Model B"]],
                "graders": [],
            },
            "samples": [],
        }))
        .unwrap()
    }

    fn create(options: serde_json::Value) -> Result<Models, String> {
        Models::create(options, &PluginContext::default())
    }

    #[test]
    fn one_line_per_model_under_the_heading() {
        let text = create(serde_json::json!({})).unwrap().render(&run());
        assert_eq!(
            text.unwrap(),
            "Models\nModel A (model-a)\nModel B (model-b)\n"
        );
        let titled = create(serde_json::json!({ "heading": "Nightly" })).unwrap();
        assert!(titled.render(&run()).unwrap().starts_with("Nightly\n"));
        assert!(create(serde_json::Value::Null).is_ok(), "no options");
    }

    #[test]
    fn an_unknown_option_is_refused_with_a_suggestion() {
        let e = create(serde_json::json!({ "headng": "x" })).unwrap_err();
        assert_eq!(
            e,
            "option `headng`: unknown option `headng` (did you mean `heading`?)"
        );
    }

    /// README's "Adding a plugin" shows this file's code (from its first `use` to the
    /// tests), indented in a list item: the example there is this tested plugin.
    #[test]
    fn the_readme_example_is_this_code() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
        let this =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
        let start = "use llmbench_plugin_sdk::core::";
        let code = &this[this.find(start).unwrap()..this.find("#[cfg(test)]").unwrap()];
        let from = readme
            .find(&format!("   {start}"))
            .expect("README's \"Adding a plugin\" shows a reporter");
        let to = from + readme[from..].find("   ```\n").unwrap();
        let shown: Vec<&str> = readme[from..to]
            .lines()
            .map(|l| l.strip_prefix("   ").unwrap_or(l))
            .collect();
        assert_eq!(shown.join("\n").trim(), code.trim());
    }
}
