//! Clock time for service levels: around the clock or on a business calendar, standing still while
//! the complaint waits on the customer (API.md v1.1 "Service levels").
//!
//! Everything here is a pure function of its arguments: the same log, policy and `as_of` give the same
//! deadline on any machine. A clock has a *budget* of running seconds; [`due`] says when it runs out,
//! [`elapsed`] how much of it had run by an instant. Running time is wall time on an around-the-clock
//! level, and working time (the calendar's working days and hours in its time zone, less its holidays)
//! on a business level; in both, the spans the complaint was waiting on the customer do not count.
//!
//! A pause still open at `as_of` is taken to end at `as_of`: the due instant is then "the deadline if
//! the customer answered now". It only moves later as `as_of` passes, so a waiting complaint is never
//! overdue, and its clock resumes where it stopped when the customer responds.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use redress_schemas::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const NANOS: i64 = 1_000_000_000;

/// A policy's business calendar as written in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// An IANA time zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Working days: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub working_days: Vec<String>,
    /// Opening time, `HH:MM`, local.
    pub opens: String,
    /// Closing time, `HH:MM`, local, after `opens` on the same day.
    pub closes: String,
    /// Days off (`YYYY-MM-DD`) on which a working day has no working hours.
    #[serde(default)]
    pub holidays: Vec<String>,
}

impl Default for CalendarSpec {
    /// Monday to Friday, 09:00–18:00 in Asia/Shanghai, no holidays.
    fn default() -> Self {
        CalendarSpec {
            timezone: "Asia/Shanghai".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            opens: "09:00".into(),
            closes: "18:00".into(),
            holidays: Vec::new(),
        }
    }
}

/// Why a calendar was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar: {0}")]
pub struct CalendarError(String);

/// Holidays a calendar may list: bounds the days a clock may have to skip.
pub const HOLIDAYS_MAX: usize = 2_000;

