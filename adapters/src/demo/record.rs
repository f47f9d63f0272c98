//! The demo as the store's writer would have recorded it while the year went by: [`Recorder`] turns appends
//! into [`WrittenEvent`]s (positions, versions, `recorded_at`, the hash chain) for [`EventStore::import`].
//!
//! Appending the demo would record every event at the load's instant, so a replay by `recorded_at` of any
//! earlier instant would see nothing. An import keeps the times it is given: each append is recorded when its
//! last event happened (never before the previous append), so "as the desk knew it in June" is June's desk.
//!
//! [`EventStore::import`]: redress_engine::EventStore::import

use super::DemoAppend;
use redress_engine::{chain_hash, ExpectedVersion};
use redress_schemas::{Hash, Position, RecordHeader, Timestamp, WrittenEvent};
use std::time::Duration;

/// The end of the log being built: what the store's writer keeps to place and chain the next event.
#[derive(Debug)]
pub struct Recorder {
    next_position: u64,
    previous: Hash,
    recorded_at: Timestamp,
    scratch: Vec<u8>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            next_position: 0,
            previous: Hash::GENESIS,
            recorded_at: Timestamp::from_unix_nanos(i64::MIN),
            scratch: Vec::new(),
        }
    }
}

impl Recorder {
    /// A recorder for an empty log.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// The position the next recorded event takes.
    pub fn next_position(&self) -> Position {
        Position(self.next_position)
    }

    /// The hash of the last event recorded ([`Hash::GENESIS`] before the first).
    pub fn head_hash(&self) -> Hash {
        self.previous
    }

    /// Builds the events of `append` as the writer would have recorded them and pushes them onto `out`.
    ///
    /// `recorded_at` is the append's latest `occurred_at`, or a nanosecond after the previous append's when that
    /// is later: it never decreases along the log, and no event happened after it was recorded (the store's
    /// "not in the future" rule holds with no skew at all). The stream version comes from `append.expected`
    /// (the demo gives `NoStream` or `Exact`).
    pub fn record(&mut self, append: DemoAppend, out: &mut Vec<WrittenEvent>) {
        let first_version = match append.expected {
            ExpectedVersion::Exact(version) => version + 1,
            ExpectedVersion::NoStream | ExpectedVersion::Any | ExpectedVersion::Exists => 0,
        };
        let last_at = append.events.iter().filter_map(|e| e.occurred_at).max();
        let recorded_at =
            last_at.map_or(self.recorded_at, |at| at.max(self.recorded_at.saturating_add(Duration::from_nanos(1))));
        debug_assert!(recorded_at >= self.recorded_at, "recorded_at never decreases along the log");
        self.recorded_at = recorded_at;
        for (version, event) in (first_version..).zip(append.events) {
            let event_type = event.data.event_type();
            let header = RecordHeader {
                event_id: event.event_id.expect("demo events carry their ids"),
                stream: append.stream.clone(),
                version,
                position: Position(self.next_position),
                event_type,
                schema_version: event_type.schema_version(),
                occurred_at: event.occurred_at.unwrap_or(recorded_at),
                recorded_at,
                recorded_by: event.recorded_by,
                metadata: event.metadata,
                hash: Hash::GENESIS,
            };
            let mut written = WrittenEvent { header, data: event.data.to_json_value() };
            self.scratch.clear();
            written.canonical_content(&mut self.scratch);
            written.header.hash = chain_hash(&self.previous, &self.scratch);
            self.previous = written.header.hash;
            self.next_position += 1;
            out.push(written);
        }
    }
}
