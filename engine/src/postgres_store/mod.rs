//! The PostgreSQL store: the engine's [`EventStore`] on tokio-postgres, for several Redress servers that
//! share one database.
//!
//! It keeps every guarantee of the sled store (see `crate::EventStore`), with these mechanisms:
//! - **One appender at a time, across servers.** Every append transaction starts with
//!   `SELECT … FROM head FOR UPDATE` on the single-row head. Positions are assigned under that lock, so
//!   they are gapless and follow commit order: PostgreSQL makes a commit visible before it releases the
//!   transaction's locks, so position N is readable before N + 1 is even assigned, and no reader can see
//!   N + 1 and "discover" N later. A refused append rolls back and leaves no hole.
//! - **Group commit in each server.** One writer task drains a bounded queue and writes a whole group in
//!   one transaction (`synchronous_commit` stays on, so commit = durable), as the sled writer does.
//! - **The same records.** `events.record` holds the codec's bytes, the hash chain is computed the same
//!   way, so verify, export and import work on either store and move a log between them unchanged.
//! - **Live across servers.** Each commit notifies `redress_<schema>`; a listener in every server reads
//!   what it has not yet published from the log and broadcasts it, in order (polling every second in
//!   case a notification is missed).
//!
//! Connections use no TLS (`NoTls`): put the database on a trusted network or a local socket.

mod checkpoints;
mod live;
mod schema;
mod writer;

use crate::limits::{READ_EVENTS_MAX, READ_SCAN_EVENTS_MAX, SUBSCRIPTION_QUEUE_BATCHES_MAX, WRITER_QUEUE_APPENDS_MAX};
use crate::staging::{self, check_position, WriteCommand as Command};
use crate::{
    AppendOutcome, CommittedBatch, Direction, EventFilter, EventStore, ExpectedVersion, Head, Page, StoreError,
    StoreOptions,
};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use redress_schemas::{codec, Hash, Position, ProposedEvent, RecordedEvent, StreamName, WrittenEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::NoTls;
use writer::Writer;

/// Connections each server's pool holds at most (readers and the writer share it).
const POOL_CONNECTIONS_MAX: usize = 8;
/// How long opening a connection may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reader or the writer waits for a free pooled connection before `Unavailable`.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL-backed [`EventStore`]. Any number of them (in one process or many servers) may share
/// one schema: appends are serialized by the database, and each sees the others' events live.
pub struct PostgresStore {
    pool: Pool,
    statements: Arc<schema::Statements>,
    schema: String,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    live: broadcast::Sender<CommittedBatch>,
    /// The listener and publisher tasks; aborted when the store is dropped.
    _live_tasks: live::LiveTasks,
}

impl PostgresStore {
    /// Connects to the database at `url` and opens the store kept in `schema` with the default
    /// [`StoreOptions`]: see [`PostgresStore::connect_with`].
    pub async fn connect(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, schema, StoreOptions::default()).await
    }

    /// Connects to the database at `url` (a `postgres://` URL or a `key=value` string) and opens the store
    /// kept in `schema`, creating the schema and its tables on first use and applying any migration it
    /// lacks (idempotent; safe when several servers start together). Checks that the log and its head
    /// agree, then starts the writer (which judges appends by `options`) and the live listener. Call it
    /// from a Tokio runtime.
    ///
    /// Errors: [`StoreError::Unavailable`] when the URL or schema name is bad, the server does not answer,
    /// or the schema was migrated by a newer build; [`StoreError::Corruption`] when the head and the log
    /// disagree; [`StoreError::Io`] when a statement fails.
    pub async fn connect_with(url: &str, schema: &str, options: StoreOptions) -> Result<PostgresStore, StoreError> {
        schema::check_schema_name(schema)?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL connection string: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("redress");
        }
        let (mut client, connection) = config.connect(NoTls).await.map_err(unavailable)?;
        let connection = tokio::spawn(connection);
        let opened = schema::open(&mut client, schema).await;
        drop(client);
        let _ = connection.await;
        let schema::Opened { statements, next_position, synchronous_commit_off } = opened?;
        let statements = Arc::new(statements);
        if synchronous_commit_off {
            // An append is answered after its commit, and must then be durable: turn it back on for our
            // sessions (every other value — local, remote_write, on, remote_apply — flushes the local WAL).
            tracing::warn!("synchronous_commit is off for this database or role; Redress turns it on for its sessions");
            let options = config.get_options().map_or(String::new(), |o| format!("{o} "));
            config.options(format!("{options}-c synchronous_commit=on"));
        }

        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_CONNECTIONS_MAX)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(*config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT)))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build the connection pool: {e}")))?;

        let (live, _) = broadcast::channel(SUBSCRIPTION_QUEUE_BATCHES_MAX);
        let (committed_tx, committed_rx) = mpsc::channel(SUBSCRIPTION_QUEUE_BATCHES_MAX);
        let live_tasks = live::start(
            config,
            pool.clone(),
            Arc::clone(&statements),
            live.clone(),
            Position(next_position),
            committed_rx,
        );
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_APPENDS_MAX);
        let writer = Writer::new(pool.clone(), Arc::clone(&statements), committed_tx, options);
        let writer = tokio::spawn(writer.run(rx));
        Ok(PostgresStore {
            pool,
            statements,
            schema: schema.to_owned(),
            commands: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            live,
            _live_tasks: live_tasks,
        })
    }

    /// The schema this store lives in.
    /// The connection pool (the read side keeps its fold state in the same schema through it).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Stops accepting appends and waits until the writer has committed (or refused) every append
    /// already queued. Appends after this fail with [`StoreError::Unavailable`]; reads and live
    /// subscriptions keep working until the store is dropped.
    ///
    /// Errors: [`StoreError::Unavailable`] when the writer did not finish within the close timeout
    /// (its queued appends are abandoned; their callers get an error when the writer is dropped).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.commands.lock().expect("commands lock").take();
        let writer = self.writer.lock().expect("writer lock").take();
        let Some(writer) = writer else { return Ok(()) };
        let timeout = crate::limits::CLOSE_TIMEOUT_DEFAULT;
        match tokio::time::timeout(timeout, writer).await {
            Ok(_) => Ok(()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the PostgreSQL writer did not finish within {timeout:?}; its queued appends are abandoned"
            ))),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.commands
            .lock()
            .expect("commands lock")
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer commits what is queued, then ends and lets its connection go; the live tasks stop.
        self.commands.get_mut().expect("commands lock").take();
    }
}

