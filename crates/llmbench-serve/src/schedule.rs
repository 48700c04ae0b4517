//! When sweeps start: the next start of a fixed interval or a cron expression (read in its
//! time zone), the starts that fell while a sweep ran (skipped), and jitter.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use llmbench_config::Trigger;

/// At most this many cron starts are counted one by one as skipped; past it the count is
/// an estimate from the nominal interval (a sweep running for a year on a per-second cron).
const MAX_COUNTED: u64 = 100_000;

/// A config's trigger, ready to compute start times.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    trigger: Trigger,
}

impl Schedule {
    pub(crate) fn new(trigger: Trigger) -> Self {
        Self { trigger }
    }

    /// The first start after `t`, strictly.
    pub(crate) fn next_after(&self, t: Timestamp) -> Timestamp {
        match &self.trigger {
            Trigger::Interval(every) => t + signed(*every),
            Trigger::Cron { cron, timezone, .. } => {
                let zoned = t.to_zoned(timezone.clone());
                match cron.find_next_occurrence(&zoned, false) {
                    Ok(next) => next.timestamp(),
                    Err(e) => {
                        // Only a pattern that can never match again (a year in the past)
                        // gets here; validation rejects years, so try again in a day.
                        tracing::error!(error = %e, "the cron expression has no next start");
                        t + SignedDuration::from_hours(24)
                    }
                }
            }
        }
    }

    /// The nominal time between starts: the interval, or the gap between the next two cron
    /// starts after `now`.
    pub(crate) fn interval(&self, now: Timestamp) -> Duration {
        match &self.trigger {
            Trigger::Interval(every) => *every,
            Trigger::Cron { .. } => {
                let first = self.next_after(now);
                let second = self.next_after(first);
                unsigned(second.duration_since(first))
            }
        }
    }

    /// The first scheduled start when the process starts at `now`: for an interval, one
    /// interval after the last stored run of the config started (at once if that is past
    /// or there is none); for cron, its next start.
    pub(crate) fn first_start(&self, now: Timestamp, last_run: Option<Timestamp>) -> Timestamp {
        match &self.trigger {
            Trigger::Interval(every) => match last_run {
                Some(last) => (last + signed(*every)).max(now),
                None => now,
            },
            Trigger::Cron { .. } => self.next_after(now),
        }
    }

    /// After a sweep scheduled at `tick` ended at `ended`: the next start after `ended`, and
    /// how many starts came due while it ran (skipped, never run late).
    pub(crate) fn after_sweep(&self, tick: Timestamp, ended: Timestamp) -> (Timestamp, u64) {
        match &self.trigger {
            Trigger::Interval(every) => {
                let every = every.as_secs_f64();
                let elapsed = ended.duration_since(tick).as_secs_f64().max(0.0);
                // Starts at tick + k * every, k >= 1; those at or before `ended` were missed.
                let missed = (elapsed / every).floor() as u64;
                let next = tick + SignedDuration::from_secs_f64(every * (missed + 1) as f64);
                (next, missed)
            }
            Trigger::Cron { .. } => {
                let mut next = self.next_after(tick);
                let mut missed = 0;
                while next <= ended {
                    missed += 1;
                    if missed == MAX_COUNTED {
                        let rest = ended.duration_since(next).as_secs_f64()
                            / self.interval(next).as_secs_f64().max(1.0);
                        return (self.next_after(ended), missed + rest as u64);
                    }
                    next = self.next_after(next);
                }
                (next, missed)
            }
        }
    }
}

/// A random delay from zero up to `max`.
pub(crate) fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    max.mul_f64(fastrand::f64())
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// Non-negative durations only; a negative one is zero.
pub(crate) fn unsigned(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cron(expression: &str, zone: &str) -> Schedule {
        Schedule::new(Trigger::Cron {
            expression: expression.to_owned(),
            cron: expression.parse().unwrap(),
            timezone_name: zone.to_owned(),
            timezone: jiff::tz::TimeZone::get(zone).unwrap(),
        })
    }

    fn every(secs: u64) -> Schedule {
        Schedule::new(Trigger::Interval(Duration::from_secs(secs)))
    }

    #[test]
    fn intervals_anchor_on_the_previous_start() {
        let s = every(3600);
        let now = ts("2026-03-01T12:00:00Z");
        assert_eq!(s.first_start(now, None), now);
        assert_eq!(
            s.first_start(now, Some(ts("2026-03-01T11:30:00Z"))),
            ts("2026-03-01T12:30:00Z")
        );
        assert_eq!(s.first_start(now, Some(ts("2026-03-01T09:00:00Z"))), now);
        // A sweep that took 10 minutes: nothing missed.
        assert_eq!(
            s.after_sweep(now, ts("2026-03-01T12:10:00Z")),
            (ts("2026-03-01T13:00:00Z"), 0)
        );
        // One that took 2.5 hours missed the starts at 13:00 and 14:00.
        assert_eq!(
            s.after_sweep(now, ts("2026-03-01T14:30:00Z")),
            (ts("2026-03-01T15:00:00Z"), 2)
        );
        // Ending exactly on a start misses it.
        assert_eq!(
            s.after_sweep(now, ts("2026-03-01T13:00:00Z")),
            (ts("2026-03-01T14:00:00Z"), 1)
        );
        assert_eq!(s.interval(now), Duration::from_secs(3600));
    }

    #[test]
    fn cron_reads_its_time_zone_across_daylight_saving() {
        // 02:30 Berlin time does not exist on 2026-03-29 (clocks jump from 02:00 to 03:00).
        let s = cron("30 2 * * *", "Europe/Berlin");
        let next = s.next_after(ts("2026-03-28T12:00:00Z"));
        assert_eq!(
            next,
            ts("2026-03-29T01:00:00Z"),
            "the gap moves the start to 03:00"
        );
        let next = s.next_after(next);
        assert_eq!(next, ts("2026-03-30T00:30:00Z"), "02:30 CEST");
        // Every 6 hours in UTC.
        let s = cron("0 */6 * * *", "UTC");
        let now = ts("2026-03-01T07:15:00Z");
        assert_eq!(s.first_start(now, None), ts("2026-03-01T12:00:00Z"));
        assert_eq!(s.interval(now), Duration::from_secs(6 * 3600));
        assert_eq!(
            s.after_sweep(ts("2026-03-01T12:00:00Z"), ts("2026-03-02T01:00:00Z")),
            (ts("2026-03-02T06:00:00Z"), 2)
        );
    }

    #[test]
    fn cron_with_seconds() {
        let s = cron("*/2 * * * * *", "UTC");
        let tick = ts("2026-03-01T00:00:00Z");
        assert_eq!(s.next_after(tick), ts("2026-03-01T00:00:02Z"));
        assert_eq!(
            s.after_sweep(tick, ts("2026-03-01T00:00:05Z")),
            (ts("2026-03-01T00:00:06Z"), 2)
        );
    }

    #[test]
    fn jitter_stays_in_range() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(5)) < Duration::from_secs(5));
        }
    }
}
