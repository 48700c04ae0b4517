//! `[schedule]`: valid schedules become the expected values; each mistake is located.

use std::time::Duration;

use insta::assert_snapshot;
use llmbench_config::Trigger;

use crate::{MINIMAL, errors, ok, shown};

fn with_minimal(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn an_interval_with_defaults() {
    let config = ok(&with_minimal("[schedule]\ninterval-seconds = 21600\n"));
    let s = config.schedule.clone().unwrap();
    assert_eq!(s.name, "x", "the file name without .toml");
    assert_eq!(s.trigger, Trigger::Interval(Duration::from_secs(21600)));
    assert_eq!(s.jitter, Duration::ZERO);
    assert_eq!(s.metrics_address.to_string(), "127.0.0.1:9464");
    assert_eq!(s.max_error_ratio, 0.1);
    assert_eq!((s.keep_runs, s.keep_days), (None, None), "keep everything");
    assert_eq!(config.sweep_name(), "x");
}

#[test]
fn retention_keeps_runs_or_days_at_least_one() {
    let config = ok(&with_minimal(
        "[schedule]\ninterval-seconds = 60\nkeep-runs = 3\nkeep-days = 30\n",
    ));
    let s = config.schedule.unwrap();
    assert_eq!((s.keep_runs, s.keep_days), (Some(3), Some(30)));
    let e = errors(&with_minimal(
        "[schedule]\ninterval-seconds = 60\nkeep-runs = 0\nkeep-days = -2\n",
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:10:13: `schedule.keep-runs` must be at least 1, not 0
      [invalid_value]
    configs/x.toml:11:13: `schedule.keep-days` must be at least 1, not -2
      [invalid_value]
    ");
}

#[test]
fn a_cron_in_a_time_zone_with_everything_set() {
    let config = ok(&with_minimal(
        r#"[schedule]
name = "nightly"
cron = "0 */6 * * *"
timezone = "Europe/Berlin"
jitter-seconds = 300
metrics-address = "0.0.0.0:9999"
max-error-ratio = 0.25
"#,
    ));
    let s = config.schedule.clone().unwrap();
    assert_eq!(s.name, "nightly");
    assert_eq!(config.sweep_name(), "nightly");
    let Trigger::Cron {
        expression,
        timezone_name,
        timezone,
        ..
    } = &s.trigger
    else {
        panic!("{:?}", s.trigger)
    };
    assert_eq!(expression, "0 */6 * * *");
    assert_eq!(timezone_name, "Europe/Berlin");
    assert_eq!(timezone.iana_name(), Some("Europe/Berlin"));
    assert_eq!(s.jitter, Duration::from_secs(300));
    assert_eq!(s.metrics_address.to_string(), "0.0.0.0:9999");
    assert_eq!(s.max_error_ratio, 0.25);
}

#[test]
fn cron_with_seconds_and_utc_by_default() {
    let config = ok(&with_minimal("[schedule]\ncron = \"*/3 * * * * *\"\n"));
    match config.schedule.unwrap().trigger {
        Trigger::Cron { timezone_name, .. } => assert_eq!(timezone_name, "UTC"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_schedule_is_fine_for_run() {
    let config = ok(MINIMAL);
    assert!(config.schedule.is_none());
    assert_eq!(config.sweep_name(), "x");
}

#[test]
fn neither_or_both_triggers() {
    let e = errors(&with_minimal("[schedule]\njitter-seconds = 1\n"));
    assert_snapshot!(shown(&e), @r#"
    configs/x.toml:8:1: `schedule` needs `interval-seconds` or `cron`
      help: add `interval-seconds = 21600` (every 6 hours) or `cron = "0 */6 * * *"`
      [missing_key]
    "#);
    let e = errors(&with_minimal(
        "[schedule]\ninterval-seconds = 60\ncron = \"* * * * *\"\n",
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:10:8: `schedule` has both `interval-seconds` and `cron`
      help: keep one of them
      [conflict]
    ");
}

#[test]
fn every_value_is_checked() {
    let e = errors(&with_minimal(
        r#"[schedule]
name = "my sweep"
cron = "61 * * * *"
timezone = "Europe/Berln"
jitter-seconds = -1
metrics-address = "localhost"
max-error-ratio = 2
"#,
    ));
    assert_snapshot!(shown(&e), @r#"
    configs/x.toml:9:8: invalid sweep name "my sweep" in `schedule.name`
      help: use letters, digits, `_`, `.` and `-`
      [invalid_value]
    configs/x.toml:10:8: invalid cron expression "61 * * * *" in `schedule.cron`: component error: number out of bounds
      help: minute hour day-of-month month day-of-week, for example "0 */6 * * *"
      [invalid_value]
    configs/x.toml:11:12: unknown time zone "Europe/Berln" in `schedule.timezone`
      help: did you mean `Europe/Berlin`?
      [invalid_value]
    configs/x.toml:12:18: `schedule.jitter-seconds` must be 0 or more, not -1
      [invalid_value]
    configs/x.toml:13:19: `schedule.metrics-address` must be IP:PORT, not "localhost"
      help: for example "127.0.0.1:9464"
      [invalid_value]
    configs/x.toml:14:19: `schedule.max-error-ratio` must be between 0 and 1, not 2
      [invalid_value]
    "#);
}

#[test]
fn intervals_and_time_zones_need_their_trigger() {
    let e = errors(&with_minimal(
        "[schedule]\ninterval-seconds = 0.5\ntimezone = \"UTC\"\n",
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:20: `schedule.interval-seconds` must be 1 or more, not 0.5
      [invalid_value]
    configs/x.toml:10:12: `schedule.timezone` applies only to `cron`
      help: remove `timezone`, or use `cron`
      [conflict]
    ");
    let e = errors(&with_minimal("[schedule]\ncron = \"* * *\"\n"));
    assert_snapshot!(shown(&e), @r#"
    configs/x.toml:9:8: invalid cron expression "* * *" in `schedule.cron`: expected 5 fields (6 with seconds), found 3
      help: minute hour day-of-month month day-of-week, for example "0 */6 * * *"
      [invalid_value]
    "#);
}

#[test]
fn unknown_keys_suggest_the_right_one() {
    let e = errors(&with_minimal("[schedule]\ninterval = 60\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:1: unknown key `interval` in `schedule`
      help: did you mean `interval-seconds`?
      [unknown_key]
    ");
}