#[async_trait::async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &StreamName,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        staging::submit_append(self.sender(), stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let client = self.client().await?;
        let sql = match direction {
            Direction::Forward => &self.statements.read_stream_forward,
            Direction::Backward => &self.statements.read_stream_backward,
        };
        let statement = client.prepare_cached(sql).await.map_err(pg_error)?;
        // One row more than asked: its version is where the next page starts.
        let rows = client
            .query(&statement, &[&stream.as_str(), &to_i64(from), &to_i64(limit as u64 + 1)])
            .await
            .map_err(pg_error)?;
        let mut events = Vec::with_capacity(rows.len().min(limit));
        let mut next = None;
        for row in rows {
            let version = to_u64(row.get(0), "events.version")?;
            if events.len() == limit {
                next = Some(version);
                break;
            }
            let event = decode_at(to_u64(row.get(1), "events.position")?, row.get(2))?;
            if event.stream != *stream || event.version != version {
                return Err(StoreError::Corruption {
                    position: event.position,
                    reason: format!(
                        "the row says {stream} version {version}, its record {} {}",
                        event.stream, event.version
                    ),
                });
            }
            events.push(event);
        }
        Ok(Page { events, next })
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Page<RecordedEvent>, StoreError> {
        let client = self.client().await?;
        read_all_page(&client, &self.statements, from, limit, filter).await
    }

    async fn read_written(&self, from: Position, limit: usize) -> Result<Page<WrittenEvent>, StoreError> {
        let limit = limit.min(READ_EVENTS_MAX);
        let client = self.client().await?;
        let statement = client.prepare_cached(&self.statements.read_written).await.map_err(pg_error)?;
        let rows = client.query(&statement, &[&to_i64(from.0), &to_i64(limit as u64 + 1)]).await.map_err(pg_error)?;
        let LogRows { records, end } = split_end_marker(rows)?;
        staging::written_page(records.into_iter().map(Ok), from.0, end, limit)
    }

    async fn stream_version(&self, stream: &StreamName) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(&self.statements.stream_version).await.map_err(pg_error)?;
        let row = client.query_opt(&statement, &[&stream.as_str()]).await.map_err(pg_error)?;
        row.map(|row| to_u64(row.get(0), "streams.last_version")).transpose()
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(&self.statements.head).await.map_err(pg_error)?;
        let row = client.query_one(&statement, &[]).await.map_err(pg_error)?;
        let next_position = to_u64(row.get(0), "head.next_position")?;
        let hash = to_hash(row.get(1))?;
        Ok(next_position.checked_sub(1).map(|last| Head { position: Position(last), hash }))
    }

    async fn import(&self, events: Vec<WrittenEvent>) -> Result<(), StoreError> {
        staging::submit_import(self.sender(), events).await
    }

    async fn save_checkpoint(&self, checkpoint: &crate::Checkpoint) -> Result<crate::Checkpoint, StoreError> {
        self.save_checkpoint_row(checkpoint).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<crate::Checkpoint>, StoreError> {
        self.latest_checkpoint_row().await
    }

    fn live(&self) -> broadcast::Receiver<CommittedBatch> {
        self.live.subscribe()
    }

    async fn close(&self) -> Result<(), StoreError> {
        PostgresStore::close(self).await
    }
}

