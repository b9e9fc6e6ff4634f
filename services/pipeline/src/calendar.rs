//! Working days: Monday to Friday, less public holidays, plus the weekend
//! days that are worked in exchange (调休), both from the configuration.

use std::collections::BTreeSet;

use chrono::{Datelike, Months, NaiveDate, Weekday};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    holidays: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn new(
        holidays: impl IntoIterator<Item = NaiveDate>,
        working_weekends: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            holidays: holidays.into_iter().collect(),
            working_weekends: working_weekends.into_iter().collect(),
        }
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.holidays.contains(&day) {
            return false;
        }
        if self.working_weekends.contains(&day) {
            return true;
        }
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The last day of a period of `n` working days that starts on `start`
    /// (counted from `start` itself when it is a working day). `n = 0` is
    /// the day before `start`.
    pub fn working_days_end(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut counted = 0;
        if n == 0 {
            return start.pred_opt().unwrap_or(start);
        }
        loop {
            if self.is_working_day(day) {
                counted += 1;
                if counted == n {
                    return day;
                }
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => return day,
            }
        }
    }
}

/// `day` plus `months` calendar months (the last day of a shorter month
/// when the day does not exist there, e.g. 31 January + 1 month = 28/29
/// February).
pub fn add_months(day: NaiveDate, months: u32) -> NaiveDate {
    day.checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Whole years between `birth` and `on`.
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("day")
    }

    #[test]
    fn a_notice_spans_weekends_and_holidays() {
        // National Day 2026: 1–7 October off, Saturday 10 October worked.
        let holidays = (1..=7).map(|d| day(2026, 10, d));
        let cal = Calendar::new(holidays, [day(2026, 10, 10)]);
        // From Wednesday 30 September: 30 Sep, (1–7 off), 8, 9, 10 (Sat,
        // worked), 12 → the fifth working day is Monday 12 October.
        assert_eq!(cal.working_days_end(day(2026, 9, 30), 5), day(2026, 10, 12));
        // Without holidays, Friday + 4 more working days ends on Thursday.
        let plain = Calendar::default();
        assert_eq!(
            plain.working_days_end(day(2026, 11, 20), 5),
            day(2026, 11, 26)
        );
        // Starting on a Saturday counts from Monday.
        assert_eq!(
            plain.working_days_end(day(2026, 11, 21), 1),
            day(2026, 11, 23)
        );
    }

    #[test]
    fn months_and_ages_at_the_boundaries() {
        assert_eq!(add_months(day(2026, 1, 31), 1), day(2026, 2, 28));
        assert_eq!(add_months(day(2024, 2, 29), 12), day(2025, 2, 28));
        assert_eq!(age_on(day(2008, 11, 25), day(2026, 11, 25)), 18);
        assert_eq!(age_on(day(2008, 11, 26), day(2026, 11, 25)), 17);
    }
}
