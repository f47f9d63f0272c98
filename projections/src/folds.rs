//! Runs folds: one read of the log feeds every fold that is behind; each fold checkpoints what changed,
//! atomically with its position; a rebuild runs beside the live state and takes over when it has caught
//! up; a view answers from one state at one position and says which; "as of" an earlier instant is a
//! replay of the log up to it.

use crate::fold::{Change, Fold, Key};
use crate::projection::{ProjectionError, Query};
use crate::state_store::{Checkpoint, FoldStore, FoldStores, MemoryFoldStores};
use async_trait::async_trait;
use redress_engine::{EventFilter, EventStore, Subscription};
use redress_schemas::{EventType, Position, RecordedEvent, Timestamp};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, RwLock, Semaphore};

/// Events per page while catching up (one read feeds every fold).
const CATCH_UP_PAGE_EVENTS: usize = 10_000;
/// Events per batch once live.
const LIVE_BATCH_EVENTS_MAX: usize = 2_000;
/// Pages read ahead of the folds (the read overlaps the folding).
const READ_AHEAD_PAGES: usize = 2;
/// Anomalies a fold reports in its status (the newest); the count is kept whole.
const ANOMALIES_KEPT: usize = 20;
/// How often a quiet runner checkpoints what is left unsaved.
const TICK: Duration = Duration::from_millis(250);
/// The longest a query may wait for `min_position`.
pub const WAIT_MS_MAX: u64 = 30_000;
/// How long a query waits for `min_position` when it does not say.
pub const WAIT_MS_DEFAULT: u64 = 2_000;

/// When folds write checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct FoldOptions {
    /// While catching up, a checkpoint every this many events (a crash then re-applies at most that many).
    pub catch_up_checkpoint_events: u64,
    /// Once live, a checkpoint at least this often while events arrive.
    pub live_checkpoint_interval: Duration,
}

impl Default for FoldOptions {
    fn default() -> Self {
        FoldOptions { catch_up_checkpoint_events: 1_000_000, live_checkpoint_interval: Duration::from_secs(1) }
    }
}

/// Which timestamp an "as of" replay cuts the log by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Basis {
    /// Events the store had recorded by then: what the desk knew.
    #[default]
    Recorded,
    /// Events that had happened by then, including those reported late.
    Occurred,
}

/// How a fold is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Health {
    /// Catching up after start; queries wait for `running`.
    Starting,
    Running,
    /// A rebuild from position 0 is catching up; the old state keeps answering.
    Rebuilding,
    /// `apply` panicked: a bug. Queries answer 503 until a rebuild.
    Failed {
        position: u64,
        error: String,
    },
}

/// An event a fold skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnomalyReport {
    pub position: u64,
    pub stream: String,
    pub event_type: &'static str,
    pub message: String,
}

/// One view's report (`GET /projections`): its fold's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    /// The view.
    pub name: &'static str,
    /// The fold that serves it.
    pub fold: &'static str,
    pub version: u32,
    /// The last position applied (`null` before any).
    pub checkpoint: Option<u64>,
    /// The last position written to storage with the state (`null` before any).
    pub saved_checkpoint: Option<u64>,
    /// Events in the log it has not applied yet.
    pub lag: u64,
    #[serde(flatten)]
    pub health: Health,
    /// Events the fold skipped because it could not apply them (the store accepted them: history from an
    /// older store, or an event dated before what it follows in an "as of occurred" replay).
    pub anomalies: u64,
    pub recent_anomalies: Vec<AnomalyReport>,
}

