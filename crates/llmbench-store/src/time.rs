//! UTC timestamps (jiff's calendar) and run ids.

use jiff::{SignedDuration, Timestamp};

/// `2026-11-28T07:14:01.123Z`: RFC 3339 in UTC, milliseconds truncated to three digits, so
/// that strings of this form sort in time order.
fn rfc3339(t: Timestamp) -> String {
    format!("{t:.3}")
}

/// `20261128T071401Z`
fn compact(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// The current time as RFC 3339 in UTC with milliseconds: `2026-11-28T07:14:01.123Z`.
/// Strings in this form sort in time order.
pub fn utc_now_rfc3339() -> String {
    rfc3339(Timestamp::now())
}

/// The time `days` days ago, in the form of [`utc_now_rfc3339`] (so it compares with stored
/// times as strings); never before 1970-01-01.
pub(crate) fn utc_days_ago_rfc3339(days: u32) -> String {
    rfc3339(days_before(Timestamp::now(), days))
}

fn days_before(now: Timestamp, days: u32) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(24 * i64::from(days)))
        .map_or(Timestamp::UNIX_EPOCH, |t| t.max(Timestamp::UNIX_EPOCH))
}

/// A new run id: the UTC time and 24 random bits, `20261128T071401Z-3f9a2c`. Ids sort by
/// creation time (to the second); two runs started in the same second differ in the suffix.
pub fn new_run_id() -> String {
    format!(
        "{}-{:06x}",
        compact(Timestamp::now()),
        fastrand::u32(..1 << 24)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_times() {
        let t = Timestamp::from_millisecond(1_795_850_041_123).unwrap();
        assert_eq!(rfc3339(t), "2026-11-28T07:14:01.123Z");
        assert_eq!(compact(t), "20261128T071401Z");
        // Whole seconds keep their three digits; sub-millisecond parts are truncated.
        let t = Timestamp::new(951_782_400, 999_999).unwrap();
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = Timestamp::new(1_795_850_041, 999_999_999).unwrap();
        assert_eq!(rfc3339(t), "2026-11-28T07:14:01.999Z");
    }

    #[test]
    fn days_ago_count_whole_days_and_stop_at_the_epoch() {
        let t = Timestamp::from_millisecond(1_795_850_041_123).unwrap();
        assert_eq!(rfc3339(days_before(t, 0)), "2026-11-28T07:14:01.123Z");
        assert_eq!(rfc3339(days_before(t, 30)), "2026-10-29T07:14:01.123Z");
        assert_eq!(
            rfc3339(days_before(t, 365 * 100)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(days_before(t, u32::MAX)),
            "1970-01-01T00:00:00.000Z"
        );
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
