//! Catch-up then live, with no event missed or repeated at the switch, over any [`EventStore`].
//!
//! The live receiver is taken *before* catching up, so every batch committed after the catch-up read
//! is also in the receiver; events the catch-up already delivered are skipped by position. A subscriber
//! that falls more than [`crate::limits::SUBSCRIPTION_QUEUE_BATCHES_MAX`] batches behind is told it
//! lagged and goes back to reading the log from its next position: writers never wait for readers.

use crate::error::StoreError;
use crate::store::{CommittedBatch, EventFilter, EventStore};
use redress_schemas::{Position, RecordedEvent};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

const CATCH_UP_PAGE_EVENTS: usize = 1_000;

/// A gap-free, duplicate-free feed of `$all` from a position, filtered by event type.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    filter: EventFilter,
    /// The position of the next event this subscription has not yet looked at.
    next: Position,
    ready: VecDeque<RecordedEvent>,
    live: broadcast::Receiver<CommittedBatch>,
    catching_up: bool,
}

impl Subscription {
    /// Starts at `from` (0 = the beginning of the log).
    pub fn new(store: Arc<dyn EventStore>, from: Position, filter: EventFilter) -> Subscription {
        let live = store.live();
        Subscription { store, filter, next: from, ready: VecDeque::new(), live, catching_up: true }
    }

    /// Every event before this position has been delivered or filtered out: a consumer that has
    /// applied what it received may checkpoint here.
    pub fn position(&self) -> Position {
        self.ready.front().map_or(self.next, |event| event.position)
    }

    /// Whether the subscription has caught up with the log, delivered what it read, and follows live.
    pub fn is_live(&self) -> bool {
        !self.catching_up && self.ready.is_empty()
    }

    /// The next event that passes the filter; waits for one when caught up. Fails only if the store
    /// fails or closes.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            if self.catching_up {
                self.catch_up().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => self.take_live(&batch),
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(StoreError::Unavailable("the store closed".into()));
                }
            }
        }
    }

    /// Waits for at least one event, then returns it with every other event already at hand (read but
    /// not delivered, or in the live buffer), up to `max` (≥ 1). Cancel-safe: its only await is for the
    /// first event, so a `select!` that drops it loses nothing.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut batch = vec![self.next().await?];
        while batch.len() < max.max(1) {
            if let Some(event) = self.ready.pop_front() {
                batch.push(event);
            } else if self.catching_up {
                break;
            } else {
                match self.live.try_recv() {
                    Ok(committed) => self.take_live(&committed),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => self.catching_up = true,
                    Err(_) => break,
                }
            }
        }
        Ok(batch)
    }

    async fn catch_up(&mut self) -> Result<(), StoreError> {
        // Unfiltered, so `next` advances past events the filter skips.
        let page = self.store.read_all(self.next, CATCH_UP_PAGE_EVENTS, &EventFilter::all()).await?;
        for event in page.events {
            debug_assert_eq!(event.position, self.next, "the log is gapless");
            self.next = event.position.next();
            if self.filter.admits(event.event_type()) {
                self.ready.push_back(event);
            }
        }
        if page.next.is_none() {
            self.catching_up = false;
        }
        Ok(())
    }

    fn take_live(&mut self, batch: &[RecordedEvent]) {
        for event in batch {
            if event.position < self.next {
                continue; // already delivered by the catch-up
            }
            if event.position > self.next {
                // Committed between our last read and the receiver's first batch: read the log.
                self.catching_up = true;
                return;
            }
            self.next = event.position.next();
            if self.filter.admits(event.event_type()) {
                self.ready.push_back(event.clone());
            }
        }
    }
}
