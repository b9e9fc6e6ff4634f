//! Working days: Monday to Friday, less public holidays, plus the weekend
//! days that are worked in exchange (调休), both from the configuration; and
//! working hours within them, for time limits counted in hours.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};

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

/// The working hours of a working day, Asia/Shanghai.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for WorkingHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl Calendar {
    /// The moment `hours` working hours after `from`: the clock runs only
    /// within `hours_of_day` on working days (Beijing time).
    pub fn add_working_hours(
        &self,
        from: DateTime<Utc>,
        hours: u32,
        hours_of_day: WorkingHours,
    ) -> DateTime<Utc> {
        let offset = TimeDelta::hours(8);
        let mut local = (from + offset).naive_utc();
        let mut left = TimeDelta::hours(i64::from(hours));
        let span = hours_of_day.end - hours_of_day.start;
        if span <= TimeDelta::zero() {
            return from;
        }
        // At most a few years of days: bounded however the calendar looks.
        for _ in 0..5000 {
            let day = local.date();
            let (open, close) = (
                day.and_time(hours_of_day.start),
                day.and_time(hours_of_day.end),
            );
            if !self.is_working_day(day) || local >= close {
                local = day
                    .succ_opt()
                    .map_or(local, |d| d.and_time(hours_of_day.start));
                continue;
            }
            let begin = local.max(open);
            let available = close - begin;
            if left <= available {
                return (begin + left).and_utc() - offset;
            }
            left -= available;
            local = day
                .succ_opt()
                .map_or(local, |d| d.and_time(hours_of_day.start));
        }
        (local.and_utc() - offset).max(from)
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
    fn working_hours_skip_nights_weekends_and_holidays() {
        use chrono::TimeZone as _;
        let at = |d: u32, h: u32, m: u32| {
            // Beijing time → UTC.
            Utc.with_ymd_and_hms(2026, 9, d, h, m, 0)
                .single()
                .expect("time")
                - TimeDelta::hours(8)
        };
        let cal = Calendar::new((1..=7).map(|d| day(2026, 10, d)), []);
        let hours = WorkingHours::default();
        // Friday 25 Sep 16:00 + 4 h: 1 h on Friday, 3 h on Monday → 12:00.
        assert_eq!(
            cal.add_working_hours(at(25, 16, 0), 4, hours),
            at(28, 12, 0)
        );
        // Reported at night: the clock starts at 09:00 the next working day.
        assert_eq!(
            cal.add_working_hours(at(28, 22, 30), 2, hours),
            at(29, 11, 0)
        );
        // Across National Day: Wed 30 Sep 15:00 + 8 h → Thu 8 Oct 15:00.
        let oct8 = Utc
            .with_ymd_and_hms(2026, 10, 8, 7, 0, 0)
            .single()
            .expect("time");
        assert_eq!(cal.add_working_hours(at(30, 15, 0), 8, hours), oct8);
        // Exactly the end of the day.
        assert_eq!(cal.add_working_hours(at(28, 9, 0), 8, hours), at(28, 17, 0));
    }

    #[test]
    fn months_and_ages_at_the_boundaries() {
        assert_eq!(add_months(day(2026, 1, 31), 1), day(2026, 2, 28));
        assert_eq!(add_months(day(2024, 2, 29), 12), day(2025, 2, 28));
        assert_eq!(age_on(day(2008, 11, 25), day(2026, 11, 25)), 18);
        assert_eq!(age_on(day(2008, 11, 26), day(2026, 11, 25)), 17);
    }
}