/// A fold, whatever its state type.
#[async_trait]
trait Running: Send + Sync {
    fn views(&self) -> Vec<&'static str>;
    fn types(&self) -> Option<Vec<EventType>>;
    fn next_position(&self) -> u64;
    async fn feed(&self, events: &[RecordedEvent], through: u64, live: bool);
    async fn status(&self, view: &'static str, head_next: u64) -> ProjectionStatus;
    async fn query(&self, view: &str, query: &Query) -> Result<Value, ProjectionError>;
    async fn replay(
        &self,
        store: &dyn EventStore,
        view: &str,
        basis: Basis,
        query: &Query,
    ) -> Result<Value, ProjectionError>;
    fn rebuild(self: Arc<Self>, store: Arc<dyn EventStore>, stop: watch::Receiver<bool>) -> bool;
    async fn wait_for(&self, position: u64, timeout: Duration) -> bool;
    fn last_recorded_at(&self) -> Option<Timestamp>;
}

/// The state a fold answers from, with its position and storage.
struct Live<S> {
    state: S,
    /// The next position to apply: everything before it is in `state`.
    next: u64,
    store: Arc<dyn FoldStore>,
    generation: u64,
    /// Changes taken for a checkpoint whose write failed: written with the next one.
    pending: Vec<Change>,
    /// Events applied since the last checkpoint was taken.
    unsaved: u64,
    last_taken: Instant,
    saved: Option<u64>,
    last_recorded_at: Option<Timestamp>,
}

impl<S> Live<S> {
    /// `state` as opened from `store` (generation `generation`) at its checkpoint `next`.
    fn opened(state: S, store: Arc<dyn FoldStore>, generation: u64, next: u64) -> Live<S> {
        Live {
            state,
            next,
            store,
            generation,
            pending: Vec::new(),
            unsaved: 0,
            last_taken: Instant::now(),
            saved: next.checked_sub(1),
            last_recorded_at: None,
        }
    }
}

struct Runner<F: Fold> {
    fold: Arc<F>,
    /// The fold's event types, asked once (`None`: all).
    types: Option<Vec<EventType>>,
    stores: Arc<dyn FoldStores>,
    options: FoldOptions,
    live: RwLock<Live<F::State>>,
    applied: watch::Sender<u64>,
    health: Mutex<Health>,
    anomalies: Mutex<(u64, VecDeque<AnomalyReport>)>,
    /// Held while a checkpoint is taken and written (at most one per fold, so they land in order). A
    /// periodic save that finds it held skips; the final save at stop waits for it, so no write of a
    /// stopped fold lands after a successor has opened the same storage.
    saving: Arc<tokio::sync::Mutex<()>>,
    rebuilding: AtomicBool,
    caught_up: AtomicBool,
    last_recorded_nanos: AtomicU64,
}

fn apply_guarded<F: Fold>(fold: &F, state: &mut F::State, event: &RecordedEvent) -> Result<Result<(), String>, String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| fold.apply(state, event))) {
        Ok(result) => Ok(result.map_err(|anomaly| anomaly.0)),
        Err(panic) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}"))),
    }
}

/// Keeps the last value of each key (a later change of a key overrides an earlier one).
fn dedup_changes(changes: Vec<Change>) -> Vec<Change> {
    let mut last: HashMap<Key, usize> = HashMap::with_capacity(changes.len());
    for (i, (key, _)) in changes.iter().enumerate() {
        last.insert(key.clone(), i);
    }
    if last.len() == changes.len() {
        return changes;
    }
    changes.into_iter().enumerate().filter(|(i, (key, _))| last.get(key) == Some(i)).map(|(_, c)| c).collect()
}

impl<F: Fold> Runner<F> {
    async fn open(
        fold: F,
        stores: Arc<dyn FoldStores>,
        options: FoldOptions,
    ) -> Result<Arc<Runner<F>>, ProjectionError> {
        let (mut generation, mut store) = stores.current(fold.name()).await?;
        let checkpoint = store.checkpoint().await?;
        let next = match checkpoint {
            Some(c) if c.version == fold.version() => c.next_position,
            Some(_) => {
                tracing::info!(fold = fold.name(), "version changed: rebuilding from position 0");
                generation += 1;
                store = stores.create(fold.name(), generation).await?;
                stores.switch(fold.name(), generation).await?;
                0
            }
            None => 0,
        };
        let state = fold.open(&*store).await?;
        Ok(Arc::new(Runner {
            types: fold.event_types(),
            fold: Arc::new(fold),
            stores,
            options,
            live: RwLock::new(Live::opened(state, store, generation, next)),
            applied: watch::channel(next).0,
            health: Mutex::new(Health::Starting),
            anomalies: Mutex::new((0, VecDeque::new())),
            saving: Arc::new(tokio::sync::Mutex::new(())),
            rebuilding: AtomicBool::new(false),
            caught_up: AtomicBool::new(false),
            last_recorded_nanos: AtomicU64::new(0),
        }))
    }

    fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    fn set_health(&self, health: Health) {
        *self.health.lock().expect("health lock") = health;
    }

    fn admits(&self, event: &RecordedEvent) -> bool {
        self.types.as_ref().is_none_or(|types| types.contains(&event.event_type()))
    }

    fn report(&self, event: &RecordedEvent, message: String) {
        let mut anomalies = self.anomalies.lock().expect("anomalies lock");
        anomalies.0 += 1;
        if anomalies.1.len() == ANOMALIES_KEPT {
            anomalies.1.pop_front();
        }
        tracing::warn!(fold = self.fold.name(), position = event.position.0, %message, "event skipped");
        anomalies.1.push_back(AnomalyReport {
            position: event.position.0,
            stream: event.stream.to_string(),
            event_type: event.event_type().name(),
            message,
        });
    }

    /// Applies `events` (those at or after the state's position that the fold takes) to `live`, after
    /// reading the keys they want. Returns a panic's position and message.
    async fn apply_to(
        fold: &F,
        live: &RwLock<Live<F::State>>,
        events: &[&RecordedEvent],
        through: u64,
        mut on_anomaly: impl FnMut(&RecordedEvent, String),
    ) -> Result<(), (u64, String)> {
        loop {
            let (generation, store, keys) = {
                let guard = live.read().await;
                let mut keys = Vec::new();
                for event in events.iter().filter(|e| e.position.0 >= guard.next) {
                    fold.wanted(&guard.state, event, &mut keys);
                }
                let mut seen = HashSet::with_capacity(keys.len());
                keys.retain(|k| seen.insert(k.clone()));
                (guard.generation, Arc::clone(&guard.store), keys)
            };
            let values = if keys.is_empty() {
                Vec::new()
            } else {
                store.get_many(&keys).await.map_err(|e| (events.first().map_or(0, |e| e.position.0), e.to_string()))?
            };
            let mut guard = live.write().await;
            if guard.generation != generation {
                // A rebuild took over while the keys were read: they belong to the old state.
                continue;
            }
            let live = &mut *guard;
            for (key, value) in keys.into_iter().zip(values) {
                if let Err(error) = fold.provide(&mut live.state, key, value) {
                    return Err((live.next, error.to_string()));
                }
            }
            let start = live.next;
            for event in events.iter().filter(|e| e.position.0 >= start) {
                match apply_guarded(fold, &mut live.state, event) {
                    Ok(Ok(())) => {}
                    Ok(Err(message)) => on_anomaly(event, message),
                    Err(panic) => return Err((event.position.0, panic)),
                }
                live.next = event.position.0 + 1;
                live.unsaved += 1;
                live.last_recorded_at = Some(event.recorded_at);
            }
            live.next = live.next.max(through);
            return Ok(());
        }
    }

    /// Takes the changes for a checkpoint under the lock; writes them without it.
    async fn save(self: &Arc<Self>, force: bool, wait: bool) {
        let saving = if wait {
            Arc::clone(&self.saving).lock_owned().await
        } else {
            match Arc::clone(&self.saving).try_lock_owned() {
                Ok(guard) => guard,
                Err(_) => return,
            }
        };
        let taken = {
            let mut live = self.live.write().await;
            let due = force
                || live.unsaved >= self.options.catch_up_checkpoint_events
                || (self.caught_up.load(Ordering::Acquire)
                    && live.unsaved > 0
                    && live.last_taken.elapsed() >= self.options.live_checkpoint_interval);
            if !due || matches!(self.health(), Health::Failed { .. }) || (live.unsaved == 0 && live.pending.is_empty())
            {
                None
            } else {
                let mut changes = std::mem::take(&mut live.pending);
                match self.fold.take_changes(&mut live.state) {
                    Ok(mut taken) => {
                        changes.append(&mut taken);
                        live.unsaved = 0;
                        live.last_taken = Instant::now();
                        let checkpoint = Checkpoint { version: self.fold.version(), next_position: live.next };
                        Some((dedup_changes(changes), checkpoint, Arc::clone(&live.store), live.generation))
                    }
                    Err(error) => {
                        live.pending = changes;
                        tracing::warn!(fold = self.fold.name(), %error, "cannot encode a checkpoint");
                        None
                    }
                }
            }
        };
        let Some((changes, checkpoint, store, generation)) = taken else {
            return;
        };
        let runner = Arc::clone(self);
        let write = async move {
            let written = store.commit(changes.clone(), checkpoint).await;
            let mut live = runner.live.write().await;
            match written {
                Ok(()) if live.generation == generation => {
                    live.saved = checkpoint.next_position.checked_sub(1);
                    runner.fold.committed(&mut live.state);
                }
                Ok(()) => {}
                Err(error) if live.generation == generation => {
                    tracing::warn!(fold = runner.fold.name(), %error, "could not write the checkpoint; will retry");
                    let mut newer = std::mem::take(&mut live.pending);
                    live.pending = changes;
                    live.pending.append(&mut newer);
                }
                Err(_) => {}
            }
            drop(live);
            drop(saving);
        };
        if wait {
            write.await;
        } else {
            tokio::spawn(write);
        }
    }
}

