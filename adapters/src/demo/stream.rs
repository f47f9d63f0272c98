//! The demo as a stream: complaints are drawn one at a time in arrival order, and their appends come out in log
//! order (by the first event's `occurred_at`, ties in drawing order) as soon as no complaint still to be drawn
//! can come before them.
//!
//! Holding every drawn append until its time would hold the whole year in progress: a complaint's appends
//! span days to months (a revisit weeks after the close, a repair waiting on parts), so at a million
//! complaints about 470,000 appends (800 MB) would wait at once. Instead only the appends due within
//! [`DRAWN_AHEAD_SECONDS`] are kept; a complaint whose next append is later waits as a [`Redraw`] of a few
//! dozen bytes and is drawn again (drawing is deterministic and costs ~7 µs) when that append comes due.

use super::answers::AnswerBook;
use super::population::{arrival_times, Customers};
use super::problems::Problems;
use super::timeline::{Planned, DAY};
use super::{
    cut_into_appends, draw_complaint, local_date, DemoAppend, DemoConfig, DemoSummary, Tally, REPEAT_WINDOW_SECONDS,
};
use redress_schemas::{CustomerTier, StreamName, Timestamp};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// How far past the instant a complaint is drawn its appends are kept drawn; later ones are drawn again when
/// they come due. A day keeps ~10,000 appends (~17 MB) drawn at a million complaints and draws each complaint
/// about 7.5 times; two days would keep 2.6× the appends for 1.3× fewer draws.
pub(super) const DRAWN_AHEAD_SECONDS: i64 = DAY;

/// An append drawn but not yet yielded, or a complaint to draw again, ordered so that [`BinaryHeap`] (a
/// max-heap) pops the earliest first.
struct Queued {
    /// `occurred_at` of the append's first event (of a redraw: of the first append it will yield).
    at: Timestamp,
    /// Drawing order: breaks ties in `at` as the sort of the whole demo did (the answers first, then the
    /// complaints in arrival order, each stream's appends in version order).
    seq: u64,
    item: Item,
}

enum Item {
    /// Boxed so that the heap moves small entries.
    Append(Box<DemoAppend>),
    Redraw(Redraw),
}

