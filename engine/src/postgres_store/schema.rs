//! The tables of one store (a PostgreSQL schema), the migration that creates them, and the text of every
//! statement the store runs, with the schema name written in.
//!
//! ```text
//! events(position PK, stream, version, event_id UNIQUE, event_type, recorded_at, record,
//!        append_{first,last}_{position,version}, UNIQUE(stream, version))   the log, $all order
//! streams(stream PK, last_version)                                           each stream's head
//! head(id = true, next_position, last_hash, last_recorded_at_ns)             one row: the log's head
//! redress_migrations(version PK, description, applied_at)                    what has been applied
//! fold_generations(space PK, generation)                                     each fold's current generation
//! fold_checkpoints(space, generation, version, next_position)                a fold generation's checkpoint
//! fold_state(space, generation, key, value)                                  a fold's keyed state, a row a key
//! audit_checkpoints(sequence PK, position UNIQUE, checkpoint, saved_at)      v1.1: signed heads, one sequence
//! ```
//! `record` holds the codec's bytes, exactly what the sled store keeps under its `L` key, so decoding,
//! verification and export are shared. The other columns are indexes over it, written in the same
//! transaction.

use super::{pg_error, to_u64};
use crate::StoreError;
use redress_schemas::Position;
use tokio_postgres::Client;

/// The longest schema name: `redress_` + the name must fit PostgreSQL's 63-byte identifiers, because the
/// notification channel is named after the schema.
pub(crate) const SCHEMA_NAME_BYTES_MAX: usize = 55;

/// Migrations in order; version = index + 1. Applied ones are never edited: a change is a new entry.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "events, streams and the head",
        r#"
    CREATE TABLE {schema}.events (
        position              BIGINT PRIMARY KEY CHECK (position >= 0),
        stream                TEXT NOT NULL,
        version               BIGINT NOT NULL CHECK (version >= 0),
        event_id              UUID NOT NULL UNIQUE,
        event_type            TEXT NOT NULL,
        recorded_at           TIMESTAMPTZ NOT NULL,
        record                BYTEA NOT NULL,
        append_first_position BIGINT NOT NULL,
        append_last_position  BIGINT NOT NULL,
        append_first_version  BIGINT NOT NULL,
        append_last_version   BIGINT NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE INDEX events_by_type ON {schema}.events (event_type, position);
    CREATE TABLE {schema}.streams (
        stream       TEXT PRIMARY KEY,
        last_version BIGINT NOT NULL CHECK (last_version >= 0)
    );
    CREATE TABLE {schema}.head (
        id                  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
        next_position       BIGINT NOT NULL CHECK (next_position >= 0),
        last_hash           BYTEA NOT NULL CHECK (octet_length(last_hash) = 32),
        last_recorded_at_ns BIGINT NOT NULL
    );
    INSERT INTO {schema}.head (id, next_position, last_hash, last_recorded_at_ns)
        VALUES (TRUE, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, 0);
    "#,
    ),
    (
        "projection checkpoints",
        r#"
    CREATE TABLE {schema}.checkpoints (
        name          TEXT PRIMARY KEY,
        version       INTEGER NOT NULL,
        next_position BIGINT NOT NULL CHECK (next_position >= 0),
        state         BYTEA NOT NULL,
        saved_at      TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    "#,
    ),
    (
        "keyed fold state: a row per key, checkpoints per fold generation",
        r#"
    CREATE TABLE {schema}.fold_generations (
        space      TEXT PRIMARY KEY,
        generation BIGINT NOT NULL CHECK (generation >= 0)
    );
    CREATE TABLE {schema}.fold_checkpoints (
        space         TEXT NOT NULL,
        generation    BIGINT NOT NULL,
        version       INTEGER NOT NULL,
        next_position BIGINT NOT NULL CHECK (next_position >= 0),
        saved_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (space, generation)
    );
    CREATE TABLE {schema}.fold_state (
        space      TEXT NOT NULL,
        generation BIGINT NOT NULL,
        key        BYTEA NOT NULL,
        value      BYTEA NOT NULL,
        PRIMARY KEY (space, generation, key)
    );
    "#,
    ),
    (
        "signed checkpoints of the head (v1.1), one sequence for every server of the store",
        r#"
    CREATE TABLE {schema}.audit_checkpoints (
        sequence   BIGINT PRIMARY KEY CHECK (sequence >= 0),
        position   BIGINT NOT NULL UNIQUE CHECK (position >= 0),
        checkpoint BYTEA NOT NULL CHECK (octet_length(checkpoint) = 144),
        saved_at   TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    "#,
    ),
];

/// Refuses a schema name that is not a plain lower-case identifier: it is written into SQL text and
/// into the channel name.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let plain = schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let starts_well = schema.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if plain && starts_well && schema.len() <= SCHEMA_NAME_BYTES_MAX && !schema.starts_with("pg_") {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "bad PostgreSQL schema name {schema:?}: use 1..={SCHEMA_NAME_BYTES_MAX} bytes of [a-z0-9_], \
             starting with a letter or '_', not 'pg_'"
        )))
    }
}

/// Creates the schema and applies every migration it lacks, in one transaction, under an advisory lock
/// so that servers starting together do not race. Idempotent. Refuses a schema migrated by a newer build.
pub(crate) async fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('redress_migrations.' || $1::text, 0))", &[&schema])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.redress_migrations (
             version     INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg_error)?;
    let row = tx
        .query_one(&format!("SELECT COALESCE(max(version), 0) FROM {schema}.redress_migrations"), &[])
        .await
        .map_err(pg_error)?;
    let applied: i32 = row.get(0);
    let known = MIGRATIONS.len() as i32;
    if applied > known {
        return Err(StoreError::Unavailable(format!(
            "schema {schema} is at migration {applied}; this build knows only {known} (written by a newer Redress?)"
        )));
    }
    for (version, (description, sql)) in (1..).zip(MIGRATIONS).skip(applied as usize) {
        tx.batch_execute(&sql.replace("{schema}", schema)).await.map_err(pg_error)?;
        tx.execute(
            &format!("INSERT INTO {schema}.redress_migrations (version, description) VALUES ($1, $2)"),
            &[&version, description],
        )
        .await
        .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)
}

