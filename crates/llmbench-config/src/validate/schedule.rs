//! `[schedule]`: the sweep's name, its trigger (interval or cron in a time zone), jitter,
//! the metrics address and the error ratio that fails a sweep.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::checker::{FloatRange, ID_RULE, Validator, is_id};
use crate::de_error;
use crate::error::ConfigErrorKind;
use crate::model::{DEFAULT_METRICS_ADDRESS, ScheduleConfig, Trigger, sweep_name_from_path};
use crate::raw::RawSchedule;

use ConfigErrorKind as K;

impl Validator<'_> {
    pub(super) fn schedule(&mut self, raw: Spanned<RawSchedule>, path: &Path) -> ScheduleConfig {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = match &raw.name {
            Some(name) => {
                if !is_id(name.get_ref()) {
                    self.sink
                        .error(
                            K::InvalidValue,
                            name.span(),
                            format!("invalid sweep name {:?} in `schedule.name`", name.get_ref()),
                        )
                        .help(ID_RULE);
                }
                name.get_ref().clone()
            }
            None => sweep_name_from_path(path),
        };
        let trigger = match (&raw.interval_seconds, &raw.cron) {
            (Some(_), Some(cron)) => {
                self.sink
                    .error(
                        K::Conflict,
                        cron.span(),
                        "`schedule` has both `interval-seconds` and `cron`",
                    )
                    .help("keep one of them");
                None
            }
            (None, None) => {
                self.sink
                    .error(
                        K::MissingKey,
                        span.clone(),
                        "`schedule` needs `interval-seconds` or `cron`",
                    )
                    .help("add `interval-seconds = 21600` (every 6 hours) or `cron = \"0 */6 * * *\"`");
                None
            }
            (Some(interval), None) => {
                let secs = self.float(
                    "schedule.interval-seconds",
                    interval,
                    FloatRange::AtLeast(1.0),
                );
                match Duration::try_from_secs_f64(secs) {
                    Ok(d) => Some(Trigger::Interval(d)),
                    Err(_) => {
                        self.sink.error(
                            K::InvalidValue,
                            interval.span(),
                            format!("`schedule.interval-seconds` is too large: {secs}"),
                        );
                        None
                    }
                }
            }
            (None, Some(cron)) => self.cron(cron, raw.timezone.as_ref()),
        };
        if let (Some(timezone), None) = (&raw.timezone, &raw.cron) {
            self.sink
                .error(
                    K::Conflict,
                    timezone.span(),
                    "`schedule.timezone` applies only to `cron`",
                )
                .help("remove `timezone`, or use `cron`");
        }
        let jitter = raw.jitter_seconds.as_ref().map_or(Duration::ZERO, |j| {
            let secs = self.float("schedule.jitter-seconds", j, FloatRange::AtLeast(0.0));
            Duration::try_from_secs_f64(secs).unwrap_or_else(|_| {
                self.sink.error(
                    K::InvalidValue,
                    j.span(),
                    format!("`schedule.jitter-seconds` is too large: {secs}"),
                );
                Duration::ZERO
            })
        });
        let default_address = DEFAULT_METRICS_ADDRESS.parse().expect("a valid address");
        let metrics_address =
            raw.metrics_address
                .as_ref()
                .map_or(default_address, |a| match a.get_ref().parse() {
                    Ok(address) => address,
                    Err(_) => {
                        self.sink
                            .error(
                                K::InvalidValue,
                                a.span(),
                                format!(
                                    "`schedule.metrics-address` must be IP:PORT, not {:?}",
                                    a.get_ref()
                                ),
                            )
                            .help(format!("for example \"{DEFAULT_METRICS_ADDRESS}\""));
                        default_address
                    }
                });
        let max_error_ratio = raw.max_error_ratio.as_ref().map_or(0.1, |r| {
            self.float("schedule.max-error-ratio", r, FloatRange::Between(0.0, 1.0))
        });
        let keep_runs = raw
            .keep_runs
            .as_ref()
            .map(|n| self.int("schedule.keep-runs", n, 1, i64::from(u32::MAX)) as usize);
        let keep_days = raw
            .keep_days
            .as_ref()
            .map(|n| self.int("schedule.keep-days", n, 1, i64::from(u32::MAX)) as u32);
        ScheduleConfig {
            name,
            // A placeholder when the trigger is invalid: the config is rejected anyway.
            trigger: trigger.unwrap_or(Trigger::Interval(Duration::from_secs(1))),
            jitter,
            metrics_address,
            max_error_ratio,
            keep_runs,
            keep_days,
        }
    }

    fn cron(
        &mut self,
        cron: &Spanned<String>,
        timezone: Option<&Spanned<String>>,
    ) -> Option<Trigger> {
        let expression = cron.get_ref().trim();
        let fields = expression.split_whitespace().count();
        let parsed = if (5..=6).contains(&fields) {
            // croner's messages are sentences ("Component error: Number out of bounds.").
            expression
                .parse::<croner::Cron>()
                .map_err(|e| e.to_string().trim_end_matches('.').to_lowercase())
        } else {
            Err(format!(
                "expected 5 fields (6 with seconds), found {fields}"
            ))
        };
        let parsed = match parsed {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.sink
                    .error(
                        K::InvalidValue,
                        cron.span(),
                        format!("invalid cron expression {expression:?} in `schedule.cron`: {e}"),
                    )
                    .help(
                        "minute hour day-of-month month day-of-week, for example \"0 */6 * * *\"",
                    );
                None
            }
        };
        let timezone_name = timezone.map_or("UTC", |t| t.get_ref().as_str()).to_owned();
        let zone = match jiff::tz::TimeZone::get(&timezone_name) {
            Ok(zone) => Some(zone),
            Err(_) => {
                let span = timezone.map_or(cron.span(), |t| t.span());
                let names: Vec<String> =
                    jiff::tz::db().available().map(|n| n.to_string()).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let error = self.sink.error(
                    K::InvalidValue,
                    span,
                    format!("unknown time zone {timezone_name:?} in `schedule.timezone`"),
                );
                match de_error::suggest(&timezone_name, &refs) {
                    Some(best) => error.help(format!("did you mean `{best}`?")),
                    None => error.help("use an IANA name such as \"Europe/Berlin\" or \"UTC\""),
                }
                None
            }
        };
        Some(Trigger::Cron {
            expression: expression.to_owned(),
            cron: parsed?,
            timezone_name,
            timezone: zone?,
        })
    }
}
