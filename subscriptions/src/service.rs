//! [`Subscriptions`]: the subscriptions of one server over its event store and its [`Ledgers`] — what
//! the HTTP API and the command line call. It reads the log (never appends), turns the pure ledger's
//! decisions into leases, and runs one webhook delivery task per subscription that has a webhook.

use crate::definition::{check_name, Definition, Start, WebhookHosts};
use crate::error::SubscriptionError;
use crate::ledger::{Change, Outcome};
use crate::limits::*;
use crate::store::{Ledgers, ParkedEvent};
use redress_engine::{EventFilter, EventStore};
use redress_schemas::{Position, RecordedEvent, Timestamp};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How a server runs its subscriptions. Build from the default: it is `non_exhaustive`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Hosts webhooks may name (default: loopback only).
    pub webhook_hosts: WebhookHosts,
    /// How long a fetched event belongs to its fetch (API.md: 30 s).
    pub lease: Duration,
    /// The first wait after a failed webhook delivery; it doubles up to `backoff_max`, with jitter.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long one webhook POST may take before it counts as failed.
    pub webhook_timeout: Duration,
    /// Events per webhook POST (at most [`WEBHOOK_BATCH_EVENTS_MAX`]).
    pub webhook_batch_events: usize,
    /// Whether this service runs webhook delivery tasks ([`Subscriptions::start`], and
    /// [`Subscriptions::put`] of a webhook). A server does; a command that only edits or reads
    /// subscriptions must not: it would POST to receivers for as long as the process lives, beside the
    /// server that owns the deliveries.
    pub webhook_delivery: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            webhook_hosts: WebhookHosts::default(),
            lease: LEASE_DEFAULT,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            webhook_timeout: Duration::from_secs(10),
            webhook_batch_events: WEBHOOK_BATCH_EVENTS_MAX,
            webhook_delivery: true,
        }
    }
}

impl Config {
    /// The same configuration with these webhook hosts.
    pub fn with_webhook_hosts(self, webhook_hosts: WebhookHosts) -> Self {
        Config { webhook_hosts, ..self }
    }

    /// The same configuration with this lease.
    pub fn with_lease(self, lease: Duration) -> Self {
        Config { lease, ..self }
    }

    /// The same configuration without webhook delivery tasks: definitions, status and parked events
    /// only (the command line's `redress subscriptions`).
    pub fn without_webhook_delivery(self) -> Self {
        Config { webhook_delivery: false, ..self }
    }

    /// The same configuration with this webhook backoff.
    pub fn with_backoff(self, backoff_min: Duration, backoff_max: Duration) -> Self {
        Config { backoff_min, backoff_max, ..self }
    }
}

/// One leased event and which delivery of it this is (1 = the first).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: RecordedEvent,
    pub attempt: u32,
}

impl Delivery {
    /// The event's envelope as `/all` gives it, plus `attempt`: what a fetch answers and a webhook posts.
    pub fn to_json(&self) -> Value {
        let mut event = self.event.to_json();
        if let Some(object) = event.as_object_mut() {
            object.insert("attempt".into(), json!(self.attempt));
        }
        event
    }
}

/// What a fetch leased: the events, in position order, held until `lease_until`.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Names this fetch's lease in a nack, so a nack cannot release events a later fetch holds.
    pub lease_id: u64,
    pub lease_until_ms: i64,
    pub events: Vec<Delivery>,
}

/// In-memory delivery figures per subscription (not durable: they describe this server's run).
#[derive(Debug, Default)]
struct Stats {
    last_error: Option<String>,
    /// Append-to-delivery latencies (retried events included), ms (a ring of [`LATENCY_SAMPLES_MAX`]).
    latencies_ms: VecDeque<u64>,
    delivered: u64,
}

/// A subscription's state as `GET /subscriptions/{name}` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub name: String,
    /// The definition without the webhook secret.
    pub definition: Value,
    /// Every event below it was acked, parked or filtered out.
    pub position: u64,
    /// Log events at or after the position.
    pub lag: u64,
    pub in_flight: usize,
    /// Events owed: leased or waiting.
    pub pending: usize,
    pub parked: u64,
    pub last_error: Option<String>,
    /// Events this server delivered by webhook (acked by a 2xx).
    pub delivered: u64,
    /// Append-to-webhook-delivery latency over the last deliveries: (p50, p99, samples), ms.
    pub latency_ms: Option<(u64, u64, usize)>,
}

