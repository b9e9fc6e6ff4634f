//! Time as people in the county read it: storage is UTC, days are
//! Asia/Shanghai calendar days.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Today in Asia/Shanghai, which has kept UTC+8 without daylight saving
/// since 1991.
pub fn beijing_today(now: DateTime<Utc>) -> NaiveDate {
    (now + Duration::hours(8)).date_naive()
}

/// A calendar day as written on the wire, `YYYY-MM-DD`.
pub fn parse_day(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// The wire form of a calendar day.
pub fn format_day(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_day_turns_at_midnight_in_beijing() {
        let before = Utc
            .with_ymd_and_hms(2022, 5, 19, 15, 59, 59)
            .single()
            .expect("time");
        let after = Utc
            .with_ymd_and_hms(2022, 5, 19, 16, 0, 0)
            .single()
            .expect("time");
        assert_eq!(format_day(beijing_today(before)), "2022-05-19");
        assert_eq!(format_day(beijing_today(after)), "2022-05-20");
        assert_eq!(
            parse_day("2022-05-20"),
            NaiveDate::from_ymd_opt(2022, 5, 20)
        );
        assert_eq!(parse_day("2022-02-30"), None);
    }
}