/// What [`open`] found.
pub(crate) struct Opened {
    pub statements: Statements,
    /// The first position not yet written.
    pub next_position: u64,
    /// Whether this database or role turns `synchronous_commit` off (the store's sessions turn it on).
    pub synchronous_commit_off: bool,
}

/// Migrates `schema`, then checks that the head and the log agree (they are written in one transaction).
pub(crate) async fn open(client: &mut Client, schema: &str) -> Result<Opened, StoreError> {
    migrate(client, schema).await?;
    let statements = Statements::new(schema);
    let row = client.query_one(&statements.head_and_last, &[]).await.map_err(pg_error)?;
    let next_position = to_u64(row.get(0), "head.next_position")?;
    let last: Option<i64> = row.get(1);
    if last.map_or(0, |last| last.saturating_add(1)) != row.get::<_, i64>(0) {
        return Err(StoreError::Corruption {
            position: Position(next_position),
            reason: format!("the head says next position {next_position}, the log ends at {last:?}"),
        });
    }
    let setting: String =
        client.query_one("SELECT current_setting('synchronous_commit')", &[]).await.map_err(pg_error)?.get(0);
    Ok(Opened { statements, next_position, synchronous_commit_off: setting == "off" })
}

/// Every statement the store runs, with its schema written in (prepared once per connection).
pub(crate) struct Statements {
    pub channel: String,
    pub lock_head: String,
    pub head: String,
    pub head_and_last: String,
    pub stream_heads: String,
    pub stored_ids: String,
    pub fold_streams: String,
    pub insert_events: String,
    pub upsert_streams: String,
    pub update_head: String,
    pub notify: String,
    pub stream_version: String,
    pub read_stream_forward: String,
    pub read_stream_backward: String,
    pub read_all: String,
    pub read_all_of_types: String,
    pub read_written: String,
}

impl Statements {
    pub(crate) fn new(schema: &str) -> Statements {
        let s = schema;
        // A page query returns its rows and, as a row whose `record` is NULL, the log's end as the same
        // statement (so the same snapshot) saw it: `next` is computed against that, never a later one.
        let end_marker = format!("(SELECT next_position, NULL::bytea FROM {s}.head)");
        Statements {
            channel: format!("redress_{s}"),
            lock_head: format!(
                "SELECT next_position, last_hash, last_recorded_at_ns FROM {s}.head WHERE id FOR UPDATE"
            ),
            head: format!("SELECT next_position, last_hash FROM {s}.head WHERE id"),
            head_and_last: format!(
                "SELECT next_position, (SELECT max(position) FROM {s}.events) FROM {s}.head WHERE id"
            ),
            stream_heads: format!("SELECT stream, last_version FROM {s}.streams WHERE stream = ANY($1::text[])"),
            // With the record: only ids already stored return a row, so a fresh append fetches nothing,
            // and a retry has what it must compare with in the same round trip.
            stored_ids: format!(
                "SELECT event_id::text, stream, position, append_first_position, append_last_position,
                        append_first_version, append_last_version, record
                 FROM {s}.events WHERE event_id = ANY($1::text[]::uuid[])"
            ),
            fold_streams: format!(
                "SELECT stream, version, position, record FROM {s}.events
                 WHERE stream = ANY($1::text[]) ORDER BY stream, version"
            ),
            insert_events: format!(
                "INSERT INTO {s}.events (position, stream, version, event_id, event_type, recorded_at, record,
                     append_first_position, append_last_position, append_first_version, append_last_version)
                 SELECT p, st, v, id::uuid, t, timestamptz 'epoch' + (r / 1000) * interval '1 microsecond', rec,
                        afp, alp, afv, alv
                 FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[], $7::bytea[],
                             $8::int8[], $9::int8[], $10::int8[], $11::int8[])
                      AS u(p, st, v, id, t, r, rec, afp, alp, afv, alv)"
            ),
            upsert_streams: format!(
                "INSERT INTO {s}.streams (stream, last_version)
                 SELECT * FROM UNNEST($1::text[], $2::int8[])
                 ON CONFLICT (stream) DO UPDATE SET last_version = EXCLUDED.last_version"
            ),
            update_head: format!(
                "UPDATE {s}.head SET next_position = $1, last_hash = $2, last_recorded_at_ns = $3 WHERE id"
            ),
            notify: "SELECT pg_notify($1, $2)".into(),
            stream_version: format!("SELECT last_version FROM {s}.streams WHERE stream = $1"),
            read_stream_forward: format!(
                "SELECT version, position, record FROM {s}.events
                 WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3"
            ),
            read_stream_backward: format!(
                "SELECT version, position, record FROM {s}.events
                 WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
            ),
            read_all: format!(
                "(SELECT position, record FROM {s}.events
                  WHERE position >= $1 AND position < $2 ORDER BY position LIMIT $3)
                 UNION ALL {end_marker}"
            ),
            read_all_of_types: format!(
                "(SELECT position, record FROM {s}.events
                  WHERE position >= $1 AND position < $2 AND event_type = ANY($4::text[]) ORDER BY position LIMIT $3)
                 UNION ALL {end_marker}"
            ),
            read_written: format!(
                "(SELECT position, record FROM {s}.events WHERE position >= $1 ORDER BY position LIMIT $2)
                 UNION ALL {end_marker}"
            ),
        }
    }
}
