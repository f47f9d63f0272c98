//! Live subscriptions across servers.
//!
//! One publisher task per store owns the broadcast and the position of the next event to publish, so
//! batches go out in log order, each starting where the previous one ended. It takes batches from three
//! sources:
//! - this server's writer hands over what it just committed (no read needed);
//! - a listener on a dedicated connection (`LISTEN redress_<schema>`) reports other servers' commits,
//!   whose payload is the last position committed; the publisher then reads the log from its position;
//! - every [`POLL_INTERVAL`] it checks the head anyway, in case a notification was lost (the listener's
//!   connection broke and is being re-opened).
//!
//! With no subscriber it does not read: it moves to the head, and a later subscriber catches up from the
//! log (`Subscription` takes its receiver before reading, so nothing falls between).

use super::schema::Statements;
use super::{describe, pg_error, read_all_page, to_u64};
use crate::limits::READ_EVENTS_MAX;
use crate::{CommittedBatch, EventFilter, StoreError};
use deadpool_postgres::Pool;
use redress_schemas::Position;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

/// How often the publisher looks at the head when no notification came.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long the listener waits before re-opening a broken connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The listener and publisher tasks of one store, aborted when it is dropped.
pub(crate) struct LiveTasks(Vec<JoinHandle<()>>);

impl Drop for LiveTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// What the listener tells the publisher.
struct Heard {
    /// One past the highest position a notification announced.
    end: AtomicU64,
    wake: Notify,
}

/// Starts the listener and the publisher; `next` is the first position not yet committed.
pub(crate) fn start(
    config: tokio_postgres::Config,
    pool: Pool,
    statements: Arc<Statements>,
    live: broadcast::Sender<CommittedBatch>,
    next: Position,
    committed: mpsc::Receiver<CommittedBatch>,
) -> LiveTasks {
    let heard = Arc::new(Heard { end: AtomicU64::new(next.0), wake: Notify::new() });
    let listener = tokio::spawn(listen(config, statements.channel.clone(), Arc::clone(&heard)));
    let publisher = Publisher { pool, statements, live, next: next.0 };
    let publisher = tokio::spawn(publisher.run(committed, heard));
    LiveTasks(vec![listener, publisher])
}

/// Keeps a connection listening on `channel`, re-opening it when it breaks.
async fn listen(config: tokio_postgres::Config, channel: String, heard: Arc<Heard>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let messages = async {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message {
                            Ok(AsyncMessage::Notification(note)) => {
                                if let Ok(last) = note.payload().parse::<u64>() {
                                    heard.end.fetch_max(last.saturating_add(1), Ordering::AcqRel);
                                }
                                heard.wake.notify_one();
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!("the live listener's connection failed: {}", describe(&e));
                                return;
                            }
                        }
                    }
                };
                let subscribe = async {
                    match client.batch_execute(&format!("LISTEN {channel}")).await {
                        // Commits made while nobody listened were not announced: the poll finds them.
                        Ok(()) => std::future::pending::<()>().await,
                        Err(e) => tracing::warn!("LISTEN {channel} failed: {}", describe(&e)),
                    }
                };
                tokio::select! {
                    () = messages => {}
                    () = subscribe => {}
                }
            }
            Err(e) => tracing::warn!("the live listener cannot connect: {}", describe(&e)),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

struct Publisher {
    pool: Pool,
    statements: Arc<Statements>,
    live: broadcast::Sender<CommittedBatch>,
    /// The position of the next event to publish.
    next: u64,
}

impl Publisher {
    async fn run(mut self, mut committed: mpsc::Receiver<CommittedBatch>, heard: Arc<Heard>) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut writer_open = true;
        loop {
            tokio::select! {
                biased;
                batch = committed.recv(), if writer_open => match batch {
                    Some(batch) => self.offer(batch).await,
                    None => writer_open = false,
                },
                () = heard.wake.notified() => {
                    if heard.end.load(Ordering::Acquire) > self.next {
                        self.catch_up().await;
                    }
                }
                _ = poll.tick() => self.catch_up().await,
            }
        }
    }

    /// Publishes a batch this server committed, after whatever other servers committed before it.
    async fn offer(&mut self, batch: CommittedBatch) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else { return };
        let (first, last) = (first.position.0, last.position.0);
        if first > self.next {
            self.catch_up().await;
        }
        if last < self.next {
            return; // already read from the log and published
        }
        // If the log could not be read, `first` may still be ahead: publish anyway, in order; a
        // subscriber that sees the gap reads it from the log.
        let skip = self.next.saturating_sub(first) as usize;
        let batch = if skip == 0 { batch } else { Arc::from(&batch[skip..]) };
        self.next = last + 1;
        let _ = self.live.send(batch);
    }

    /// Reads the log from `next` up to the head and publishes it, page by page. Batches this server's
    /// writer hands over meanwhile wait in their bounded queue (or are dropped and read here).
    async fn catch_up(&mut self) {
        let client = match self.pool.get().await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!("the live publisher has no connection: {e}");
                return;
            }
        };
        loop {
            let end = match self.read_head(&client).await {
                Ok(end) => end,
                Err(e) => {
                    tracing::warn!("the live publisher cannot read the head: {e}");
                    return;
                }
            };
            if end <= self.next {
                return;
            }
            // Checked after reading the head: a subscriber that arrives later catches up past `end` itself.
            if self.live.receiver_count() == 0 {
                self.next = end;
                return;
            }
            let all = EventFilter::all();
            let page = match read_all_page(&client, &self.statements, Position(self.next), READ_EVENTS_MAX, &all).await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!("the live publisher cannot read the log: {e}");
                    return;
                }
            };
            let Some(last) = page.events.last() else { return };
            debug_assert_eq!(page.events[0].position.0, self.next, "the log is gapless");
            self.next = last.position.0 + 1;
            let _ = self.live.send(Arc::from(page.events));
        }
    }

    async fn read_head(&self, client: &deadpool_postgres::Client) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(&self.statements.head).await.map_err(pg_error)?;
        let row = client.query_one(&statement, &[]).await.map_err(pg_error)?;
        to_u64(row.get(0), "head.next_position")
    }
}