#[async_trait]
impl<F: Fold> Running for Runner<F> {
    fn views(&self) -> Vec<&'static str> {
        self.fold.views()
    }

    fn types(&self) -> Option<Vec<EventType>> {
        self.fold.event_types()
    }

    fn next_position(&self) -> u64 {
        *self.applied.borrow()
    }

    async fn feed(&self, events: &[RecordedEvent], through: u64, live: bool) {
        if matches!(self.health(), Health::Failed { .. }) {
            return;
        }
        let mine: Vec<&RecordedEvent> = events.iter().filter(|e| self.admits(e)).collect();
        let applied = Self::apply_to(&self.fold, &self.live, &mine, through, |e, m| self.report(e, m)).await;
        if let Err((position, error)) = applied {
            tracing::error!(fold = self.fold.name(), position, %error, "fold failed");
            self.set_health(Health::Failed { position, error });
            return;
        }
        if let Some(last) = events.last() {
            self.last_recorded_nanos.store(last.recorded_at.unix_nanos().max(0) as u64, Ordering::Release);
        }
        let next = self.live.read().await.next;
        self.applied.send_replace(next);
        if live {
            self.caught_up.store(true, Ordering::Release);
            if self.health() == Health::Starting {
                self.set_health(Health::Running);
            }
        }
    }

    async fn status(&self, view: &'static str, head_next: u64) -> ProjectionStatus {
        let (next, saved) = {
            let live = self.live.read().await;
            (live.next, live.saved)
        };
        let (anomalies, recent) = {
            let a = self.anomalies.lock().expect("anomalies lock");
            (a.0, a.1.iter().cloned().collect())
        };
        ProjectionStatus {
            name: view,
            fold: self.fold.name(),
            version: self.fold.version(),
            checkpoint: next.checked_sub(1),
            saved_checkpoint: saved,
            lag: head_next.saturating_sub(next),
            health: self.health(),
            anomalies,
            recent_anomalies: recent,
        }
    }

    async fn query(&self, view: &str, query: &Query) -> Result<Value, ProjectionError> {
        match self.health() {
            Health::Failed { position, error } => {
                return Err(ProjectionError::Failed { name: self.fold.name().into(), position, error })
            }
            Health::Starting => return Err(ProjectionError::Starting(self.fold.name().into())),
            Health::Running | Health::Rebuilding => {}
        }
        let live = self.live.read().await;
        let mut answer = self.fold.query(&live.state, &*live.store, view, query).await?;
        if let Value::Object(map) = &mut answer {
            map.insert("checkpoint".into(), serde_json::json!(live.next.checked_sub(1)));
        }
        Ok(answer)
    }

    async fn replay(
        &self,
        store: &dyn EventStore,
        view: &str,
        basis: Basis,
        query: &Query,
    ) -> Result<Value, ProjectionError> {
        // One replay at a time in the process: `Folds::replay_on` holds the permit.
        let stores = MemoryFoldStores::default();
        let (generation, fold_store) = stores.current(self.fold.name()).await?;
        let state = self.fold.open(&*fold_store).await?;
        let live = RwLock::new(Live::opened(state, fold_store, generation, 0));
        let filter = self.fold.event_types().map_or_else(EventFilter::all, EventFilter::types);
        let mut from = Position(0);
        let mut last_applied = None;
        'read: loop {
            let page = store.read_all(from, CATCH_UP_PAGE_EVENTS, &filter).await?;
            let mut take = Vec::with_capacity(page.events.len());
            let mut stop = false;
            for event in &page.events {
                match basis {
                    // recorded_at never decreases along the log: nothing later can qualify.
                    Basis::Recorded if event.recorded_at > query.as_of => {
                        stop = true;
                        break;
                    }
                    Basis::Occurred if event.occurred_at > query.as_of => continue,
                    _ => take.push(event),
                }
            }
            if let Some(last) = take.last() {
                last_applied = Some(last.position.0);
            }
            Self::apply_to(&self.fold, &live, &take, 0, |_, _| {}).await.map_err(|(position, error)| {
                ProjectionError::Failed { name: self.fold.name().into(), position, error }
            })?;
            // Keep memory bounded in a long replay: write what changed to the replay's own store.
            {
                let mut guard = live.write().await;
                let changes = self.fold.take_changes(&mut guard.state)?;
                let checkpoint = Checkpoint { version: self.fold.version(), next_position: guard.next };
                guard.store.commit(changes, checkpoint).await?;
                let state = &mut guard.state;
                self.fold.committed(state);
            }
            match page.next {
                Some(next) if !stop => from = Position(next),
                _ => break 'read,
            }
        }
        let live = live.read().await;
        let mut answer = self.fold.query(&live.state, &*live.store, view, query).await?;
        if let Value::Object(map) = &mut answer {
            map.insert("checkpoint".into(), serde_json::json!(last_applied));
            map.insert(
                "basis".into(),
                serde_json::json!(match basis {
                    Basis::Recorded => "recorded",
                    Basis::Occurred => "occurred",
                }),
            );
        }
        Ok(answer)
    }

    fn rebuild(self: Arc<Self>, store: Arc<dyn EventStore>, stop: watch::Receiver<bool>) -> bool {
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return false;
        }
        let before = self.health();
        tokio::spawn(async move {
            if let Err(error) = Arc::clone(&self).rebuild_beside(store, stop).await {
                tracing::error!(fold = self.fold.name(), %error, "rebuild failed");
                if matches!(self.health(), Health::Rebuilding) {
                    self.set_health(before);
                }
            }
            self.rebuilding.store(false, Ordering::Release);
        });
        true
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut applied = self.applied.subscribe();
        let reached = tokio::time::timeout_at(deadline, applied.wait_for(|next| *next >= position))
            .await
            .is_ok_and(|r| r.is_ok());
        // Having applied the head while catching up, it turns live with the reader's next page.
        while reached && self.health() == Health::Starting && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reached && self.health() != Health::Starting
    }

    fn last_recorded_at(&self) -> Option<Timestamp> {
        match self.last_recorded_nanos.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(Timestamp::from_unix_nanos(nanos as i64)),
        }
    }
}

