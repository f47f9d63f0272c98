//! Runs projections: catch up from the checkpoint, then follow live; save state and checkpoint
//! together; rebuild beside the old state; isolate failures; replay "as of" an instant.

use crate::checkpoints::{CheckpointStore, Saved};
use crate::projection::{Projection, ProjectionError, Query};
use async_trait::async_trait;
use redress_engine::{EventFilter, EventStore, Subscription};
use redress_schemas::{codec, Position, RecordedEvent, Timestamp};
use serde::Serialize;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, RwLock};

/// Events applied under one write lock.
const APPLY_BATCH_EVENTS_MAX: usize = 2_000;
/// Save at least this often while events arrive…
const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// …and after this many events even sooner (bounds the work a crash can cost).
const SAVE_EVENTS_MAX: u64 = 200_000;
/// How often a quiet runner notices it has caught up, or moved past events its filter skips.
const TICK: Duration = Duration::from_millis(100);

/// Which timestamp an "as of" replay cuts the log by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Basis {
    /// Events the store had recorded by then: what the desk knew.
    #[default]
    Recorded,
    /// Events that had happened by then, including those reported late.
    Occurred,
}

/// How a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Health {
    /// Catching up after start; queries wait for `running`.
    Starting,
    Running,
    /// A rebuild from position 0 is catching up; the old state keeps answering.
    Rebuilding,
    /// Stopped at an event it could not apply.
    Failed {
        position: u64,
        error: String,
    },
}

/// One projection's report: `GET /projections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionStatus {
    pub name: &'static str,
    pub version: u32,
    /// The next position it will apply (everything below is in its state).
    pub checkpoint: u64,
    /// Events in the log it has not applied yet.
    pub lag: u64,
    #[serde(flatten)]
    pub health: Health,
}

/// A running projection, whatever its state type.
#[async_trait]
pub trait RunningProjection: Send + Sync {
    fn name(&self) -> &'static str;
    async fn status(&self) -> ProjectionStatus;
    /// Answers from the live state.
    async fn query(&self, query: &Query) -> Result<Value, ProjectionError>;
    /// Rebuilds a fresh state from the log as it stood at `query.as_of` and answers from it.
    async fn replay(&self, basis: Basis, query: &Query) -> Result<Value, ProjectionError>;
    /// Starts a rebuild from position 0 beside the current state.
    fn rebuild(&self);
    /// Waits until everything before `position` is applied (or the projection failed).
    async fn wait_for(&self, position: u64, timeout: Duration) -> bool;
}

struct Slot<S> {
    state: S,
    next: u64,
}

/// Runs one projection `P`.
pub struct Runner<P: Projection> {
    save_every_events: u64,
    projection: Arc<P>,
    store: Arc<dyn EventStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    slot: RwLock<Slot<P::State>>,
    health: Mutex<Health>,
    rebuild: Notify,
    applied: watch::Sender<u64>,
}

fn apply_guarded<P: Projection>(projection: &P, state: &mut P::State, event: &RecordedEvent) -> Result<(), String> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| projection.apply(state, event))) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}"))),
    }
}

impl<P: Projection> Runner<P> {
    /// A runner for `projection` over `store`, saving into `checkpoints`. Call [`Runner::run`] to start.
    pub fn new(projection: P, store: Arc<dyn EventStore>, checkpoints: Arc<dyn CheckpointStore>) -> Arc<Runner<P>> {
        Arc::new(Runner {
            save_every_events: SAVE_EVENTS_MAX,
            projection: Arc::new(projection),
            store,
            checkpoints,
            slot: RwLock::new(Slot { state: P::State::default(), next: 0 }),
            health: Mutex::new(Health::Starting),
            rebuild: Notify::new(),
            applied: watch::channel(0).0,
        })
    }

    fn set_health(&self, health: Health) {
        *self.health.lock().expect("health lock") = health;
    }

    fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    fn filter(&self) -> EventFilter {
        self.projection.event_types().map_or_else(EventFilter::all, EventFilter::types)
    }

    async fn save(&self) -> Result<(), ProjectionError> {
        let saved = {
            let slot = self.slot.read().await;
            Saved {
                version: self.projection.version(),
                next_position: slot.next,
                state: codec::encode_snapshot(&slot.state)?,
            }
        };
        self.checkpoints.save(self.projection.name(), &saved).await
    }

    /// Loads the saved state (or starts from 0 when there is none, or it has another version).
    async fn load(&self) -> Result<(), ProjectionError> {
        let saved = self.checkpoints.load(self.projection.name()).await?;
        let (state, next) = match saved {
            Some(saved) if saved.version == self.projection.version() => {
                (codec::decode_snapshot(&saved.state)?, saved.next_position)
            }
            Some(_) => {
                tracing::info!(projection = self.projection.name(), "version changed: rebuilding from position 0");
                (P::State::default(), 0)
            }
            None => (P::State::default(), 0),
        };
        *self.slot.write().await = Slot { state, next };
        self.applied.send_replace(next);
        Ok(())
    }