/// A page of `$all`, with the same paging as the sled store: at most `limit` events that pass `filter`,
/// scanning at most [`READ_SCAN_EVENTS_MAX`] positions; `next` is the first position not looked at, or
/// `None` when the log (as this statement saw it) ends before it.
pub(crate) async fn read_all_page(
    client: &ClientWrapper,
    statements: &schema::Statements,
    from: Position,
    limit: usize,
    filter: &EventFilter,
) -> Result<Page<RecordedEvent>, StoreError> {
    let limit = limit.min(READ_EVENTS_MAX);
    if limit == 0 {
        return Ok(Page { events: Vec::new(), next: None });
    }
    let window_end = from.0.saturating_add(READ_SCAN_EVENTS_MAX as u64);
    let (from_sql, window_sql, limit_sql) = (to_i64(from.0), to_i64(window_end), to_i64(limit as u64));
    let rows = match &filter.event_types {
        None => {
            let statement = client.prepare_cached(&statements.read_all).await.map_err(pg_error)?;
            client.query(&statement, &[&from_sql, &window_sql, &limit_sql]).await
        }
        Some(types) => {
            let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
            let statement = client.prepare_cached(&statements.read_all_of_types).await.map_err(pg_error)?;
            client.query(&statement, &[&from_sql, &window_sql, &limit_sql, &names]).await
        }
    }
    .map_err(pg_error)?;
    let LogRows { records, end } = split_end_marker(rows)?;
    let mut events = Vec::with_capacity(records.len());
    for (position, record) in records {
        if position >= end {
            break; // past the head: not written by a committed append (cannot happen; never shown)
        }
        let event = decode_at(position, &record)?;
        debug_assert!(filter.admits(event.event_type()), "the query filters by type");
        events.push(event);
    }
    let resume = match events.last() {
        Some(last) if events.len() == limit => last.position.0 + 1,
        _ => window_end,
    };
    Ok(Page { events, next: (resume < end).then_some(resume) })
}

/// A page query's records, in position order, and the log's end as the same statement saw it.
struct LogRows {
    records: Vec<(u64, Vec<u8>)>,
    end: u64,
}

/// Splits a page query's rows into (position, record) pairs and the log's end (the head's next
/// position, the row whose record is NULL).
fn split_end_marker(rows: Vec<tokio_postgres::Row>) -> Result<LogRows, StoreError> {
    let mut end = None;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let position = to_u64(row.get(0), "events.position")?;
        match row.get::<_, Option<Vec<u8>>>(1) {
            Some(record) => out.push((position, record)),
            None => end = Some(position),
        }
    }
    let end = end.ok_or_else(|| StoreError::Corruption {
        position: Position(u64::MAX),
        reason: "the head row is missing".into(),
    })?;
    out.sort_by_key(|(position, _)| *position);
    Ok(LogRows { records: out, end })
}

/// Decodes the record stored at `position` and checks that it says so.
fn decode_at(position: u64, record: &[u8]) -> Result<RecordedEvent, StoreError> {
    let event =
        codec::decode_record(record).map_err(|error| StoreError::Codec { position: Position(position), error })?;
    check_position(position, event.position)?;
    Ok(event)
}

/// Positions and versions are `BIGINT`: a larger bound (such as `u64::MAX` for "the last") saturates.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corruption {
        position: Position(u64::MAX),
        reason: format!("{column} holds the negative value {value}"),
    })
}

fn to_hash(bytes: Vec<u8>) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice()).map(Hash).map_err(|_| StoreError::Corruption {
        position: Position(u64::MAX),
        reason: format!("head.last_hash holds {} bytes, not 32", bytes.len()),
    })
}

/// The text of a PostgreSQL error, with the server's message when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("PostgreSQL: {db}"),
        (None, Some(source)) => format!("PostgreSQL: {e}: {source}"),
        (None, None) => format!("PostgreSQL: {e}"),
    }
}

/// A failed statement or a broken connection (HTTP 503; the append may be retried with the same ids).
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    StoreError::Io(describe(&e))
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot connect: {}", describe(&e)))
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => unavailable(e),
        other => StoreError::Unavailable(format!("no PostgreSQL connection: {other}")),
    }
}