impl<F: Fold> Runner<F> {
    /// Folds a fresh state from position 0 into a new generation beside the live one, then takes over.
    async fn rebuild_beside(
        self: Arc<Self>,
        store: Arc<dyn EventStore>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let was_failed = matches!(self.health(), Health::Failed { .. });
        self.set_health(Health::Rebuilding);
        let generation = self.live.read().await.generation + 1;
        let fold_store = self.stores.create(self.fold.name(), generation).await?;
        let state = self.fold.open(&*fold_store).await?;
        let shadow = RwLock::new(Live::opened(state, fold_store, generation, 0));
        let filter = self.fold.event_types().map_or_else(EventFilter::all, EventFilter::types);
        let mut subscription = Subscription::new(Arc::clone(&store), Position(0), filter);
        loop {
            let batch = tokio::select! {
                batch = subscription.next_batch(CATCH_UP_PAGE_EVENTS) => batch?,
                _ = stop.changed() => return Ok(()),
            };
            let events: Vec<&RecordedEvent> = batch.iter().collect();
            let through = subscription.position().0;
            Self::apply_to(&self.fold, &shadow, &events, through, |e, m| self.report(e, m)).await.map_err(
                |(position, error)| ProjectionError::Failed { name: self.fold.name().into(), position, error },
            )?;
            let mut guard = shadow.write().await;
            if guard.unsaved >= self.options.catch_up_checkpoint_events {
                let changes = self.fold.take_changes(&mut guard.state)?;
                let checkpoint = Checkpoint { version: self.fold.version(), next_position: guard.next };
                guard.store.commit(changes, checkpoint).await?;
                guard.unsaved = 0;
                self.fold.committed(&mut guard.state);
            }
            drop(guard);
            if !subscription.is_live() {
                continue;
            }
            // Caught up: take over once at least as far as the live state (or the live one failed).
            let mut live = self.live.write().await;
            {
                let mut shadow = shadow.write().await;
                if shadow.next < live.next && !was_failed {
                    continue;
                }
                let changes = self.fold.take_changes(&mut shadow.state)?;
                let checkpoint = Checkpoint { version: self.fold.version(), next_position: shadow.next };
                shadow.store.commit(changes, checkpoint).await?;
                self.fold.committed(&mut shadow.state);
            }
            let shadow = shadow.into_inner();
            *live = Live {
                saved: shadow.next.checked_sub(1),
                unsaved: 0,
                pending: Vec::new(),
                last_taken: Instant::now(),
                ..shadow
            };
            let next = live.next;
            drop(live);
            self.stores.switch(self.fold.name(), generation).await?;
            self.applied.send_replace(next);
            self.set_health(Health::Running);
            return Ok(());
        }
    }
}