    /// Follows the log until `stop` turns true (then saves). Never returns early on a projection
    /// failure: it waits for a rebuild.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if let Err(error) = self.load().await {
            self.set_health(Health::Failed { position: 0, error: error.to_string() });
            return;
        }
        let start = self.slot.read().await.next;
        let mut current = Subscription::new(Arc::clone(&self.store), Position(start), self.filter());
        let mut shadow: Option<(P::State, Subscription)> = None;
        let mut unsaved = 0u64;
        let mut last_save = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        loop {
            let failed = matches!(self.health(), Health::Failed { .. });
            tokio::select! {
                batch = current.next_batch(APPLY_BATCH_EVENTS_MAX), if !failed => {
                    let Ok(batch) = batch else { break };
                    let mut slot = self.slot.write().await;
                    for event in &batch {
                        if let Err(error) = apply_guarded(&*self.projection, &mut slot.state, event) {
                            tracing::error!(projection = self.projection.name(), position = event.position.0, %error, "projection failed");
                            self.set_health(Health::Failed { position: event.position.0, error });
                            break;
                        }
                        slot.next = event.position.0 + 1;
                    }
                    if !matches!(self.health(), Health::Failed { .. }) {
                        slot.next = current.position().0;
                    }
                    let next = slot.next;
                    drop(slot);
                    unsaved += batch.len() as u64;
                    self.applied.send_replace(next);
                    if current.is_live() && self.health() == Health::Starting {
                        self.set_health(Health::Running);
                    }
                    // While catching up, save by count only: a snapshot a second of a large state is
                    // most of a rebuild's cost, and a crash then only re-applies from the last one.
                    let due = unsaved >= self.save_every_events
                        || (current.is_live() && last_save.elapsed() >= SAVE_INTERVAL);
                    if due {
                        if let Err(error) = self.save().await {
                            tracing::warn!(projection = self.projection.name(), %error, "could not save the checkpoint");
                        }
                        unsaved = 0;
                        last_save = Instant::now();
                    }
                }
                batch = async {
                    match shadow.as_mut() {
                        Some((_, subscription)) => subscription.next_batch(APPLY_BATCH_EVENTS_MAX).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Ok(batch) = batch else { break };
                    let (state, subscription) = shadow.as_mut().expect("this branch runs only with a shadow");
                    let mut error_at = None;
                    for event in &batch {
                        if let Err(error) = apply_guarded(&*self.projection, state, event) {
                            error_at = Some((event.position.0, error));
                            break;
                        }
                    }
                    if let Some((position, error)) = error_at {
                        self.set_health(Health::Failed { position, error });
                        shadow = None;
                        continue;
                    }
                    if subscription.is_live() && (failed || subscription.position() >= current.position()) {
                        let (state, subscription) = shadow.take().expect("checked above");
                        let next = subscription.position().0;
                        *self.slot.write().await = Slot { state, next };
                        current = subscription;
                        self.applied.send_replace(next);
                        self.set_health(Health::Running);
                        if let Err(error) = self.save().await {
                            tracing::warn!(projection = self.projection.name(), %error, "could not save the checkpoint");
                        }
                        unsaved = 0;
                        last_save = Instant::now();
                    }
                }
                _ = self.rebuild.notified() => {
                    self.set_health(Health::Rebuilding);
                    shadow = Some((P::State::default(), Subscription::new(Arc::clone(&self.store), Position(0), self.filter())));
                }
                _ = tick.tick(), if !failed => {
                    // The subscription moves past events its filter skips without returning: follow it.
                    let position = current.position().0;
                    let mut slot = self.slot.write().await;
                    if position > slot.next {
                        slot.next = position;
                        self.applied.send_replace(position);
                    }
                    drop(slot);
                    if current.is_live() && self.health() == Health::Starting {
                        self.set_health(Health::Running);
                    }
                    // Caught up and quiet: save what catching up left unsaved.
                    if current.is_live() && unsaved > 0 && last_save.elapsed() >= SAVE_INTERVAL {
                        if let Err(error) = self.save().await {
                            tracing::warn!(projection = self.projection.name(), %error, "could not save the checkpoint");
                        }
                        unsaved = 0;
                        last_save = Instant::now();
                    }
                }
                _ = stop.changed() => break,
            }
        }
        if !matches!(self.health(), Health::Failed { .. }) {
            if let Err(error) = self.save().await {
                tracing::warn!(projection = self.projection.name(), %error, "could not save the checkpoint at stop");
            }
        }
    }
}

#[async_trait]
impl<P: Projection> RunningProjection for Runner<P> {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    async fn status(&self) -> ProjectionStatus {
        let checkpoint = self.slot.read().await.next;
        let head = self.store.head().await.ok().flatten().map_or(0, |h| h.position.0 + 1);
        ProjectionStatus {
            name: self.projection.name(),
            version: self.projection.version(),
            checkpoint,
            lag: head.saturating_sub(checkpoint),
            health: self.health(),
        }
    }