/// A complaint drawn before whose appends from `skip` on were let go: what draws it again exactly as before.
#[derive(Clone, Copy)]
struct Redraw {
    /// The complaint's index in arrival order (it seeds the complaint's draws).
    index: usize,
    /// The stream's index (it seeds the event ids).
    stream: u64,
    /// The theme of the customer's previous complaint, if recent ([`NO_THEME`] if not).
    recent: u16,
    /// Its number of the day (in the complaint id).
    number: u32,
    /// The customer's previous complaint if recent: its index in arrival order and number of the day
    /// ([`NO_COMPLAINT`] if none).
    previous: (u32, u32),
    /// The appends before this one were yielded already.
    skip: usize,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What the stream keeps of a customer between their complaints: the repeat-theme rule needs the last one,
/// the summary how many they filed and whether one carried the key tier, a link its id. 24 bytes a customer.
#[derive(Clone, Copy)]
struct CustomerSoFar {
    last_at: Timestamp,
    /// The theme of the last complaint, [`NO_THEME`] before the first.
    last_theme: u16,
    /// The last complaint's index in arrival order and number of the day.
    last_complaint: (u32, u32),
    complaints: u32,
    key: bool,
}

const NO_THEME: u16 = u16::MAX;
const NO_COMPLAINT: (u32, u32) = (u32::MAX, u32::MAX);
const _: () = assert!(super::catalogue::THEMES.len() < NO_THEME as usize, "theme indexes fit below NO_THEME");

/// The demo of [`super::generate`], one append at a time, in the same order: an iterator of [`DemoAppend`].
///
/// Memory: the appends due within a day of the instant they were drawn, and a few dozen bytes
/// for each complaint still in progress (both grow with complaints a day, not with the length of the year:
/// ~10,000 appends and ~96,000 complaints at 2,700 complaints a day, a million over the default year), plus
/// about 35 bytes a complaint for what must be drawn for the whole year up front: the sorted arrival instants,
/// the customers and who filed each complaint (a random permutation), each customer's last complaint.
pub struct DemoStream {
    config: DemoConfig,
    end: Timestamp,
    book: AnswerBook,
    problems: Problems,
    arrivals: Vec<Timestamp>,
    customers: Customers,
    so_far: Vec<CustomerSoFar>,
    /// The local date of the last complaint drawn and how many were received that day (arrivals are sorted,
    /// so a day's complaints are drawn one after the other).
    day: ((i32, u8, u8), u32),
    /// The next complaint to draw, in arrival order.
    next_complaint: usize,
    /// Streams drawn so far (answers first, then complaints): the index seeds each stream's event ids.
    next_stream: u64,
    next_seq: u64,
    queue: BinaryHeap<Queued>,
    queue_peak: usize,
    /// [`DRAWN_AHEAD_SECONDS`], but for tests that compare with other horizons.
    drawn_ahead_seconds: i64,
    tally: Tally,
}

impl DemoStream {
    /// The stream of [`super::stream`], keeping appends drawn up to `drawn_ahead_seconds` ahead (tests compare
    /// horizons: the appends must not depend on it).
    pub(super) fn new(
        config: &DemoConfig,
        answers: &[redress_schemas::StandardAnswerPublished],
        drawn_ahead_seconds: i64,
    ) -> DemoStream {
        let mut book = AnswerBook::plan(config, answers);
        let customers = Customers::draw(config);
        let unseen = CustomerSoFar {
            last_at: config.start,
            last_theme: NO_THEME,
            last_complaint: NO_COMPLAINT,
            complaints: 0,
            key: false,
        };
        let mut stream = DemoStream {
            config: config.clone(),
            end: config.end(),
            arrivals: arrival_times(config),
            so_far: vec![unseen; customers.list.len()],
            customers,
            book: AnswerBook { answers: Vec::new() },
            problems: Problems::plan(config),
            day: ((0, 0, 0), 0),
            next_complaint: 0,
            next_stream: 0,
            next_seq: 0,
            queue: BinaryHeap::new(),
            queue_peak: 0,
            drawn_ahead_seconds,
            tally: Tally::default(),
        };
        // The answers are few: all their appends wait in the queue, a revision months later included.
        for plan in &mut book.answers {
            let index = stream.next_stream;
            stream.next_stream += 1;
            let appends = stream.cut(index, &plan.stream, std::mem::take(&mut plan.events), 0);
            stream.tally.stream(&appends);
            let first_seq = stream.take_seqs(appends.len());
            for (seq, append) in (first_seq..).zip(appends) {
                let at = append.first_at().expect("demo events carry occurred_at");
                stream.push(at, seq, Item::Append(Box::new(append)));
            }
        }
        stream.book = book;
        // So are the problems: a handful of streams of a few events each.
        for (name, events) in stream.problems.histories() {
            let index = stream.next_stream;
            stream.next_stream += 1;
            let appends = stream.cut(index, &name, events, 0);
            stream.tally.stream(&appends);
            let first_seq = stream.take_seqs(appends.len());
            for (seq, append) in (first_seq..).zip(appends) {
                let at = append.first_at().expect("demo events carry occurred_at");
                stream.push(at, seq, Item::Append(Box::new(append)));
            }
        }
        stream
    }

    /// What the appends drawn so far hold, as [`super::summarize`] counts it: once the stream is exhausted,
    /// the summary of everything it yielded (`already_present` is 0; only a load sets it).
    pub fn summary(&self) -> DemoSummary {
        let customers = self.so_far.iter().filter(|c| c.complaints > 0).map(|c| (c.complaints as usize, c.key));
        self.tally.summary(customers)
    }

    /// The most entries held at once so far (appends drawn ahead, complaints waiting to be drawn again): what
    /// bounds the stream's memory beyond the per-complaint arrays.
    pub fn queued_peak(&self) -> usize {
        self.queue_peak
    }

    /// Draws complaint `index` (the next in arrival order) for the first time: counts it and queues its appends.
    fn draw_first(&mut self, index: usize) {
        let received_at = self.arrivals[index];
        let customer_index = self.customers.assignment[index];
        let so_far = self.so_far[customer_index];
        let window = REPEAT_WINDOW_SECONDS * 1_000_000_000;
        let (recent, previous) =
            if so_far.last_theme != NO_THEME && received_at.unix_nanos() - so_far.last_at.unix_nanos() <= window {
                (so_far.last_theme, so_far.last_complaint)
            } else {
                (NO_THEME, NO_COMPLAINT)
            };
        let date = local_date(received_at);
        self.day = if self.day.0 == date { (date, self.day.1 + 1) } else { (date, 1) };
        let redraw = Redraw { index, stream: self.next_stream, recent, number: self.day.1, previous, skip: 0 };
        self.next_stream += 1;
        let (stream, planned, theme) = self.draw(&redraw);
        let appends = self.cut(redraw.stream, &stream, planned, 0);
        let state = self.tally.stream(&appends);
        let first_seq = self.take_seqs(appends.len());
        self.keep_due(appends, first_seq, redraw, received_at);

        let so_far = &mut self.so_far[customer_index];
        so_far.last_at = received_at;
        so_far.last_theme = u16::try_from(theme).expect("theme indexes are below NO_THEME (asserted at compile time)");
        so_far.last_complaint = (u32::try_from(index).expect("fewer than 4 billion complaints"), redraw.number);
        if let Some(complaint) = state.complaint() {
            so_far.complaints = so_far.complaints.saturating_add(1);
            so_far.key |= complaint.customer_tier == Some(CustomerTier::Key);
        }
        self.next_complaint = index + 1;
    }