/// Every fold of a server, and the views they serve.
pub struct Folds {
    store: Arc<dyn EventStore>,
    stores: Arc<dyn FoldStores>,
    options: FoldOptions,
    runners: Vec<Arc<dyn Running>>,
    savers: Vec<Arc<dyn Saver>>,
    views: BTreeMap<&'static str, usize>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// One replay at a time across every fold (see [`Folds::replay`]).
    replaying: Arc<Semaphore>,
}

/// The checkpointing half of a runner (needs the `Arc`).
#[async_trait]
trait Saver: Send + Sync {
    async fn save(&self, force: bool, wait: bool);
}

struct SaverOf<F: Fold>(Arc<Runner<F>>);

#[async_trait]
impl<F: Fold> Saver for SaverOf<F> {
    async fn save(&self, force: bool, wait: bool) {
        self.0.save(force, wait).await;
    }
}

impl Folds {
    /// No folds yet: add them with [`Folds::add`], then [`Folds::start`].
    pub fn new(store: Arc<dyn EventStore>, stores: Arc<dyn FoldStores>) -> Folds {
        Folds::with_options(store, stores, FoldOptions::default())
    }

    /// Like [`Folds::new`], checkpointing as `options` say.
    pub fn with_options(store: Arc<dyn EventStore>, stores: Arc<dyn FoldStores>, options: FoldOptions) -> Folds {
        Folds {
            store,
            stores,
            options,
            runners: Vec::new(),
            savers: Vec::new(),
            views: BTreeMap::new(),
            stop: watch::channel(false).0,
            task: Mutex::new(None),
            replaying: Arc::new(Semaphore::new(1)),
        }
    }

    /// Opens `fold` at its checkpoint (reading what it keeps in memory) and registers its views.
    ///
    /// Errors: the fold's storage cannot be read, or a view name is already taken.
    pub async fn add<F: Fold>(&mut self, fold: F) -> Result<&mut Self, ProjectionError> {
        let runner = Runner::open(fold, Arc::clone(&self.stores), self.options).await?;
        let index = self.runners.len();
        for view in runner.views() {
            if self.views.insert(view, index).is_some() {
                return Err(ProjectionError::Setup(format!("two folds serve the view {view:?}")));
            }
        }
        self.savers.push(Arc::new(SaverOf(Arc::clone(&runner))));
        self.runners.push(runner);
        Ok(self)
    }