/// A business calendar, checked: working windows are computed from it on demand.
#[derive(Debug, Clone)]
pub struct Calendar {
    spec: CalendarSpec,
    tz: TimeZone,
    /// Monday first.
    days: [bool; 7],
    opens: Time,
    closes: Time,
    holidays: BTreeSet<Date>,
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Calendar {}

impl Calendar {
    /// Checks `spec`: a known time zone, at least one working day, opening before closing, valid dates.
    pub fn new(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        let bad = |what: String| CalendarError(what);
        let tz = TimeZone::get(&spec.timezone).map_err(|e| bad(format!("timezone {:?}: {e}", spec.timezone)))?;
        let mut days = [false; 7];
        for day in &spec.working_days {
            let index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day))
                .ok_or_else(|| bad(format!("working_days: {day:?} is not one of mon..sun")))?;
            days[index] = true;
        }
        if !days.contains(&true) {
            return Err(bad("working_days: at least one day is needed".into()));
        }
        let time = |field: &str, text: &str| -> Result<Time, CalendarError> {
            let valid = text.len() == 5 && text.as_bytes()[2] == b':';
            let parsed = valid.then(|| format!("{text}:00").parse::<Time>().ok()).flatten();
            parsed.ok_or_else(|| bad(format!("{field}: {text:?} is not HH:MM")))
        };
        let (opens, closes) = (time("opens", &spec.opens)?, time("closes", &spec.closes)?);
        if opens >= closes {
            return Err(bad(format!("opens {} must be before closes {}", spec.opens, spec.closes)));
        }
        if spec.holidays.len() > HOLIDAYS_MAX {
            return Err(bad(format!("holidays: at most {HOLIDAYS_MAX}")));
        }
        let mut holidays = BTreeSet::new();
        for day in &spec.holidays {
            let date = day.parse::<Date>().map_err(|_| bad(format!("holidays: {day:?} is not YYYY-MM-DD")))?;
            holidays.insert(date);
        }
        Ok(Calendar { spec, tz, days, opens, closes, holidays })
    }

    /// The calendar as written.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The local date of `at`.
    fn date_of(&self, at: i64) -> Date {
        jiff::Timestamp::from_nanosecond(i128::from(at)).map_or(Date::MIN, |t| self.tz.to_datetime(t).date())
    }

    /// `date`'s working window as instants (nanoseconds), if it is a working day and not a holiday.
    /// Local times a daylight-saving change skips are taken as the later instant.
    fn window(&self, date: Date) -> Option<(i64, i64)> {
        let weekday = date.weekday();
        if !self.days[usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0)] || self.holidays.contains(&date) {
            return None;
        }
        let instant = |time: Time| -> Option<i64> {
            let instant = self.tz.to_timestamp(date.to_datetime(time)).ok()?;
            i64::try_from(instant.as_nanosecond()).ok()
        };
        let (start, end) = (instant(self.opens)?, instant(self.closes)?);
        (start < end).then_some((start, end))
    }

    /// Days to look at before giving up: every week has a working day, so this is only reached by
    /// an instant beyond any calendar's use.
    fn days_max(&self) -> usize {
        7 * (self.holidays.len() + 1) + 366 * 200
    }

    /// Working nanoseconds in `[from, to)`.
    fn working_between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let (mut date, last) = (self.date_of(from), self.date_of(to));
        let mut total = 0;
        while date <= last {
            if let Some((start, end)) = self.window(date) {
                total += (end.min(to) - start.max(from)).max(0);
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        total
    }

    /// The instant at which `budget` working nanoseconds after `from` have passed (`from` if none).
    fn add_working(&self, from: i64, budget: i64) -> i64 {
        if budget <= 0 {
            return from;
        }
        let (mut date, mut remaining) = (self.date_of(from), budget);
        for _ in 0..self.days_max() {
            if let Some((start, end)) = self.window(date) {
                let start = start.max(from);
                if end > start {
                    if end - start >= remaining {
                        return start + remaining;
                    }
                    remaining -= end - start;
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        i64::MAX
    }

    /// Working seconds between two instants (whole seconds, rounded down).
    pub fn working_seconds(&self, from: Timestamp, to: Timestamp) -> i64 {
        self.working_between(from.unix_nanos(), to.unix_nanos()) / NANOS
    }
}

/// How a clock counts time.
#[derive(Debug, Clone, Copy)]
pub enum Hours<'a> {
    /// Wall time.
    AroundTheClock,
    /// The calendar's working time.
    Business(&'a Calendar),
}

impl Hours<'_> {
    fn between(self, from: i64, to: i64) -> i64 {
        match self {
            Hours::AroundTheClock => (to - from).max(0),
            Hours::Business(calendar) => calendar.working_between(from, to),
        }
    }

    fn add(self, from: i64, budget: i64) -> i64 {
        match self {
            Hours::AroundTheClock => from.saturating_add(budget.max(0)),
            Hours::Business(calendar) => calendar.add_working(from, budget),
        }
    }
}

/// A span during which the clocks stood still: the complaint waited on the customer from `start` until
/// `end` (`None`: still waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// The pauses as nanosecond spans, an open one ending at `as_of`, in order, overlaps merged.
fn spans(pauses: &[Pause], as_of: Timestamp) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = pauses
        .iter()
        .map(|pause| {
            let start = pause.start.unix_nanos();
            (start, pause.end.unwrap_or(as_of).unix_nanos().max(start))
        })
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// When a clock started at `start` with `budget_seconds` of running time runs out, judged at `as_of`
/// (which only matters for a pause still open then).
pub fn due(start: Timestamp, budget_seconds: i64, pauses: &[Pause], hours: Hours<'_>, as_of: Timestamp) -> Timestamp {
    let mut cursor = start.unix_nanos();
    let mut remaining = budget_seconds.saturating_mul(NANOS);
    for (pause_start, pause_end) in spans(pauses, as_of) {
        if pause_end <= cursor {
            continue;
        }
        if pause_start > cursor {
            let running = hours.between(cursor, pause_start);
            if running >= remaining {
                return Timestamp::from_unix_nanos(hours.add(cursor, remaining));
            }
            remaining -= running;
        }
        cursor = cursor.max(pause_end);
    }
    Timestamp::from_unix_nanos(hours.add(cursor, remaining))
}

/// Seconds of running time from `start` to `until` (whole seconds, rounded down).
pub fn elapsed(start: Timestamp, until: Timestamp, pauses: &[Pause], hours: Hours<'_>) -> i64 {
    let (from, to) = (start.unix_nanos(), until.unix_nanos());
    if to <= from {
        return 0;
    }
    let mut cursor = from;
    let mut total = 0;
    for (pause_start, pause_end) in spans(pauses, until) {
        if pause_end <= cursor {
            continue;
        }
        if pause_start >= to {
            break;
        }
        total += hours.between(cursor, pause_start.max(cursor));
        cursor = cursor.max(pause_end);
        if cursor >= to {
            return total / NANOS;
        }
    }
    (total + hours.between(cursor, to)) / NANOS
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Weekday;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn shanghai() -> Calendar {
        Calendar::new(CalendarSpec { holidays: vec!["2026-10-01".into()], ..CalendarSpec::default() }).unwrap()
    }

    const HOUR: i64 = 3_600;

    #[test]
    fn a_friday_evening_complaint_is_due_on_monday_in_working_hours() {
        let calendar = shanghai();
        // Friday 2026-11-27 17:00 in Shanghai (09:00 UTC): one working hour left that day.
        let friday = at("2026-11-27T09:00:00Z");
        let due = due(friday, 2 * HOUR, &[], Hours::Business(&calendar), friday);
        assert_eq!(due, at("2026-11-30T02:00:00Z"), "Monday 10:00 in Shanghai");
        assert_eq!(calendar.working_seconds(friday, due), 2 * HOUR);
        assert_eq!(elapsed(friday, due, &[], Hours::Business(&calendar)), 2 * HOUR);
        // Around the clock: two hours of wall time.
        assert_eq!(super::due(friday, 2 * HOUR, &[], Hours::AroundTheClock, friday), at("2026-11-27T11:00:00Z"));
    }

    #[test]
    fn a_holiday_has_no_working_hours_and_a_night_none_either() {
        let calendar = shanghai();
        // Wednesday 2026-09-30 18:00 local; Thursday 10-01 is a holiday: next working time is Friday 09:00.
        let evening = at("2026-09-30T10:00:00Z");
        assert_eq!(due(evening, HOUR, &[], Hours::Business(&calendar), evening), at("2026-10-02T02:00:00Z"));
        // Received at 03:00 local, a working day: the clock starts at 09:00.
        let night = at("2026-11-25T19:00:00Z");
        assert_eq!(due(night, HOUR, &[], Hours::Business(&calendar), night), at("2026-11-26T02:00:00Z"));
    }

    #[test]
    fn daylight_saving_days_count_the_hours_worked() {
        // Berlin leaves summer time on Sunday 2026-10-25; working Sundays 09:00-18:00 are 9 hours either way.
        let spec = CalendarSpec {
            timezone: "Europe/Berlin".into(),
            working_days: vec!["sun".into()],
            ..CalendarSpec::default()
        };
        let calendar = Calendar::new(spec).unwrap();
        let sunday_morning = at("2026-10-25T08:00:00Z"); // 09:00 CET
        assert_eq!(
            due(sunday_morning, 9 * HOUR, &[], Hours::Business(&calendar), sunday_morning),
            at("2026-10-25T17:00:00Z")
        );
        let summer_sunday = at("2026-10-18T07:00:00Z"); // 09:00 CEST
        assert_eq!(calendar.working_seconds(summer_sunday, at("2026-10-26T00:00:00Z")), 18 * HOUR);
    }

    #[test]
    fn waiting_on_the_customer_stops_the_clock() {
        let start = at("2026-01-05T00:00:00Z");
        let pause = Pause { start: at("2026-01-05T01:00:00Z"), end: Some(at("2026-01-05T05:00:00Z")) };
        // 2 h budget: 1 h runs, 4 h paused, 1 h more.
        assert_eq!(due(start, 2 * HOUR, &[pause], Hours::AroundTheClock, start), at("2026-01-05T06:00:00Z"));
        // Still waiting at 03:00: due if the customer answered now (1 h left from 03:00).
        let open = Pause { end: None, ..pause };
        let now = at("2026-01-05T03:00:00Z");
        assert_eq!(due(start, 2 * HOUR, &[open], Hours::AroundTheClock, now), at("2026-01-05T04:00:00Z"));
        assert_eq!(elapsed(start, now, &[open], Hours::AroundTheClock), HOUR);
    }

    #[test]
    fn a_bad_calendar_is_refused_with_what_is_wrong() {
        let bad = |spec: CalendarSpec| Calendar::new(spec).unwrap_err().to_string();
        assert!(bad(CalendarSpec { timezone: "Mars/Olympus".into(), ..CalendarSpec::default() }).contains("timezone"));
        assert!(bad(CalendarSpec { working_days: vec![], ..CalendarSpec::default() }).contains("at least one"));
        assert!(bad(CalendarSpec { working_days: vec!["fry".into()], ..CalendarSpec::default() }).contains("\"fry\""));
        assert!(bad(CalendarSpec { opens: "18:00".into(), closes: "09:00".into(), ..CalendarSpec::default() })
            .contains("before"));
        assert!(bad(CalendarSpec { opens: "9".into(), ..CalendarSpec::default() }).contains("HH:MM"));
        assert!(
            bad(CalendarSpec { holidays: vec!["2026-02-30".into()], ..CalendarSpec::default() }).contains("holidays")
        );
    }

    /// An instant in 2026, to the second.
    fn instant() -> impl Strategy<Value = Timestamp> {
        (0i64..365 * 86_400).prop_map(|s| at("2026-01-01T00:00:00Z").plus_seconds(s))
    }

    fn pauses() -> impl Strategy<Value = Vec<Pause>> {
        prop::collection::vec((instant(), 0i64..10 * 86_400, any::<bool>()), 0..4).prop_map(|spans| {
            spans
                .into_iter()
                .map(|(start, length, open)| Pause { start, end: (!open).then(|| start.plus_seconds(length)) })
                .collect()
        })
    }

    fn calendars() -> impl Strategy<Value = Option<Calendar>> {
        prop_oneof![
            Just(None),
            Just(Some(shanghai())),
            Just(Some(
                Calendar::new(CalendarSpec {
                    timezone: "America/New_York".into(),
                    working_days: vec!["mon".into(), "wed".into(), "sat".into()],
                    opens: "08:30".into(),
                    closes: "12:15".into(),
                    holidays: vec!["2026-03-09".into(), "2026-07-04".into()],
                })
                .unwrap()
            )),
        ]
    }

    fn hours(calendar: &Option<Calendar>) -> Hours<'_> {
        calendar.as_ref().map_or(Hours::AroundTheClock, Hours::Business)
    }

    proptest! {
        #[test]
        fn a_deadline_never_moves_earlier_as_time_passes(
            calendar in calendars(), start in instant(), budget in 0i64..30 * 86_400,
            pauses in pauses(), now in instant(), later in 0i64..30 * 86_400,
        ) {
            let hours = hours(&calendar);
            let first = due(start, budget, &pauses, hours, now);
            let second = due(start, budget, &pauses, hours, now.plus_seconds(later));
            prop_assert!(second >= first, "{first:?} then {second:?}");
        }

        #[test]
        fn pausing_never_shortens_a_clock(
            calendar in calendars(), start in instant(), budget in 0i64..30 * 86_400,
            pauses in pauses(), extra in pauses(), now in instant(),
        ) {
            let hours = hours(&calendar);
            let mut more = pauses.clone();
            more.extend(extra);
            prop_assert!(due(start, budget, &more, hours, now) >= due(start, budget, &pauses, hours, now));
        }

        #[test]
        fn a_clock_runs_out_after_exactly_its_budget_of_running_time(
            calendar in calendars(), start in instant(), budget in 0i64..30 * 86_400, pauses in pauses(),
        ) {
            let hours = hours(&calendar);
            // Judged once every pause has ended (an open pause ends at the deadline judged then).
            let closed: Vec<Pause> = pauses.iter().map(|p| Pause { end: Some(p.end.unwrap_or(p.start)), ..*p }).collect();
            let deadline = due(start, budget, &closed, hours, start);
            prop_assert_eq!(elapsed(start, deadline, &closed, hours), budget);
            if budget > 0 {
                prop_assert!(elapsed(start, deadline.plus_seconds(-1), &closed, hours) < budget);
            }
        }

        #[test]
        fn business_time_is_the_sum_of_the_days_worked(start in instant(), length in 0i64..21 * 86_400) {
            // Counted one working day at a time, by local dates: across weekends and the holiday.
            let calendar = shanghai();
            let end = start.plus_seconds(length);
            let tz = TimeZone::get("Asia/Shanghai").unwrap();
            let local = |t: Timestamp| tz.to_datetime(jiff::Timestamp::from_nanosecond(i128::from(t.unix_nanos())).unwrap());
            let mut expected = 0;
            let mut date = local(start).date();
            while date <= local(end).date() {
                let working = !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
                    && date != "2026-10-01".parse::<Date>().unwrap();
                if working {
                    let open = tz.to_timestamp(date.at(9, 0, 0, 0)).unwrap().as_second();
                    let close = tz.to_timestamp(date.at(18, 0, 0, 0)).unwrap().as_second();
                    let from = open.max(start.unix_nanos() / NANOS);
                    let to = close.min(end.unix_nanos() / NANOS);
                    expected += (to - from).max(0);
                }
                date = date.tomorrow().unwrap();
            }
            prop_assert_eq!(calendar.working_seconds(start, end), expected);
        }
    }
}
