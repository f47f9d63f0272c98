//! The key layout. Everything lives in one sled tree, so one `apply_batch` is atomic for all of it:
//!
//! ```text
//! L | position u64 BE                      -> record (codec)             the log, $all order
//! S | stream | 0x00 | version u64 BE       -> position u64 BE            each stream's index
//! I | event id (16 bytes)                  -> IdEntry (40 bytes)         idempotency
//! M                                        -> next position | last hash  the head, written with every batch
//! C | sequence u64 BE                      -> signed checkpoint (144 B)  v1.1, written beside the writer
//! ```
//! Stream names never contain 0x00, so `S | stream | 0x00` prefixes exactly one stream.

use crate::store::AppendResult;
use redress_schemas::{EventId, Hash, Position, StreamName};

pub(crate) const LOG: u8 = b'L';
pub(crate) const HEAD: &[u8] = b"M";
pub(crate) const CHECKPOINT: u8 = b'C';

/// The key of the `sequence`-th signed checkpoint.
pub(crate) fn checkpoint(sequence: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = CHECKPOINT;
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub(crate) fn log(position: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = LOG;
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

pub(crate) fn log_position(key: &[u8]) -> Option<u64> {
    (key.len() == 9 && key[0] == LOG).then(|| u64::from_be_bytes(key[1..].try_into().expect("length checked")))
}

pub(crate) fn stream_prefix(stream: &StreamName) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 10);
    key.push(b'S');
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key
}

pub(crate) fn stream_version(stream: &StreamName, version: u64) -> Vec<u8> {
    let mut key = stream_prefix(stream);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

pub(crate) fn version_of_stream_key(key: &[u8]) -> u64 {
    u64::from_be_bytes(key[key.len() - 8..].try_into().expect("stream keys end with 8 version bytes"))
}

pub(crate) fn event_id(id: &EventId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = b'I';
    key[1..].copy_from_slice(id.as_bytes());
    key
}

pub(crate) fn u64_value(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// What the idempotency index keeps per event id: the event's position and its append's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdEntry {
    pub position: Position,
    pub append: AppendResult,
}

impl IdEntry {
    pub(crate) fn encode(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        for (i, n) in [
            self.position.0,
            self.append.first_position.0,
            self.append.last_position.0,
            self.append.first_version,
            self.append.last_version,
        ]
        .into_iter()
        .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&n.to_be_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<IdEntry> {
        if bytes.len() != 40 {
            return None;
        }
        let n = |i: usize| u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("length checked"));
        Some(IdEntry {
            position: Position(n(0)),
            append: AppendResult {
                first_position: Position(n(1)),
                last_position: Position(n(2)),
                first_version: n(3),
                last_version: n(4),
            },
        })
    }
}

pub(crate) fn head_value(next_position: u64, last_hash: &Hash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&next_position.to_be_bytes());
    out[8..].copy_from_slice(&last_hash.0);
    out
}

pub(crate) fn decode_head(bytes: &[u8]) -> Option<(u64, Hash)> {
    if bytes.len() != 40 {
        return None;
    }
    let next = u64::from_be_bytes(bytes[..8].try_into().expect("length checked"));
    let hash: [u8; 32] = bytes[8..].try_into().expect("length checked");
    Some((next, Hash(hash)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_streams_prefix_never_covers_another_stream() {
        let a = StreamName::new("complaint-1").unwrap();
        let b = StreamName::new("complaint-10").unwrap();
        assert!(!stream_version(&b, 0).starts_with(&stream_prefix(&a)));
        assert!(stream_version(&a, 5).starts_with(&stream_prefix(&a)));
        assert_eq!(version_of_stream_key(&stream_version(&a, 5)), 5);
    }

    #[test]
    fn log_keys_sort_by_position() {
        assert!(log(255) < log(256));
        assert_eq!(log_position(&log(42)), Some(42));
    }

    #[test]
    fn id_entries_round_trip() {
        let e = IdEntry {
            position: Position(9),
            append: AppendResult {
                first_version: 1,
                last_version: 3,
                first_position: Position(7),
                last_position: Position(9),
            },
        };
        assert_eq!(IdEntry::decode(&e.encode()), Some(e));
    }
}