    /// Starts the one task that reads the log and feeds every fold (on the current tokio runtime).
    pub fn start(&self) {
        let runners = self.runners.clone();
        let savers = self.savers.clone();
        let store = Arc::clone(&self.store);
        let stop = self.stop.subscribe();
        let task = tokio::spawn(feed(store, runners, savers, stop));
        *self.task.lock().expect("task lock") = Some(task);
    }

    fn runner_of(&self, view: &str) -> Result<&Arc<dyn Running>, ProjectionError> {
        self.views.get(view).map(|&i| &self.runners[i]).ok_or_else(|| ProjectionError::Unknown(view.to_owned()))
    }

    /// The view names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.views.keys().copied().collect()
    }

    /// Whether `view` exists.
    pub fn has(&self, view: &str) -> bool {
        self.views.contains_key(view)
    }

    /// Every view's status.
    pub async fn statuses(&self) -> Vec<ProjectionStatus> {
        let head_next = self.head_next().await;
        let mut out = Vec::with_capacity(self.views.len());
        for (&view, &i) in &self.views {
            out.push(self.runners[i].status(view, head_next).await);
        }
        out
    }

    async fn head_next(&self) -> u64 {
        self.store.head().await.ok().flatten().map_or(0, |h| h.position.0 + 1)
    }

    /// Answers `view` from the live state once it has applied `query.min_position` (waiting up to
    /// `query.wait`), or — when `query.as_of` is before the last event the fold has applied — from a
    /// replay of the log as it stood then (what the desk knew: by `recorded_at`).
    ///
    /// Errors: [`ProjectionError::Unknown`], [`ProjectionError::NotCaughtUp`], a bad parameter, a failed fold.
    pub async fn query(&self, view: &str, query: &Query) -> Result<Value, ProjectionError> {
        let runner = self.runner_of(view)?;
        if let Some(position) = query.min_position {
            if !runner.wait_for(position + 1, query.wait).await {
                return Err(ProjectionError::NotCaughtUp {
                    name: view.to_owned(),
                    checkpoint: runner.next_position().checked_sub(1),
                    min_position: position,
                });
            }
        }
        if runner.last_recorded_at().is_some_and(|last| query.as_of < last) {
            return self.replay_on(runner, view, Basis::Recorded, query).await;
        }
        runner.query(view, query).await
    }

    /// `view` rebuilt from the log as it stood at `query.as_of` by `basis`, and answered.
    ///
    /// A replay folds the log up to that instant: seconds per 100k events, with few awaits. So one runs
    /// at a time in the whole process, on the blocking pool (on a runtime worker it would stall every
    /// task queued behind it), and another asked for meanwhile is refused at once with
    /// [`ProjectionError::Busy`] rather than queued: a client that gives up does not stop a replay, and
    /// queued abandoned replays would hold a core for minutes.
    pub async fn replay(&self, view: &str, basis: Basis, query: &Query) -> Result<Value, ProjectionError> {
        self.replay_on(self.runner_of(view)?, view, basis, query).await
    }

    async fn replay_on(
        &self,
        runner: &Arc<dyn Running>,
        view: &str,
        basis: Basis,
        query: &Query,
    ) -> Result<Value, ProjectionError> {
        let Ok(_permit) = Arc::clone(&self.replaying).try_acquire_owned() else {
            return Err(ProjectionError::Busy("another replay (a past as_of) is running; retry".into()));
        };
        let (runner, store, view, query) =
            (Arc::clone(runner), Arc::clone(&self.store), view.to_owned(), query.clone());
        redress_engine::on_blocking_pool(async move { runner.replay(&*store, &view, basis, &query).await })
            .await
            .map_err(|e| ProjectionError::Busy(format!("the replay ended abnormally: {e}")))?
    }

    /// Starts rebuilding the fold that serves `view` from position 0 beside its live state; `false` when
    /// one is already running.
    pub fn rebuild(&self, view: &str) -> Result<bool, ProjectionError> {
        let runner = Arc::clone(self.runner_of(view)?);
        Ok(runner.rebuild(Arc::clone(&self.store), self.stop.subscribe()))
    }

    /// Waits until every fold has applied the log up to its current head (or `timeout` passes).
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        let head_next = self.head_next().await;
        let mut all = true;
        for runner in &self.runners {
            all &= runner.wait_for(head_next, timeout).await;
        }
        all
    }

    /// Stops reading and writes every fold's checkpoint. Queries keep answering from the last state.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The union of the folds' event types (`None`: some fold takes all).
