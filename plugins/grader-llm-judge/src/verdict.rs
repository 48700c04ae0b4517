//! Reading the judge's reply: a JSON object `{"score", "pass", "rationale"}`, alone, in a
//! code fence, or surrounded by text.

use serde::Deserialize;
use serde_json::Value;

/// What the judge decided.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Verdict {
    /// In `0.0..=1.0`.
    pub score: f64,
    /// The judge's own pass/fail; the grade's outcome comes from `score` and the threshold.
    pub pass: bool,
    pub rationale: String,
}

/// The first JSON object in `reply` that is a well-formed verdict, or why there is none:
/// the problem with the first object found, else that there is no object at all.
pub(crate) fn parse(reply: &str) -> Result<Verdict, String> {
    let mut first_problem = None;
    for (start, _) in reply.match_indices('{') {
        let Some(Ok(value)) = serde_json::Deserializer::from_str(&reply[start..])
            .into_iter::<Value>()
            .next()
        else {
            continue;
        };
        if !value.is_object() {
            continue;
        }
        match verdict(value) {
            Ok(verdict) => return Ok(verdict),
            Err(problem) => {
                first_problem.get_or_insert(problem);
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| {
        if reply.trim().is_empty() {
            "the reply is empty".to_owned()
        } else {
            "the reply holds no JSON object".to_owned()
        }
    }))
}

fn verdict(value: Value) -> Result<Verdict, String> {
    let verdict: Verdict = serde_json::from_value(value)
        .map_err(|e| format!("the JSON object is not a verdict: {e}"))?;
    if !(0.0..=1.0).contains(&verdict.score) {
        return Err(format!(
            "`score` must be between 0 and 1, not {}",
            verdict.score
        ));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(score: f64, pass: bool, rationale: &str) -> Result<Verdict, String> {
        Ok(Verdict {
            score,
            pass,
            rationale: rationale.to_owned(),
        })
    }

    #[test]
    fn a_bare_object() {
        assert_eq!(
            parse(r#"{"score": 0.8, "pass": true, "rationale": "names the race"}"#),
            ok(0.8, true, "names the race")
        );
        assert_eq!(
            parse(r#"  {"pass": false, "rationale": "", "score": 0}  "#),
            ok(0.0, false, "")
        );
    }

    #[test]
    fn a_fenced_object_with_text_around_it() {
        let reply = "Here is my verdict:\n```json\n{\"score\": 1, \"pass\": true, \"rationale\": \"a {braced} fix\"}\n```\nHope it helps.";
        assert_eq!(parse(reply), ok(1.0, true, "a {braced} fix"));
    }

    #[test]
    fn extra_fields_and_earlier_objects_are_skipped() {
        let reply = r#"Criteria: {"a": 1}. Verdict: {"score": 0.25, "pass": false, "rationale": "r", "confidence": "high"}"#;
        assert_eq!(parse(reply), ok(0.25, false, "r"));
        // An object nested inside a non-verdict object is found too.
        let reply = r#"{"result": {"score": 0.5, "pass": true, "rationale": "r"}}"#;
        assert_eq!(parse(reply), ok(0.5, true, "r"));
    }

    #[test]
    fn problems_are_named() {
        assert_eq!(
            parse("The answer is fine."),
            Err("the reply holds no JSON object".to_owned())
        );
        assert_eq!(parse("  \n"), Err("the reply is empty".to_owned()));
        let e = parse(r#"{"score": 0.5, "rationale": "r"}"#).unwrap_err();
        assert!(e.contains("missing field `pass`"), "{e}");
        let e = parse(r#"{"score": "high", "pass": true, "rationale": "r"}"#).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert_eq!(
            parse(r#"{"score": 8, "pass": true, "rationale": "r"}"#),
            Err("`score` must be between 0 and 1, not 8".to_owned())
        );
        // Cut at the token limit: no complete object.
        assert_eq!(
            parse(r#"{"score": 0.9, "pass": true, "rationale": "the fix stores"#),
            Err("the reply holds no JSON object".to_owned())
        );
    }
}
