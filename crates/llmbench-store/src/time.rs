//! UTC timestamps and run ids, without a date-time dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC calendar time, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UtcTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl UtcTime {
    fn from_unix(since_epoch: Duration) -> Self {
        let secs = since_epoch.as_secs() as i64;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            millis: since_epoch.subsec_millis(),
        }
    }

    /// `2026-11-28T07:14:01.123Z`
    fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20261128T071401Z`
    fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// (year, month, day) of a day counted from 1970-01-01, in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The current time as RFC 3339 in UTC with milliseconds: `2026-11-28T07:14:01.123Z`.
/// Strings in this form sort in time order.
pub fn utc_now_rfc3339() -> String {
    UtcTime::from_unix(since_epoch()).rfc3339()
}

/// The time `days` days ago, in the form of [`utc_now_rfc3339`] (so it compares with stored
/// times as strings).
pub(crate) fn utc_days_ago_rfc3339(days: u32) -> String {
    let ago = since_epoch().saturating_sub(Duration::from_secs(u64::from(days) * 86_400));
    UtcTime::from_unix(ago).rfc3339()
}

/// A new run id: the UTC time and 24 random bits, `20261128T071401Z-3f9a2c`. Ids sort by
/// creation time (to the second); two runs started in the same second differ in the suffix.
pub fn new_run_id() -> String {
    let now = since_epoch();
    format!(
        "{}-{:06x}",
        UtcTime::from_unix(now).compact(),
        random_24_bits(now)
    )
}

/// 24 bits from the standard library's randomly keyed hasher over the time, the process id and
/// a counter (so two calls in one process never repeat the input).
fn random_24_bits(now: Duration) -> u32 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    now.as_nanos().hash(&mut h);
    std::process::id().hash(&mut h);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut h);
    (h.finish() & 0xff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_matches_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        let t = UtcTime::from_unix(Duration::from_millis(1_795_850_041_123));
        assert_eq!(t.rfc3339(), "2026-11-28T07:14:01.123Z");
        assert_eq!(t.compact(), "20261128T071401Z");
    }

    #[test]
    fn run_ids_are_well_formed_and_distinct() {
        let ids: Vec<String> = (0..10).map(|_| new_run_id()).collect();
        for id in &ids {
            let (time, suffix) = id.split_once('-').expect("a dash");
            assert_eq!(time.len(), 16, "{id}");
            assert!(time.ends_with('Z') && time.as_bytes()[8] == b'T', "{id}");
            assert_eq!(suffix.len(), 6, "{id}");
            assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        // 10 draws of 24 bits collide with probability below 3e-6.
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn now_is_rfc3339() {
        let now = utc_now_rfc3339();
        assert_eq!(now.len(), "2026-11-28T07:14:01.123Z".len(), "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
