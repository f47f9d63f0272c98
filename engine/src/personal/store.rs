//! [`ShreddableStore`]: any [`EventStore`] with personal data sealed on the way in, opened on the way out.

use super::{seal_event, KeyId, KeyState, KeyTable, OpeningKey, SealError, Sealed, SEALED_PREFIX};
use crate::error::StoreError;
use crate::lifecycle::LifecycleViolation;
use crate::store::{
    AppendOutcome, CommittedBatch, Direction, EventFilter, EventStore, ExpectedVersion, Head, Page, StoreHealth,
};
use async_trait::async_trait;
use redress_schemas::{
    CustomerDataErased, EventData, EventId, InvalidEvent, Metadata, Position, ProposedEvent, RecordedEvent, StreamKind,
    StreamName, WrittenEvent, ERASED_TEXT,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// Complaint streams whose customer the store remembers (to seal events after `complaint_received`
/// without reading the stream); beyond it the memory starts again empty.
pub const STREAM_CUSTOMERS_MAX: usize = 65_536;

/// An event store whose personal data can be erased: it seals the personal texts of every complaint
/// event with its customer's key before the inner store sees them (so the inner store, its hash chain,
/// its exports and its replicas hold only ciphertext), and opens them on every read and live batch.
/// After [`ShreddableStore::erase`] those texts read as `"[erased]"` and `complaint_received`'s
/// `customer_id` as the customer's pseudonym ([`KeyId::pseudonym`]).
///
/// `read_written` (verify, export) and `import` pass through untouched: they deal in the stored form.
/// Texts stored before sealing (plain) read as they are and cannot be erased.
pub struct ShreddableStore {
    inner: Arc<dyn EventStore>,
    opener: Opener,
    customers: Mutex<HashMap<StreamName, String>>,
}

/// Opens sealed texts; shared with the task that forwards live batches.
#[derive(Clone)]
struct Opener {
    keys: Arc<dyn KeyTable>,
}

fn forged(position: Position, error: SealError) -> StoreError {
    StoreError::Corruption { position, reason: error.to_string() }
}

impl Opener {
    /// Replaces the sealed texts of `events` by their plain text, or by `"[erased]"` (and the customer
    /// id by its pseudonym) where the key is gone.
    async fn open_events(&self, events: &mut [RecordedEvent]) -> Result<(), StoreError> {
        let keys = self.keys_of(events).await?;
        open_all(events, &keys)
    }

    /// The keys the sealed texts of `events` name, looked up and their ciphers set up once for all the
    /// events (`None`: erased, or absent from the table).
    async fn keys_of(&self, events: &mut [RecordedEvent]) -> Result<OpeningKeys, StoreError> {
        let mut keys: OpeningKeys = HashMap::new();
        for event in events.iter_mut().filter(|e| e.stream.kind().0 == StreamKind::Complaint) {
            for (_, text) in event.data.personal_texts_mut() {
                if let Some(sealed) = Sealed::parse(text).map_err(|e| forged(event.position, e))? {
                    if !keys.contains_key(sealed.key_id()) {
                        let key_id = KeyId::parse(sealed.key_id()).expect("a parsed sealed text names a key id");
                        keys.insert(key_id, None);
                    }
                }
            }
        }
        if keys.is_empty() {
            return Ok(keys);
        }
        let wanted: Vec<KeyId> = keys.keys().cloned().collect();
        for (key_id, state) in self.keys.keys(&wanted).await? {
            if let KeyState::Live(key) = state {
                keys.insert(key_id, Some(OpeningKey::new(key)));
            }
        }
        Ok(keys)
    }

    async fn open_page(&self, mut page: Page<RecordedEvent>) -> Result<Page<RecordedEvent>, StoreError> {
        self.open_events(&mut page.events).await?;
        Ok(page)
    }

    /// `read_all` of every type, `limit` events from `from`, read from `inner` in chunks of
    /// [`OPEN_CHUNK_EVENTS`]: each chunk is opened on the blocking pool while the next is read, so on a
    /// machine with a spare core a long read costs about what the inner read costs (BENCHMARKS.md,
    /// "Crypto-shredding"). The result is the page one inner read of `limit` would give, opened: at most
    /// `limit` events, in order, and the `next` of the last chunk. (Unfiltered only: a filtered inner
    /// read may scan far more events than it returns, and chunks would multiply that bound.)
    async fn read_all_ahead(
        &self,
        inner: &dyn EventStore,
        mut from: Position,
        limit: usize,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let filter = &EventFilter::all();
        let mut events = Vec::with_capacity(limit.min(crate::limits::READ_EVENTS_MAX));
        let mut opening: Option<tokio::task::JoinHandle<Result<Vec<RecordedEvent>, StoreError>>> = None;
        let mut asked = 0;
        let next = loop {
            let chunk_limit = (limit - asked).min(OPEN_CHUNK_EVENTS);
            asked += chunk_limit;
            let mut chunk = inner.read_all(from, chunk_limit, filter).await?;
            let keys = self.keys_of(&mut chunk.events).await?;
            let mut sealed = std::mem::take(&mut chunk.events);
            let got = sealed.len();
            let opened = tokio::task::spawn_blocking(move || open_all(&mut sealed, &keys).map(|()| sealed));
            if let Some(earlier) = opening.replace(opened) {
                events.extend(joined(earlier).await?);
            }
            match chunk.next {
                // A short chunk: the inner read reached the head of the log.
                Some(next) if asked < limit && got == chunk_limit => from = Position(next),
                next => break next,
            }
        };
        if let Some(last) = opening {
            events.extend(joined(last).await?);
        }
        Ok(Page { events, next })
    }
}

/// Events of one `read_all` chunk: above this, a sealed store opens one chunk while it reads the next.
pub const OPEN_CHUNK_EVENTS: usize = 1_000;

/// The keys of a page of events: key id → its cipher (`None`: erased or absent).
type OpeningKeys = HashMap<KeyId, Option<OpeningKey>>;

async fn joined(
    handle: tokio::task::JoinHandle<Result<Vec<RecordedEvent>, StoreError>>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    handle.await.map_err(|e| StoreError::Io(format!("opening a page of sealed texts: {e}")))?
}

/// Opens the texts of every event of `events` with `keys`.
fn open_all(events: &mut [RecordedEvent], keys: &OpeningKeys) -> Result<(), StoreError> {
    for event in events.iter_mut().filter(|e| e.stream.kind().0 == StreamKind::Complaint) {
        open_event(event, keys)?;
    }
    Ok(())
}

/// Opens the texts of `event` with `keys` (`None`: erased or absent).
fn open_event(event: &mut RecordedEvent, keys: &OpeningKeys) -> Result<(), StoreError> {
    let (event_id, position) = (event.event_id, event.position);
    let mut erased: Option<KeyId> = None;
    for (field, text) in event.data.personal_texts_mut() {
        let Some(sealed) = Sealed::parse(text).map_err(|e| forged(position, e))? else { continue };
        match keys.get(sealed.key_id()) {
            Some(Some(key)) => *text = key.open(&sealed, &event_id, field).map_err(|e| forged(position, e))?,
            Some(None) | None => {
                erased = KeyId::parse(sealed.key_id());
                ERASED_TEXT.clone_into(text);
            }
        }
    }
    if let (Some(key_id), Some(customer_id)) = (erased, event.data.customer_id_mut()) {
        *customer_id = key_id.pseudonym();
    }
    Ok(())
}

impl ShreddableStore {
    /// `inner` with its personal data sealed by the keys of `keys`.
    pub fn new(inner: Arc<dyn EventStore>, keys: Arc<dyn KeyTable>) -> ShreddableStore {
        ShreddableStore { inner, opener: Opener { keys }, customers: Mutex::new(HashMap::new()) }
    }

    /// The key table (for `redress export --keys` and imports of keys).
    pub fn keys(&self) -> &Arc<dyn KeyTable> {
        &self.opener.keys
    }

    /// Erases `customer_id`'s personal data: destroys their key, then appends `customer_data_erased` to
    /// `customer-<customer_id>`. Refusals, nothing destroyed or written: [`StoreError::UnknownCustomer`]
    /// (no key was ever made for them), [`StoreError::Lifecycle`] with
    /// [`LifecycleViolation::CustomerAlreadyErased`] (a second erasure), and the append's own.
    pub async fn erase(
        &self,
        customer_id: &str,
        requested_by: &str,
        legal_basis: &str,
        metadata: Metadata,
        recorded_by: redress_schemas::RecordedBy,
    ) -> Result<AppendOutcome, StoreError> {
        let stream = StreamName::customer(customer_id)?;
        let data = EventData::CustomerDataErased(CustomerDataErased {
            customer_id: customer_id.to_owned(),
            requested_by: requested_by.to_owned(),
            legal_basis: legal_basis.to_owned(),
        });
        let mut event = ProposedEvent::new(data).recorded_by(recorded_by);
        event.metadata = metadata;
        redress_schemas::validate_values(&event.data).map_err(|error| StoreError::InvalidEvent { index: 0, error })?;
        self.append(&stream, ExpectedVersion::Any, vec![event]).await
    }

    /// The customer of a complaint stream, from its `complaint_received` (`None`: no such stream).
    async fn customer_of(&self, stream: &StreamName) -> Result<Option<String>, StoreError> {
        if let Some(customer) = self.customers.lock().unwrap_or_else(PoisonError::into_inner).get(stream) {
            return Ok(Some(customer.clone()));
        }
        let page = self.inner.read_stream(stream, 0, Direction::Forward, 1).await?;
        let Some(customer) = page.events.first().and_then(|first| first.data.customer_id()).map(str::to_owned) else {
            return Ok(None);
        };
        self.remember_customer(stream, &customer);
        Ok(Some(customer))
    }

    fn remember_customer(&self, stream: &StreamName, customer: &str) {
        let mut customers = self.customers.lock().unwrap_or_else(PoisonError::into_inner);
        if customers.len() >= STREAM_CUSTOMERS_MAX {
            customers.clear();
        }
        customers.insert(stream.clone(), customer.to_owned());
    }

    /// Seals the personal texts of an append to a complaint stream with its customer's key (made on
    /// the customer's first event). Every event gets its id here: the id is part of the seal.
    async fn seal_append(&self, stream: &StreamName, events: &mut [ProposedEvent]) -> Result<(), StoreError> {
        let mut customer: Option<String> = None;
        for (index, event) in events.iter_mut().enumerate() {
            if let Some((field, _)) =
                event.data.personal_texts_mut().into_iter().find(|(_, t)| t.starts_with(SEALED_PREFIX))
            {
                let error = InvalidEvent::Field {
                    field: format!("data.{field}"),
                    reason: format!("must not start with {SEALED_PREFIX:?}, the store's form of a sealed text"),
                };
                return Err(StoreError::InvalidEvent { index, error });
            }
            if let Some(named) = event.data.customer_id() {
                customer = Some(named.to_owned());
            }
            if event.data.personal_texts_mut().is_empty() {
                continue;
            }
            let customer_id = match &customer {
                Some(customer_id) => customer_id.clone(),
                None => match self.customer_of(stream).await? {
                    Some(customer_id) => customer.insert(customer_id).clone(),
                    // Refused here, not left to the writer: a complaint_received racing this append could
                    // otherwise let these texts in unsealed.
                    None => {
                        let event_type = event.data.event_type();
                        return Err(StoreError::Lifecycle {
                            stream: stream.clone(),
                            index,
                            event_type: event_type.name(),
                            violation: LifecycleViolation::NotReceived { event_type },
                        });
                    }
                },
            };
            let key = self.opener.keys.key_or_create(&customer_id).await?;
            let event_id = *event.event_id.get_or_insert_with(EventId::new_v7);
            seal_event(&mut event.data, &key, &KeyId::of_customer(&customer_id), &event_id);
        }
        Ok(())
    }

    /// Before `customer_data_erased` is appended to a stream that has none: destroys the key. Key first,
    /// record second: a crash between them leaves an erased customer without its record (the retry
    /// appends it), never a record of an erasure that did not happen.
    async fn destroy_before_record(&self, stream: &StreamName, events: &[ProposedEvent]) -> Result<(), StoreError> {
        let [ProposedEvent { data: EventData::CustomerDataErased(erased), .. }] = events else {
            return Ok(()); // anything else on a customer stream is refused by the inner store's rules
        };
        if stream.kind().1 != erased.customer_id || self.inner.stream_version(stream).await?.is_some() {
            // Not this customer's stream, or erased before: the inner store refuses it (or answers a
            // retry with the first result); no key is touched a second time.
            return Ok(());
        }
        let key_id = KeyId::of_customer(&erased.customer_id);
        match self.opener.keys.key(&key_id).await? {
            KeyState::Absent => Err(StoreError::UnknownCustomer { customer_id: erased.customer_id.clone() }),
            KeyState::Live(_) | KeyState::Erased => {
                self.opener.keys.destroy(&key_id).await?;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl EventStore for ShreddableStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        mut events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        match stream.kind().0 {
            StreamKind::Complaint => self.seal_append(stream, &mut events).await?,
            StreamKind::Customer => self.destroy_before_record(stream, &events).await?,
            StreamKind::StandardAnswer | StreamKind::Problem | StreamKind::Other => {}
        }
        let outcome = self.inner.append(stream, expected, events).await?;
        Ok(outcome)
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        self.opener.open_page(self.inner.read_stream(stream, from, direction, limit).await?).await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        if limit <= OPEN_CHUNK_EVENTS || filter.event_types.is_some() {
            return self.opener.open_page(self.inner.read_all(from, limit, filter).await?).await;
        }
        self.opener.read_all_ahead(self.inner.as_ref(), from, limit).await
    }

    async fn read_written(&self, from: Position, limit: usize) -> Result<Page<WrittenEvent>, StoreError> {
        self.inner.read_written(from, limit).await
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        self.inner.stream_version(stream).await
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head().await
    }

    async fn import(&self, events: Vec<WrittenEvent>) -> Result<(), StoreError> {
        self.inner.import(events).await
    }

    async fn save_checkpoint(&self, checkpoint: &crate::Checkpoint) -> Result<crate::Checkpoint, StoreError> {
        self.inner.save_checkpoint(checkpoint).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<crate::Checkpoint>, StoreError> {
        self.inner.latest_checkpoint().await
    }

    /// The inner store's live batches, opened by a forwarding task. A batch the task could not keep up
    /// with is skipped: subscribers see the gap by position and read it from the log
    /// ([`crate::Subscription`]), as after any lag.
    fn live(&self) -> broadcast::Receiver<CommittedBatch> {
        let (sender, receiver) = broadcast::channel(crate::limits::SUBSCRIPTION_QUEUE_BATCHES_MAX);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return receiver; // no runtime, no live feed: the receiver reports Closed
        };
        let mut source = self.inner.live();
        let opener = self.opener.clone();
        runtime.spawn(async move {
            loop {
                let batch = match source.recv().await {
                    Ok(batch) => batch,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let mut opened = batch.to_vec();
                if let Err(error) = opener.open_events(&mut opened).await {
                    // Ending the feed sends subscribers to the log, whose read reports the error.
                    tracing::error!(%error, "a live batch does not open; ending the live feed");
                    return;
                }
                if sender.send(opened.into()).is_err() {
                    return; // every receiver is gone
                }
            }
        });
        receiver
    }

    fn health(&self) -> StoreHealth {
        self.inner.health()
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileKeyTable, SledStore};
    use redress_schemas::RecordedBy;
    use serde_json::json;

    fn complaint(stream: &StreamName, customer: &str, notes: usize) -> Vec<ProposedEvent> {
        let id = stream.as_str().strip_prefix("complaint-").expect("a complaint stream");
        let received = json!({"event_type": "complaint_received", "data": {
            "complaint_id": id, "customer_id": customer, "channel": "hotline", "category": "delivery",
            "severity": "high", "description": format!("MARKER description of {id}")}});
        let mut events = vec![ProposedEvent::from_json(received, stream).expect("valid")];
        for n in 0..notes {
            let note = json!({"event_type": "progress_updated", "data": {
                "note": format!("MARKER note {n} of {id}"), "customer_informed": true}});
            events.push(ProposedEvent::from_json(note, stream).expect("valid"));
        }
        events
    }

    /// A read of more than one chunk is read ahead and opened on the blocking pool: it must give exactly
    /// the page small reads give, opened (and erased where the key is gone), with the same `next`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_read_opened_ahead_in_chunks_equals_short_reads_and_erases_what_it_must() {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner: Arc<dyn EventStore> = Arc::new(SledStore::open(dir.path().join("log")).expect("open sled"));
        let keys = Arc::new(FileKeyTable::open(&dir.path().join("keys")).expect("open keys"));
        let store = ShreddableStore::new(inner, keys);
        for c in 0..7 {
            let stream = StreamName::new(format!("complaint-C-{c}")).expect("valid");
            let events = complaint(&stream, &format!("K-{}", c % 3), 499);
            store.append(&stream, ExpectedVersion::NoStream, events).await.expect("append");
        }
        store.erase("K-1", "dpo", "GDPR Art. 17", Metadata::default(), RecordedBy::local("test")).await.expect("erase");
        let total = 7 * 500 + 1;

        let mut small = Vec::new();
        let mut from = Position(0);
        loop {
            let page = store.read_all(from, OPEN_CHUNK_EVENTS, &EventFilter::all()).await.expect("short read");
            small.extend(page.events);
            match page.next {
                Some(next) => from = Position(next),
                None => break,
            }
        }
        assert_eq!(small.len(), total);

        for (from, limit) in [(0, 2_500), (1, 10_000), (2_999, 1_001), (3_400, 10_000)] {
            let page = store.read_all(Position(from), limit, &EventFilter::all()).await.expect("long read");
            let want: Vec<RecordedEvent> = small.iter().filter(|e| e.position.0 >= from).take(limit).cloned().collect();
            assert_eq!(page.events, want, "read_all({from}, {limit})");
            let next = if from as usize + limit < total { Some(from + limit as u64) } else { None };
            assert_eq!(page.next, next, "read_all({from}, {limit}).next");
        }
        let texts: Vec<String> = small
            .iter_mut()
            .flat_map(|e| e.data.personal_texts_mut().into_iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
            .collect();
        let erased = texts.iter().filter(|t| t.as_str() == ERASED_TEXT).count();
        assert_eq!(erased, 2 * 500, "complaints 1 and 4 belong to the erased customer");
        assert!(texts.iter().all(|t| t.as_str() == ERASED_TEXT || t.starts_with("MARKER ")), "every other text opens");
        let pseudonyms = small.iter().filter_map(|e| e.data.customer_id()).filter(|c| c.starts_with("erased-")).count();
        assert_eq!(pseudonyms, 2, "the erased customer's receipts read with the pseudonym");
    }
}