impl Status {
    /// The JSON of `GET /subscriptions/{name}`.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "position": self.position,
            "lag": self.lag,
            "in_flight": self.in_flight,
            "pending": self.pending,
            "parked": self.parked,
            "last_error": self.last_error,
            "delivered": self.delivered,
            "delivery_latency_ms": self.latency_ms.map(|(p50, p99, samples)| json!({"p50": p50, "p99": p99, "samples": samples})),
        });
        if let (Some(out), Some(definition)) = (value.as_object_mut(), self.definition.as_object()) {
            for (k, v) in definition {
                out.insert(k.clone(), v.clone());
            }
        }
        value
    }
}

/// One metric's value for one subscription: (name, value).
type Series = (String, String);

/// The subscriptions of one server.
#[derive(Clone)]
pub struct Subscriptions {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) ledgers: Arc<dyn Ledgers>,
    pub(crate) config: Config,
    stats: Mutex<HashMap<String, Stats>>,
    tasks: Mutex<HashMap<String, JoinHandle<()>>>,
    lease_ids: AtomicU64,
    pub(crate) client: reqwest::Client,
}

fn now_ms() -> i64 {
    Timestamp::now().unix_nanos() / 1_000_000
}

fn limit(limit: &'static str, max: usize, actual: usize) -> Result<(), SubscriptionError> {
    if actual > max {
        Err(SubscriptionError::LimitExceeded { limit, max, actual })
    } else {
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps hold figures and task handles; a panic elsewhere leaves them usable.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Subscriptions {
    /// The subscriptions kept in `ledgers`, over `store`. Starts no task: call [`Subscriptions::start`] to
    /// begin webhook deliveries (none at all with [`Config::without_webhook_delivery`]).
    pub fn new(
        store: Arc<dyn EventStore>,
        ledgers: Arc<dyn Ledgers>,
        config: Config,
    ) -> Result<Subscriptions, SubscriptionError> {
        let client = reqwest::Client::builder()
            // A redirect would let a receiver send the server anywhere, past the host allow-list.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.webhook_timeout)
            .build()
            .map_err(|e| SubscriptionError::Storage(format!("the webhook client: {e}")))?;
        Ok(Subscriptions {
            inner: Arc::new(Inner {
                store,
                ledgers,
                config,
                stats: Mutex::new(HashMap::new()),
                tasks: Mutex::new(HashMap::new()),
                // Lease ids only need to differ between fetches of one subscription, across servers too.
                lease_ids: AtomicU64::new(redress_schemas::rng::Rng::unseeded().next_u64() >> 1),
                client,
            }),
        })
    }

    /// Starts a delivery task for every stored subscription with a webhook (none without
    /// [`Config::webhook_delivery`]).
    pub async fn start(&self) -> Result<(), SubscriptionError> {
        if !self.inner.config.webhook_delivery {
            return Ok(());
        }
        for name in self.inner.ledgers.names().await? {
            if let Some(stored) = self.inner.ledgers.get(&name).await? {
                if stored.definition.webhook.is_some() {
                    self.spawn_delivery(&name);
                }
            }
        }
        Ok(())
    }

    /// Stops every delivery task. Leases they hold end by themselves; nothing acked is lost.
    pub fn stop(&self) {
        for (_, task) in lock(&self.inner.tasks).drain() {
            task.abort();
        }
    }

    fn spawn_delivery(&self, name: &str) {
        if !self.inner.config.webhook_delivery {
            return;
        }
        let task = tokio::spawn(crate::webhook::deliver(self.clone(), name.to_owned()));
        if let Some(old) = lock(&self.inner.tasks).insert(name.to_owned(), task) {
            old.abort();
        }
    }

    /// Creates or replaces subscription `name` from API.md's JSON body. A new one starts where the
    /// definition says; a replaced one keeps its position, leases and parked events. Returns whether it
    /// was created. Bad input is a typed error and writes nothing.
    pub async fn put(&self, name: &str, body: &Value) -> Result<bool, SubscriptionError> {
        check_name(name)?;
        let definition = Definition::from_json(body, &self.inner.config.webhook_hosts)?;
        let start = match definition.start {
            Start::Beginning => 0,
            Start::Now => self.inner.store.head().await?.map_or(0, |head| head.position.0 + 1),
            Start::Position(position) => position,
        };
        let created = self.inner.ledgers.put(name, &definition, start).await?;
        match definition.webhook {
            Some(_) => self.spawn_delivery(name),
            None => {
                if let Some(task) = lock(&self.inner.tasks).remove(name) {
                    task.abort();
                }
            }
        }
        Ok(created)
    }

    /// Deletes subscription `name`, its ledger and its parked list; whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, SubscriptionError> {
        check_name(name)?;
        if let Some(task) = lock(&self.inner.tasks).remove(name) {
            task.abort();
        }
        lock(&self.inner.stats).remove(name);
        self.inner.ledgers.delete(name).await
    }

    /// Every subscription's name, sorted.
    pub async fn names(&self) -> Result<Vec<String>, SubscriptionError> {
        self.inner.ledgers.names().await
    }

    /// Every subscription's [`Subscriptions::status`], by name; one deleted meanwhile (by another
    /// server, on PostgreSQL) is left out.
    pub async fn statuses(&self) -> Result<Vec<Status>, SubscriptionError> {
        let mut statuses = Vec::new();
        for name in self.names().await? {
            match self.status(&name).await {
                Ok(status) => statuses.push(status),
                Err(SubscriptionError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(statuses)
    }

    /// The subscription's definition (secret left out), position, lag, leases, parked count and
    /// delivery figures.
    pub async fn status(&self, name: &str) -> Result<Status, SubscriptionError> {
        check_name(name)?;
        let stored = self.inner.ledgers.get(name).await?.ok_or_else(|| crate::store::not_found(name))?;
        let head_next = self.inner.store.head().await?.map_or(0, |head| head.position.0 + 1);
        let position = stored.ledger.position();
        let stats = lock(&self.inner.stats);
        let stats = stats.get(name);
        let latency_ms = stats.filter(|s| !s.latencies_ms.is_empty()).map(|s| {
            let mut sorted: Vec<u64> = s.latencies_ms.iter().copied().collect();
            sorted.sort_unstable();
            let at = |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
            (at(0.5), at(0.99), sorted.len())
        });
        Ok(Status {
            name: name.to_owned(),
            definition: stored.definition.public_json(),
            position,
            lag: head_next.saturating_sub(position),
            in_flight: stored.ledger.in_flight(now_ms()),
            pending: stored.ledger.pending.len(),
            parked: stored.ledger.parked_count,
            last_error: stats.and_then(|s| s.last_error.clone()),
            delivered: stats.map_or(0, |s| s.delivered),
            latency_ms,
        })
    }

    /// Leases up to `max` events to the caller for the configured lease, waiting up to `wait` for the
    /// first. Events come lowest position first; an event whose lease ended, or that was nacked, comes
    /// again; one past `max_attempts` is parked instead.
    pub async fn fetch(&self, name: &str, max: usize, wait: Duration) -> Result<Fetched, SubscriptionError> {
        check_name(name)?;
        if max == 0 {
            return Err(SubscriptionError::Invalid { field: "max", reason: "at least 1".into() });
        }
        limit("fetch_events_max", FETCH_EVENTS_MAX, max)?;
        if wait > FETCH_WAIT_MAX {
            return Err(SubscriptionError::Invalid {
                field: "wait_ms",
                reason: format!("at most {}", FETCH_WAIT_MAX.as_millis()),
            });
        }
        self.fetch_leases(name, max, wait, false).await
    }

    pub(crate) async fn fetch_leases(
        &self,
        name: &str,
        max: usize,
        wait: Duration,
        exclusive: bool,
    ) -> Result<Fetched, SubscriptionError> {
        let deadline = Instant::now() + wait;
        // Taken before reading, so an append after the read wakes the wait below.
        let mut live = self.inner.store.live();
        let lease_ms = self.inner.config.lease.as_millis() as i64;
        loop {
            let stored = self.inner.ledgers.get(name).await?.ok_or_else(|| crate::store::not_found(name))?;
            // Read about as many log events as are wanted: a bigger page would put events in the ledger
            // that a later fetch must read again one run at a time.
            let scan = max.clamp(64, SCAN_EVENTS_MAX);
            let page = self.inner.store.read_all(Position(stored.ledger.read_next), scan, &EventFilter::all()).await?;
            let fresh: Vec<(u64, bool)> =
                page.events.iter().map(|e| (e.position.0, stored.definition.admits(e.event_type()))).collect();
            let lease_id = self.inner.lease_ids.fetch_add(1, Ordering::Relaxed);
            let now = now_ms();
            let change = Change::Fetch { fresh, max, now_ms: now, lease_ms, lease_id, exclusive };
            let outcome = self.inner.ledgers.change(name, change, now).await?;
            if !outcome.leased.is_empty() {
                let events = self.read_leased(&outcome, page.events).await?;
                return Ok(Fetched { lease_id, lease_until_ms: now + lease_ms, events });
            }
            // More of the log to look at right away, unless the ledger is full (it reads no further until
            // events are acked: looking again at once would only spin).
            if page.next.is_some() && stored.ledger.pending.len() < PENDING_EVENTS_MAX && Instant::now() < deadline {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Fetched { lease_id, lease_until_ms: now, events: Vec::new() });
            }
            // Wake on an append, or soon anyway: a lease may end meanwhile.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), live.recv()).await;
        }
    }

    /// The leased events, from the page just read where it has them, else from the log in runs.
    async fn read_leased(
        &self,
        outcome: &Outcome,
        page: Vec<RecordedEvent>,
    ) -> Result<Vec<Delivery>, SubscriptionError> {
        let mut known: HashMap<u64, RecordedEvent> = page.into_iter().map(|e| (e.position.0, e)).collect();
        let mut missing: Vec<u64> = outcome.leased.iter().map(|(p, _)| *p).filter(|p| !known.contains_key(p)).collect();
        missing.sort_unstable();
        let mut next = 0;
        while next < missing.len() {
            let (first, last) = (missing[next], missing[missing.len() - 1]);
            let span = ((last - first + 1) as usize).min(SCAN_EVENTS_MAX);
            let read = self.inner.store.read_all(Position(first), span, &EventFilter::all()).await?;
            if read.events.is_empty() {
                return Err(SubscriptionError::Storage(format!("leased position {first} is not in the log")));
            }
            for event in read.events {
                known.insert(event.position.0, event);
            }
            while next < missing.len() && known.contains_key(&missing[next]) {
                next += 1;
            }
        }
        outcome
            .leased
            .iter()
            .map(|(position, attempt)| {
                let event = known
                    .remove(position)
                    .ok_or_else(|| SubscriptionError::Storage(format!("leased position {position} was not read")))?;
                Ok(Delivery { event, attempt: *attempt })
            })
            .collect()
    }

    /// Acknowledges these positions: they are done and the position may pass them. Positions not
    /// pending (acked already, parked, never delivered) are ignored; returns those acked now.
    pub async fn ack(&self, name: &str, positions: Vec<u64>) -> Result<Vec<u64>, SubscriptionError> {
        check_name(name)?;
        limit("fetch_events_max", FETCH_EVENTS_MAX, positions.len())?;
        Ok(self.inner.ledgers.change(name, Change::Ack { positions }, now_ms()).await?.applied)
    }

    /// Gives these positions back: delivered again at once, or parked (`park`, or their last attempt).
    /// With `lease_id`, only events still under that fetch's lease. Returns (released, parked).
    pub async fn nack(
        &self,
        name: &str,
        positions: Vec<u64>,
        park: bool,
        lease_id: Option<u64>,
    ) -> Result<(Vec<u64>, Vec<u64>), SubscriptionError> {
        check_name(name)?;
        limit("fetch_events_max", FETCH_EVENTS_MAX, positions.len())?;
        let outcome = self.inner.ledgers.change(name, Change::Nack { positions, park, lease_id }, now_ms()).await?;
        Ok((outcome.applied, outcome.parked.iter().map(|p| p.position).collect()))
    }

    /// Up to `limit` parked events after position `after`.
    pub async fn parked(
        &self,
        name: &str,
        after: Option<u64>,
        limit_events: usize,
    ) -> Result<Vec<ParkedEvent>, SubscriptionError> {
        check_name(name)?;
        // One more than a page: the HTTP answer asks for it to know whether another page follows.
        limit("page_events_max", FETCH_EVENTS_MAX + 1, limit_events)?;
        self.inner.ledgers.parked(name, after, limit_events).await
    }

    /// Puts up to `limit` parked events back into delivery; returns their positions.
    pub async fn retry_parked(&self, name: &str, limit_events: usize) -> Result<Vec<u64>, SubscriptionError> {
        check_name(name)?;
        limit("fetch_events_max", FETCH_EVENTS_MAX, limit_events)?;
        Ok(self.inner.ledgers.retry_parked(name, limit_events).await?.applied)
    }

    pub(crate) async fn stored(&self, name: &str) -> Result<Option<crate::store::Stored>, SubscriptionError> {
        self.inner.ledgers.get(name).await
    }

    pub(crate) fn record_error(&self, name: &str, error: &str) {
        let mut text = error.to_owned();
        if text.len() > LAST_ERROR_BYTES_MAX {
            let mut cut = LAST_ERROR_BYTES_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        lock(&self.inner.stats).entry(name.to_owned()).or_default().last_error = Some(text);
    }

    pub(crate) fn record_delivery(&self, name: &str, latencies_ms: impl Iterator<Item = u64>, count: usize) {
        let mut stats = lock(&self.inner.stats);
        let stats = stats.entry(name.to_owned()).or_default();
        stats.delivered += count as u64;
        stats.last_error = None;
        for latency in latencies_ms {
            if stats.latencies_ms.len() == LATENCY_SAMPLES_MAX {
                stats.latencies_ms.pop_front();
            }
            stats.latencies_ms.push_back(latency);
        }
    }

    /// Prometheus text for every subscription: `redress_subscription_{lag,in_flight,pending,parked,
    /// delivered_total,delivery_latency_p99_ms,failing}` labelled by name. Names are bounded in count
    /// ([`SUBSCRIPTIONS_MAX`]) and charset, so no request can add series beyond that; the secret and
    /// the error text are never in it.
    pub async fn metrics_text(&self) -> String {
        let mut out = String::new();
        let names = self.names().await.unwrap_or_default();
        let mut lines: Vec<(&str, &str, Vec<Series>)> = vec![
            ("redress_subscription_lag", "Log events at or after the subscription's position", Vec::new()),
            ("redress_subscription_in_flight", "Events leased and not yet acked", Vec::new()),
            ("redress_subscription_pending", "Events owed (leased or waiting)", Vec::new()),
            ("redress_subscription_parked", "Events parked", Vec::new()),
            ("redress_subscription_delivered_total", "Events delivered by webhook on this server", Vec::new()),
            ("redress_subscription_delivery_latency_p99_ms", "Append-to-webhook-delivery p99, ms", Vec::new()),
            ("redress_subscription_failing", "1 when the last webhook delivery failed", Vec::new()),
        ];
        for name in names {
            let Ok(status) = self.status(&name).await else { continue };
            let values = [
                status.lag.to_string(),
                status.in_flight.to_string(),
                status.pending.to_string(),
                status.parked.to_string(),
                status.delivered.to_string(),
                status.latency_ms.map_or("NaN".into(), |(_, p99, _)| p99.to_string()),
                u8::from(status.last_error.is_some()).to_string(),
            ];
            for ((_, _, series), value) in lines.iter_mut().zip(values) {
                series.push((name.clone(), value));
            }
        }
        for (metric, help, series) in lines {
            let kind = if metric.ends_with("_total") { "counter" } else { "gauge" };
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} {kind}\n"));
            for (name, value) in series {
                out.push_str(&format!("{metric}{{subscription=\"{name}\"}} {value}\n"));
            }
        }
        out
    }
}