fn union_filter(runners: &[Arc<dyn Running>]) -> EventFilter {
    let mut types: Vec<EventType> = Vec::new();
    for runner in runners {
        match runner.types() {
            None => return EventFilter::all(),
            Some(more) => types.extend(more),
        }
    }
    types.sort_by_key(|t| t.name());
    types.dedup();
    EventFilter::types(types)
}

/// A page of events for the folds: the events, the position every fold may advance to, whether the
/// reader has caught up with the log.
type Feed = (Vec<RecordedEvent>, u64, bool);

/// Reads the log once for every fold: from the position of the one furthest behind, filtered to what
/// any fold takes, a page ahead of the folds.
async fn read_ahead(store: Arc<dyn EventStore>, from: u64, filter: EventFilter, out: mpsc::Sender<Feed>) {
    let mut next = from;
    // Catch up with large filtered pages (PostgreSQL filters in the query; sled skips the payloads).
    loop {
        let head_next = match store.head().await {
            Ok(head) => head.map_or(0, |h| h.position.0 + 1),
            Err(_) => break,
        };
        if next >= head_next {
            break;
        }
        let page = match store.read_all(Position(next), CATCH_UP_PAGE_EVENTS, &filter).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading the log for the folds failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let through = match page.next {
            Some(n) => n,
            None => head_next.max(page.events.last().map_or(0, |e| e.position.0 + 1)),
        };
        next = through;
        if out.send((page.events, through, false)).await.is_err() {
            return;
        }
    }
    // Caught up with the log as it stood: the folds are live from here.
    if out.send((Vec::new(), next, true)).await.is_err() {
        return;
    }
    let mut subscription = Subscription::new(store, Position(next), filter);
    loop {
        let batch = match subscription.next_batch(LIVE_BATCH_EVENTS_MAX).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "the folds' subscription ended");
                return;
            }
        };
        let through = subscription.position().0;
        let live = subscription.is_live();
        if out.send((batch, through, live)).await.is_err() {
            return;
        }
    }
}

/// Feeds one page to every fold, the folds on their own tasks so that two folds apply on two cores
/// (each fold still applies its events in order, under its own lock).
async fn feed_all(runners: &[Arc<dyn Running>], events: Vec<RecordedEvent>, through: u64, live: bool) {
    if let [runner] = runners {
        runner.feed(&events, through, live).await;
        return;
    }
    let events = Arc::new(events);
    let tasks: Vec<_> = runners
        .iter()
        .map(|runner| {
            let (runner, events) = (Arc::clone(runner), Arc::clone(&events));
            tokio::spawn(async move { runner.feed(&events, through, live).await })
        })
        .collect();
    for task in tasks {
        if let Err(error) = task.await {
            // `feed` catches a fold's panic and marks the fold failed; this is a bug in the runner.
            tracing::error!(%error, "a fold's feed task ended abnormally");
        }
    }
}

async fn feed(
    store: Arc<dyn EventStore>,
    runners: Vec<Arc<dyn Running>>,
    savers: Vec<Arc<dyn Saver>>,
    mut stop: watch::Receiver<bool>,
) {
    if runners.is_empty() {
        return;
    }
    let from = runners.iter().map(|r| r.next_position()).min().unwrap_or(0);
    let (tx, mut rx) = mpsc::channel(READ_AHEAD_PAGES);
    let reader = tokio::spawn(read_ahead(store, from, union_filter(&runners), tx));
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            page = rx.recv() => {
                let Some((events, through, live)) = page else { break };
                feed_all(&runners, events, through, live).await;
                for saver in &savers {
                    saver.save(false, false).await;
                }
                // A page folds without awaiting: let the worker serve the tasks queued behind it
                // before the next (a catch-up or rebuild is many pages).
                tokio::task::yield_now().await;
            }
            _ = tick.tick() => {
                for saver in &savers {
                    saver.save(false, false).await;
                }
            }
            _ = stop.changed() => break,
        }
    }
    reader.abort();
    for saver in &savers {
        saver.save(true, true).await;
    }
}