    /// Draws a complaint again for its appends from `redraw.skip` on, now that the first of them is due at `at`
    /// with sequence number `seq`.
    fn draw_again(&mut self, redraw: Redraw, at: Timestamp, seq: u64) {
        let (stream, planned, _) = self.draw(&redraw);
        let appends = self.cut(redraw.stream, &stream, planned, redraw.skip);
        debug_assert_eq!(appends.first().and_then(DemoAppend::first_at), Some(at), "a redraw draws the same appends");
        let first_seq = seq - redraw.skip as u64;
        self.keep_due(appends, first_seq, redraw, at);
    }

    fn draw(&self, redraw: &Redraw) -> (StreamName, Vec<Planned>, usize) {
        let received_at = self.arrivals[redraw.index];
        let date = local_date(received_at);
        let id = complaint_id(date, redraw.number);
        let customer = &self.customers.list[self.customers.assignment[redraw.index]];
        let recent = (redraw.recent != NO_THEME).then_some(usize::from(redraw.recent));
        let previous = (redraw.previous != NO_COMPLAINT).then(|| {
            let at = self.arrivals[redraw.previous.0 as usize];
            (format!("complaint-{}", complaint_id(local_date(at), redraw.previous.1)), at)
        });
        draw_complaint(
            &self.config,
            &self.book,
            &self.problems,
            redraw.index,
            received_at,
            customer,
            recent,
            previous,
            id,
        )
    }

    fn cut(&self, stream_index: u64, stream: &StreamName, planned: Vec<Planned>, from: usize) -> Vec<DemoAppend> {
        cut_into_appends(self.config.seed, stream_index, stream, planned, self.end, from)
    }

    /// Queues the appends (the complaint's from `redraw.skip` on, numbered from `first_seq`) due within
    /// [`DRAWN_AHEAD_SECONDS`] of `now`, and a redraw for the rest.
    fn keep_due(&mut self, appends: Vec<DemoAppend>, first_seq: u64, redraw: Redraw, now: Timestamp) {
        let horizon = now.plus_seconds(self.drawn_ahead_seconds);
        for (offset, append) in appends.into_iter().enumerate() {
            let skip = redraw.skip + offset;
            let seq = first_seq + skip as u64;
            let at = append.first_at().expect("demo events carry occurred_at");
            if at > horizon {
                self.push(at, seq, Item::Redraw(Redraw { skip, ..redraw }));
                return;
            }
            self.push(at, seq, Item::Append(Box::new(append)));
        }
    }

    fn push(&mut self, at: Timestamp, seq: u64, item: Item) {
        self.queue.push(Queued { at, seq, item });
        self.queue_peak = self.queue_peak.max(self.queue.len());
    }

    /// Reserves `count` consecutive sequence numbers; returns the first.
    fn take_seqs(&mut self, count: usize) -> u64 {
        let first = self.next_seq;
        self.next_seq += count as u64;
        first
    }
}

/// The id of the `number`-th complaint received on `date` (China time).
fn complaint_id(date: (i32, u8, u8), number: u32) -> String {
    format!("C-{:04}{:02}{:02}-{:04}", date.0, date.1, date.2, number)
}

impl Iterator for DemoStream {
    type Item = DemoAppend;

    fn next(&mut self) -> Option<DemoAppend> {
        loop {
            // Every complaint still to draw starts at or after its arrival, with a later `seq`: a queued entry
            // at or before the next arrival comes before anything not drawn yet.
            let next_arrival = self.arrivals.get(self.next_complaint).copied();
            let ready = match (self.queue.peek(), next_arrival) {
                (Some(first), Some(arrival)) => first.at <= arrival,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if !ready {
                self.draw_first(self.next_complaint);
                continue;
            }
            let Queued { at, seq, item } = self.queue.pop().expect("peeked above");
            match item {
                Item::Append(append) => return Some(*append),
                Item::Redraw(redraw) => self.draw_again(redraw, at, seq),
            }
        }
    }
}