    async fn query(&self, query: &Query) -> Result<Value, ProjectionError> {
        match self.health() {
            Health::Failed { position, error } => {
                return Err(ProjectionError::Failed { name: self.projection.name().into(), position, error })
            }
            Health::Starting => return Err(ProjectionError::Starting(self.projection.name().into())),
            Health::Running | Health::Rebuilding => {}
        }
        let slot = self.slot.read().await;
        self.projection.query(&slot.state, query).await
    }

    async fn replay(&self, basis: Basis, query: &Query) -> Result<Value, ProjectionError> {
        let state = replay_state(&*self.projection, &*self.store, basis, query.as_of).await?;
        self.projection.query(&state, query).await
    }

    fn rebuild(&self) {
        self.rebuild.notify_one();
    }

    async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let reached = tokio::time::timeout_at(deadline, applied.wait_for(|next| *next >= position))
            .await
            .is_ok_and(|r| r.is_ok());
        if matches!(self.health(), Health::Failed { .. }) {
            return true;
        }
        // Reaching the position while starting means the next tick declares it running.
        while self.health() == Health::Starting && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(TICK / 4).await;
        }
        reached && self.health() != Health::Starting
    }
}

/// A fresh state of `projection` from the log as it stood at `as_of`.
pub async fn replay_state<P: Projection>(
    projection: &P,
    store: &dyn EventStore,
    basis: Basis,
    as_of: Timestamp,
) -> Result<P::State, ProjectionError> {
    let filter = projection.event_types().map_or_else(EventFilter::all, EventFilter::types);
    let mut state = P::State::default();
    let mut from = Position(0);
    loop {
        let page = store.read_all(from, 10_000, &filter).await?;
        for event in &page.events {
            match basis {
                // recorded_at never decreases along the log: nothing later can qualify.
                Basis::Recorded if event.recorded_at > as_of => return Ok(state),
                Basis::Occurred if event.occurred_at > as_of => continue,
                _ => {}
            }
            apply_guarded(projection, &mut state, event).map_err(|error| ProjectionError::Failed {
                name: projection.name().into(),
                position: event.position.0,
                error,
            })?;
        }
        match page.next {
            Some(next) => from = Position(next),
            None => return Ok(state),
        }
    }
}

/// Every running projection of a server.
pub struct Projections {
    store: Arc<dyn EventStore>,
    checkpoints: Arc<dyn CheckpointStore>,
    runners: Vec<Arc<dyn RunningProjection>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stop: watch::Sender<bool>,
    save_every_events: u64,
}

impl Projections {
    /// No projections yet; add them with [`Projections::start`].
    pub fn new(store: Arc<dyn EventStore>, checkpoints: Arc<dyn CheckpointStore>) -> Projections {
        Projections {
            store,
            checkpoints,
            runners: Vec::new(),
            tasks: Mutex::new(Vec::new()),
            stop: watch::channel(false).0,
            save_every_events: SAVE_EVENTS_MAX,
        }
    }

    /// Saves checkpoints at least every `events` applied events (default 200,000; and every second).
    /// Smaller means less work re-done after a crash and more snapshot writes.
    pub fn save_every(&mut self, events: u64) -> &mut Self {
        self.save_every_events = events.max(1);
        self
    }

    /// Starts running `projection` (on the current tokio runtime).
    pub fn start<P: Projection>(&mut self, projection: P) -> &mut Self {
        let mut runner = Runner::new(projection, Arc::clone(&self.store), Arc::clone(&self.checkpoints));
        Arc::get_mut(&mut runner).expect("a new runner is not shared yet").save_every_events = self.save_every_events;
        let task = tokio::spawn(Arc::clone(&runner).run(self.stop.subscribe()));
        self.tasks.lock().expect("tasks lock").push(task);
        self.runners.push(runner);
        self
    }

    /// The projection called `name`.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn RunningProjection>, ProjectionError> {
        self.runners.iter().find(|r| r.name() == name).ok_or_else(|| ProjectionError::Unknown(name.to_owned()))
    }

    /// The names, in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.runners.iter().map(|r| r.name()).collect()
    }

    /// Every projection's status.
    pub async fn statuses(&self) -> Vec<ProjectionStatus> {
        let mut out = Vec::with_capacity(self.runners.len());
        for runner in &self.runners {
            out.push(runner.status().await);
        }
        out
    }

    /// Waits until every projection has applied the log up to its current head (or failed).
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        let head = match self.store.head().await {
            Ok(head) => head.map_or(0, |h| h.position.0 + 1),
            Err(_) => return false,
        };
        let mut all = true;
        for runner in &self.runners {
            all &= runner.wait_for(head, timeout).await;
        }
        all
    }

    /// Stops every projection, saving its checkpoint. Queries keep answering from the last state.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            let _ = task.await;
        }
    }
}
