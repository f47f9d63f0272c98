//! Who complains and when: arrival instants over the year, and customers with a long tail of repeat
//! complainers.

use super::catalogue::{Lang, CITIES_EN, CITIES_HANS, CITIES_HANT};
use super::rng::Rng;
use super::timeline::{DAY, HOUR, MINUTE};
use super::{local_date, DemoConfig, RNG_ARRIVALS, RNG_CUSTOMERS};
use redress_schemas::{CustomerTier, Timestamp};

/// Arrival instants of every complaint, sorted: more on weekdays and in office hours, peaks around the
/// shopping festivals, a dip at the Spring Festival, and a business growing through the year.
pub(super) fn arrival_times(config: &DemoConfig) -> Vec<Timestamp> {
    let mut rng = Rng::derive(config.seed, RNG_ARRIVALS, 0);
    let days = i64::from(config.days.max(1));
    let mut cumulative = Vec::with_capacity(days as usize);
    let mut total = 0.0;
    for d in 0..days {
        let noon = config.start.plus_seconds(d * DAY + 12 * HOUR);
        let (_, month, _) = local_date(noon);
        let month_factor = match month {
            11 => 1.45,
            12 | 1 => 1.15,
            2 => 0.8,
            6 => 1.2,
            _ => 1.0,
        };
        let weekday_factor = if weekday_from_monday(noon) >= 5 { 0.65 } else { 1.0 };
        let growth = 1.0 + 0.5 * d as f64 / days as f64;
        total += month_factor * weekday_factor * growth;
        cumulative.push(total);
    }
    // Local (UTC+8) hours of the day.
    const HOURS: [f64; 24] = [
        0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 2.5, 2.8, 2.6, 2.0, 2.3, 2.6, 2.5, 2.3, 2.0, 1.6, 1.5, 1.4, 1.2,
        0.8, 0.4,
    ];
    let earliest = config.start.plus_seconds(HOUR);
    let latest = config.end().plus_seconds(-5 * MINUTE);
    let mut times: Vec<Timestamp> = (0..config.complaints)
        .map(|_| {
            let target = rng.unit() * total;
            let day = cumulative.partition_point(|c| *c <= target).min(cumulative.len() - 1) as i64;
            let hour = rng.weighted_index(&HOURS) as i64;
            let local = day * DAY + hour * HOUR + rng.range(0, HOUR - 1);
            config.start.plus_seconds(local - 8 * HOUR).clamp(earliest, latest.max(earliest))
        })
        .collect();
    times.sort_unstable();
    times
}

/// Someone who complains: their number (the id is `K-<10,000 + number>`), the language they write in, their
/// city and tier. Small and without heap parts: a million-complaint demo holds 400,000 of them.
pub(super) struct Customer {
    number: usize,
    pub lang: Lang,
    pub city: &'static str,
    pub key: bool,
    pub tier: Option<CustomerTier>,
}

impl Customer {
    /// The customer id the complaints carry.
    pub fn id(&self) -> String {
        format!("K-{}", 10_000 + self.number)
    }
}

/// Every customer, and who filed each complaint.
pub(super) struct Customers {
    pub list: Vec<Customer>,
    /// The customer of each complaint (an index into `list`), in arrival order.
    pub assignment: Vec<usize>,
}

impl Customers {
    /// About two customers per five complaints. Every customer complains at least once; the remaining
    /// complaints go to customers with weight 1/√rank (a long tail), key customers weighing more.
    pub(super) fn draw(config: &DemoConfig) -> Customers {
        let mut rng = Rng::derive(config.seed, RNG_CUSTOMERS, 0);
        let count = if config.complaints == 0 { 0 } else { (config.complaints * 2 / 5).max(1) };
        let mut numbers: Vec<usize> = (0..count).collect();
        rng.shuffle(&mut numbers);
        let mut list = Vec::with_capacity(count);
        let mut cumulative = Vec::with_capacity(count);
        let mut total = 0.0;
        for (rank, number) in numbers.into_iter().enumerate() {
            // The heaviest complainers are mostly companies with a key-account contract.
            let key = rng.chance(if rank < 20 { 0.6 } else { 0.04 });
            let lang = if key {
                *rng.weighted(&[(Lang::Hans, 75), (Lang::En, 20), (Lang::Hant, 5)])
            } else {
                *rng.weighted(&[(Lang::Hans, 68), (Lang::Hant, 8), (Lang::En, 14), (Lang::Mixed, 10)])
            };
            let city = match lang {
                Lang::Hans | Lang::Mixed => *rng.pick(CITIES_HANS),
                Lang::Hant => *rng.pick(CITIES_HANT),
                Lang::En => *rng.pick(CITIES_EN),
            };
            let tier = if key {
                Some(CustomerTier::Key)
            } else if rng.chance(0.8) {
                Some(CustomerTier::Standard)
            } else {
                None
            };
            list.push(Customer { number, lang, city, key, tier });
            total += (if key { 2.5 } else { 1.0 }) / ((rank + 1) as f64).sqrt();
            cumulative.push(total);
        }
        let mut assignment: Vec<usize> = Vec::with_capacity(config.complaints);
        assignment.extend(0..count);
        for _ in count..config.complaints {
            let target = rng.unit() * total;
            assignment.push(cumulative.partition_point(|c| *c <= target).min(count - 1));
        }
        rng.shuffle(&mut assignment);
        Customers { list, assignment }
    }
}

fn weekday_from_monday(at: Timestamp) -> u8 {
    let seconds = at.unix_nanos().div_euclid(1_000_000_000) + 8 * HOUR;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .expect("demo instants are within years 1677..2262, which time represents")
        .weekday()
        .number_days_from_monday()
}
