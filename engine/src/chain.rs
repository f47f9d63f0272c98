//! The tamper-evident hash chain: `hash(n) = SHA-256(hash(n-1) | canonical(n))`, and its verification
//! over a store or over an exported JSON Lines file.

use crate::error::StoreError;
use crate::store::EventStore;
use redress_schemas::{Hash, Position, WrittenEvent};
use sha2::{Digest, Sha256};
use std::io::BufRead;

/// The hash of an event whose canonical content is `content`, after `previous`.
pub fn chain_hash(previous: &Hash, content: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous.0);
    hasher.update(content);
    Hash(hasher.finalize().into())
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every event checked out; `head` is the last one (`None` for an empty log).
    Intact { events: u64, head: Option<(Position, Hash)> },
    /// The first position that does not check out, and why.
    Broken { position: Position, reason: String },
}

impl Verification {
    /// Whether the chain verified.
    pub fn is_intact(&self) -> bool {
        matches!(self, Verification::Intact { .. })
    }
}

/// Checks events one at a time, in log order: positions gapless from 0, each hash recomputed.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_position: Position,
    previous: Hash,
    scratch: Vec<u8>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_position: Position(0), previous: Hash::GENESIS, scratch: Vec::with_capacity(512) }
    }
}

impl ChainVerifier {
    /// A verifier for the events after a known-good one: the next is at `next_position` and chains
    /// after `previous` (a store checking the tail it recovered after a failed write).
    pub fn continuing(next_position: Position, previous: Hash) -> ChainVerifier {
        ChainVerifier { expected_position: next_position, previous, scratch: Vec::with_capacity(512) }
    }

    /// Checks the next event; `Err((position, reason))` names the first thing wrong.
    pub fn check(&mut self, event: &WrittenEvent) -> Result<(), (Position, String)> {
        let h = &event.header;
        if h.position != self.expected_position {
            return Err((
                self.expected_position,
                format!("expected position {} but found {}", self.expected_position, h.position),
            ));
        }
        self.scratch.clear();
        event.canonical_content(&mut self.scratch);
        let computed = chain_hash(&self.previous, &self.scratch);
        if computed != h.hash {
            return Err((h.position, format!("stored hash {} but the content hashes to {}", h.hash, computed)));
        }
        self.previous = computed;
        self.expected_position = h.position.next();
        Ok(())
    }

    /// The result so far, when nothing failed.
    pub fn finish(&self) -> Verification {
        let events = self.expected_position.0;
        let head = events.checked_sub(1).map(|last| (Position(last), self.previous));
        Verification::Intact { events, head }
    }
}

/// Verifies the whole log of `store`, page by page; `progress` is told the position reached.
pub async fn verify_store(store: &dyn EventStore, mut progress: impl FnMut(u64)) -> Result<Verification, StoreError> {
    const PAGE_EVENTS: usize = 2_000;
    let mut verifier = ChainVerifier::default();
    let mut from = Position(0);
    loop {
        let page = match store.read_written(from, PAGE_EVENTS).await {
            Ok(page) => page,
            Err(StoreError::Codec { position, error }) => {
                return Ok(Verification::Broken { position, reason: error.to_string() })
            }
            Err(StoreError::Corruption { position, reason }) => return Ok(Verification::Broken { position, reason }),
            Err(other) => return Err(other),
        };
        for event in &page.events {
            if let Err((position, reason)) = verifier.check(event) {
                return Ok(Verification::Broken { position, reason });
            }
        }
        progress(verifier.expected_position.0);
        match page.next {
            Some(next) if !page.events.is_empty() => from = Position(next),
            _ => return Ok(verifier.finish()),
        }
    }
}

/// Verifies an export (JSON Lines, one envelope a line) without a store. A line that is not an event
/// fails at the position it should have held.
pub fn verify_export(reader: impl BufRead, progress: impl FnMut(u64)) -> std::io::Result<Verification> {
    verify_export_observing(reader, progress, |_| {})
}

/// [`verify_export`], showing `observe` each event once its hash checked out (a checkpoint looks for
/// the hash at its position).
pub(crate) fn verify_export_observing(
    reader: impl BufRead,
    mut progress: impl FnMut(u64),
    mut observe: impl FnMut(&WrittenEvent),
) -> std::io::Result<Verification> {
    let mut verifier = ChainVerifier::default();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let expected = verifier.expected_position;
        let event = match serde_json::from_str(&line)
            .map_err(|e| e.to_string())
            .and_then(|value| WrittenEvent::from_json(value).map_err(|e| e.to_string()))
        {
            Ok(event) => event,
            Err(reason) => {
                return Ok(Verification::Broken { position: expected, reason: format!("unreadable line: {reason}") })
            }
        };
        if let Err((position, reason)) = verifier.check(&event) {
            return Ok(Verification::Broken { position, reason });
        }
        observe(&event);
        if expected.0 % 10_000 == 0 {
            progress(expected.0);
        }
    }
    Ok(verifier.finish())
}
