//! The `redress` command line (API.md's table). Every command takes `--data-dir` (the embedded store)
//! or `--store postgres://…`. Exit codes: 0 ok, 1 failure, 2 usage, 3 verification failed.

use crate::http::{self, AppState, ServeLimits, Tokens};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use redress_engine::{
    verify_export, verify_store, Direction, EventFilter, EventStore, FileKeyTable, KeyTable, ShreddableStore,
    SledStore, StoreError, StoreOptions, Subscription, Verification,
};
use redress_projections::policy::SlaPolicy;
use redress_projections::{Basis, FoldStores, Folds, Query, SealedFoldStores, SledFoldStores};
use redress_schemas::{Position, RecordedBy, StreamName, WrittenEvent};
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Writes one line to standard output, returning from the command with [`CliError::StdoutClosed`]
/// when the reader went away (`redress replay … | head`): the command then ends quietly with exit 0.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::stdout_line(format_args!($($arg)*))?
    };
}
pub(crate) use say;

pub(crate) fn stdout_line(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(line).and_then(|()| out.write_all(b"\n")).map_err(stdout_error)
}

/// A failed write to standard output: a closed pipe is the reader's choice, not a failure.
fn stdout_error(error: std::io::Error) -> CliError {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::StdoutClosed
    } else {
        failed("writing to standard output", error)
    }
}

/// Redress: an event-sourced complaint-lifecycle engine.
#[derive(Debug, Parser)]
#[command(name = "redress", version)]
pub struct Cli {
    /// Directory of the embedded (sled) store.
    #[arg(long, global = true, default_value = "./redress-data", env = "REDRESS_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Use a PostgreSQL store instead of the embedded one (postgres://user@host:port/db).
    #[arg(long, global = true, env = "REDRESS_STORE")]
    pub store: Option<String>,
    /// The PostgreSQL schema that holds the store (created on first start). Servers that share a
    /// store use the same URL and schema.
    #[arg(long, global = true, env = "REDRESS_PG_SCHEMA", default_value = "redress")]
    pub pg_schema: String,
    /// Free bytes the embedded store keeps on its filesystem: below this, appends are refused (503,
    /// nothing written) until space is freed, so the disk never fills up in the middle of a write.
    #[arg(long, global = true, env = "REDRESS_DISK_RESERVE_BYTES",
          default_value_t = redress_engine::limits::DISK_FREE_BYTES_MIN_DEFAULT)]
    pub disk_reserve_bytes: u64,
    /// This server's name in a shared PostgreSQL store: each server keeps its own projection state
    /// there (default: the host name).
    #[arg(long, global = true, env = "REDRESS_SERVER_NAME")]
    pub server_name: Option<String>,
    /// How far an event's occurred_at may be ahead of the store's clock before its append is refused:
    /// a whole number with a unit (ms, s, m, h), at most 24h. Default 5m.
    #[arg(long, global = true, env = "REDRESS_CLOCK_SKEW_MAX", value_name = "DURATION")]
    #[arg(value_parser = parse_clock_skew)]
    pub clock_skew_max: Option<Duration>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API until SIGTERM or Ctrl-C (then finish in-flight appends, flush, exit 0).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// Load a realistic year of sample history first, if the store is empty.
        #[arg(long)]
        demo: bool,
        /// Service-level policy file (JSON) overriding API.md's defaults (with --demo and no file: the demo
        /// desk's policy, business hours for low and normal severity).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Tokens file: `role:token` or `role:name:token` per line (roles: publisher, auditor, admin; the name is
        /// stamped as `recorded_by` on what the token appends, default the role). Default: REDRESS_TOKENS,
        /// else an admin token generated into <data-dir>/admin.token (printed only to a terminal).
        #[arg(long)]
        tokens_file: Option<PathBuf>,
        /// After SIGTERM, how long to wait for in-flight requests, projection checkpoints and the store
        /// to finish before exiting with status 1 anyway (saying what was abandoned).
        #[arg(long, env = "REDRESS_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
        shutdown_grace_seconds: u64,
        #[command(flatten)]
        limits: EdgeLimitArgs,
        #[command(flatten)]
        audit: ServeAuditArgs,
        #[command(flatten)]
        subscriptions: SubscriptionArgs,
    },
    /// Append events: the same JSON as the HTTP body, from --file or standard input.
    Append {
        #[arg(long, value_parser = parse_stream)]
        stream: StreamName,
        /// any, no_stream, exists, or a version; overrides the body's expected_version.
        #[arg(long, value_parser = parse_expected)]
        expected_version: Option<redress_engine::ExpectedVersion>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print a stream's events as JSON Lines.
    Read {
        #[arg(long, value_parser = parse_stream)]
        stream: StreamName,
        /// First version (default: 0, or the last one with --backward).
        #[arg(long)]
        from_version: Option<u64>,
        #[arg(long)]
        backward: bool,
    },
    /// Print `$all` as JSON Lines from a position, then follow live until Ctrl-C.
    Tail {
        #[arg(long, default_value_t = 0)]
        from_position: u64,
        /// Comma-separated event types.
        #[arg(long)]
        event_type: Option<String>,
    },
    /// Check the hash chain of the store, or of an export file (no store needed). Exit 3 if broken.
    Verify {
        #[arg(long)]
        file: Option<PathBuf>,
        /// A signed checkpoint (`GET /audit/checkpoint`, `redress checkpoint`) the export must hold: exit 3
        /// if it is shorter than, or differs from, what the checkpoint signed, or the signature fails.
        #[arg(long, requires = "file")]
        checkpoint: Option<PathBuf>,
        /// The server's public key (64 hex digits, or a file holding them) the checkpoint must be signed by.
        #[arg(long, requires = "checkpoint", value_parser = crate::audit::parse_public_key)]
        public_key: Option<redress_engine::PublicKey>,
    },
    /// Sign the log's head now (unless the latest checkpoint covers it), keep it in the store, and print
    /// it as JSON: the file `verify --checkpoint` reads.
    Checkpoint {
        #[command(flatten)]
        signing: crate::audit::SigningArgs,
    },
    /// Write the whole log as JSON Lines, one envelope a line, each as written (personal texts sealed).
    Export {
        #[arg(long)]
        output: PathBuf,
        /// Also write the key table to this file (JSON Lines, owner-only): whoever has it can read the
        /// personal texts of every customer not erased. Keep it apart from the export.
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Load an export into the store; every event must continue its chain (re-verified as it goes).
    /// Without --keys the personal texts read as "[erased]" (their keys are not here).
    Import {
        #[arg(long)]
        input: PathBuf,
        /// A key table written by `export --keys`, taken first. Keys of customers erased here stay erased.
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Erase a customer's personal data (GDPR Art. 17, PIPL Art. 47): destroy their key, record
    /// customer_data_erased, and rebuild the projections without their texts.
    Erase {
        /// The customer id.
        #[arg(long)]
        customer: String,
        /// Who asked for the erasure.
        #[arg(long)]
        requested_by: String,
        /// The law or article it follows, e.g. "GDPR Art. 17".
        #[arg(long)]
        legal_basis: String,
    },
    /// Print a projection's answer as it stood at an instant, rebuilt from the log up to then.
    Replay {
        /// RFC 3339 instant.
        #[arg(long, value_parser = parse_instant)]
        as_of: redress_schemas::Timestamp,
        /// open-complaints, needs-attention, repeat-issues, satisfaction, customer-history, suggestions, answer-gaps.
        #[arg(long)]
        projection: String,
        /// recorded (what the desk knew then) or occurred (how things stood in the world).
        #[arg(long, default_value = "recorded", value_parser = ["recorded", "occurred"])]
        basis: String,
        /// Projection parameters as key=value (e.g. group_by=category, customer_id=K-1).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Projection status, or rebuild one from position 0.
    Projections {
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Rank the standard answers for a complaint's text (Chinese, English or mixed), or check the
    /// library against labelled complaints (`--eval`).
    Suggest {
        /// The complaint text.
        #[arg(required_unless_present = "eval")]
        text: Option<String>,
        #[arg(long)]
        category: Option<String>,
        /// How many answers (1..=20).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
        k: u64,
        /// Leave out answers below this confidence (0..=1; default: the server's default).
        #[arg(long, value_parser = parse_confidence)]
        min_confidence: Option<f64>,
        /// Show titles in this language (a BCP 47 tag such as en or zh; default: detected from the text).
        #[arg(long)]
        lang: Option<String>,
        /// JSON lines `{"text", "category", "expected_answer_id"}` (no expected answer: an off-topic
        /// text): prints top-1, recall@3, MRR and the misses instead of ranking one text.
        #[arg(long, conflicts_with = "text")]
        eval: Option<PathBuf>,
        /// JSON lines of past complaints answered well (each with `expected_answer_id`), learned before
        /// `--eval` runs; the store is not written.
        #[arg(long, requires = "eval")]
        history: Option<PathBuf>,
    },
    /// Persistent subscriptions (the same definitions and answers as `/subscriptions`): list, show,
    /// create, delete, retry parked events. Delivery stays with the server.
    Subscriptions {
        #[command(subcommand)]
        action: crate::subscription_commands::SubscriptionsAction,
    },
    /// Load the sample history and print a short tour.
    Demo {
        /// Number of complaints.
        #[arg(long, default_value_t = 3000)]
        complaints: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Load and print the summary, without the tour (which folds the whole history in memory: for
        /// large loads, let `redress serve` fold it into its persistent state instead).
        #[arg(long)]
        no_tour: bool,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
}

/// How `serve` runs persistent subscriptions (issue 12).
#[derive(Debug, clap::Args)]
pub struct SubscriptionArgs {
    /// Hosts webhook URLs may name, comma-separated (exact names or IP literals). Default: loopback
    /// only, so a subscription cannot turn the server against the network it sits in.
    #[arg(long, env = "REDRESS_WEBHOOK_HOSTS", value_delimiter = ',')]
    pub webhook_hosts: Option<Vec<String>>,
    /// How long a fetched event belongs to its fetch before it is delivered again (API.md: 30 s).
    #[arg(long, default_value_t = 30_000)]
    pub subscription_lease_ms: u64,
}

impl SubscriptionArgs {
    /// The subscriptions' configuration these flags give.
    pub fn config(&self) -> redress_subscriptions::Config {
        let hosts = match &self.webhook_hosts {
            Some(hosts) => redress_subscriptions::WebhookHosts::new(hosts.iter().cloned()),
            None => redress_subscriptions::WebhookHosts::default(),
        };
        redress_subscriptions::Config::default()
            .with_webhook_hosts(hosts)
            .with_lease(std::time::Duration::from_millis(self.subscription_lease_ms.max(1)))
    }
}

/// The bounds of the HTTP edge (API.md's defaults; see `http::ServeLimits`).
#[derive(Debug, clap::Args)]
pub struct EdgeLimitArgs {
    /// Open connections at most, subscription streams included; more wait until one closes. Lowered
    /// to what the open-files limit (ulimit -n) leaves.
    #[arg(long, env = "REDRESS_MAX_CONNECTIONS", default_value_t = http::CONNECTIONS_MAX, value_parser = parse_count)]
    pub max_connections: usize,
    /// Requests handled at once at most; more are answered 503 with Retry-After.
    #[arg(long, env = "REDRESS_MAX_REQUESTS_IN_FLIGHT", default_value_t = http::REQUESTS_IN_FLIGHT_MAX, value_parser = parse_count)]
    pub max_requests_in_flight: usize,
    /// A request head must arrive within this (e.g. 10s, 500ms).
    #[arg(long, env = "REDRESS_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// A request body must arrive within this.
    #[arg(long, env = "REDRESS_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    #[arg(long, env = "REDRESS_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// How long a closing connection keeps reading (and discarding) what the client still sends, so
    /// that an answer given before the body was read reaches it.
    #[arg(long, env = "REDRESS_LINGER_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub linger_timeout: Duration,
    /// The longest request line (method, path and query), in bytes; 414 beyond.
    #[arg(long, env = "REDRESS_MAX_REQUEST_LINE_BYTES", default_value_t = http::REQUEST_LINE_BYTES_MAX, value_parser = parse_count)]
    pub max_request_line_bytes: usize,
    /// The most header bytes in all; 431 beyond.
    #[arg(long, env = "REDRESS_MAX_HEADER_BYTES", default_value_t = http::HEADER_BYTES_MAX, value_parser = parse_count)]
    pub max_header_bytes: usize,
    /// The most header fields; 431 beyond.
    #[arg(long, env = "REDRESS_MAX_HEADER_FIELDS", default_value_t = http::HEADER_FIELDS_MAX, value_parser = parse_count)]
    pub max_header_fields: usize,
    /// The largest request body, in bytes; 413 beyond.
    #[arg(long, env = "REDRESS_MAX_BODY_BYTES", default_value_t = http::BODY_BYTES_MAX, value_parser = parse_count)]
    pub max_body_bytes: usize,
    /// Benchmark only: serve without the limits above (except the body size), to measure their cost.
    /// Slow or idle clients can then hold the server.
    #[arg(long, env = "REDRESS_BENCH_UNLIMITED_EDGE", hide = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub bench_unlimited_edge: bool,
}

impl EdgeLimitArgs {
    /// The limits these flags give.
    pub fn limits(&self) -> ServeLimits {
        ServeLimits {
            connections_max: self.max_connections,
            requests_in_flight_max: self.max_requests_in_flight,
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
            linger_timeout: self.linger_timeout,
            request_line_bytes_max: self.max_request_line_bytes,
            header_bytes_max: self.max_header_bytes,
            header_fields_max: self.max_header_fields,
            body_bytes_max: self.max_body_bytes,
            enforced: !self.bench_unlimited_edge,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Each projection's version, checkpoint, lag and state (catches up first).
    Status,
    /// Rebuild a projection from position 0 and save it.
    Rebuild { name: String },
}

fn parse_stream(text: &str) -> Result<StreamName, String> {
    StreamName::new(text).map_err(|e| e.to_string())
}

fn parse_expected(text: &str) -> Result<redress_engine::ExpectedVersion, String> {
    http::parse_expected_text(text).map_err(|e| e.message)
}

fn parse_instant(text: &str) -> Result<redress_schemas::Timestamp, String> {
    redress_schemas::Timestamp::parse(text).map_err(|e| e.to_string())
}

/// The largest `--clock-skew-max`: a clock a day off is broken, not skewed, and a larger window would let
/// "happened tomorrow" through.
const CLOCK_SKEW_MAX_CEILING: Duration = Duration::from_secs(24 * 3600);

fn parse_clock_skew(text: &str) -> Result<Duration, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a number with a unit (e.g. 90s, 5m)"))?;
    let skew = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        _ => return Err(format!("{text:?} needs a unit: ms, s, m or h")),
    };
    if skew > CLOCK_SKEW_MAX_CEILING {
        return Err(format!("{text:?} is more than the largest allowed clock skew, 24h"));
    }
    Ok(skew)
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{text:?} is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

/// A positive duration: `500ms`, `10s`, `2m`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 500ms, 10s or 2m");
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000)
    } else {
        (text, 1_000)
    };
    let number: u64 = number.trim().parse().map_err(|_| bad())?;
    match number.checked_mul(unit_ms) {
        Some(0) | None => Err(bad()),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// A command's failure, with its exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The store refused or failed. Handling: exit 1 with its message.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Anything else that stops the command. Handling: exit 1 with its message.
    #[error("{0}")]
    Failed(String),
    /// The hash chain is broken. Handling: exit 3 naming the position.
    #[error("verification failed at position {position}: {reason}")]
    Verification { position: u64, reason: String },
    /// Audit evidence does not hold: a checkpoint's signature fails, or it is signed by another key than
    /// the one given. Handling: exit 3.
    #[error("verification failed: {0}")]
    Evidence(String),
    /// Standard output was closed by its reader (`| head`). Handling: stop, exit 0, print nothing.
    #[error("standard output was closed")]
    StdoutClosed,
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::StdoutClosed => 0,
            CliError::Verification { .. } | CliError::Evidence(_) => 3,
            _ => 1,
        }
    }
}

pub(crate) fn failed(context: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!("{context}: {e}"))
}

/// Parses the arguments, runs the command, returns the exit code.
///
/// Everything the process creates from here on is readable by its owner only (see `files`).
pub fn main() -> ExitCode {
    crate::files::restrict_umask();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("REDRESS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Its fallback for a failed write is a panicking `eprintln!`: a closed stderr must not crash us.
        .log_internal_errors(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&format!("cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !matches!(e, CliError::StdoutClosed) {
                report_error(&e.to_string());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

impl Cli {
    /// The name this process keeps its projection state under in a PostgreSQL store.
    pub fn server_name(&self) -> String {
        self.server_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            let host = host.trim();
            let command = match &self.command {
                Command::Serve { listen, .. } => listen.rsplit(':').next().unwrap_or("serve").to_owned(),
                _ => "cli".to_owned(),
            };
            format!("{}:{command}", if host.is_empty() { "redress" } else { host })
        })
    }

    /// The store options the flags give (the engine's defaults for those not given).
    pub fn store_options(&self) -> StoreOptions {
        let options = StoreOptions::default().with_disk_free_bytes_min(self.disk_reserve_bytes);
        self.clock_skew_max.map_or(options.clone(), |skew| options.with_clock_skew_max(skew))
    }
}

/// `error: …` on standard error; nothing if standard error is closed too (`eprintln!` would panic).
fn report_error(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
}

/// Opens the store the flags name.
pub async fn open_store(cli: &Cli) -> Result<Arc<dyn EventStore>, CliError> {
    Ok(open_backend(cli).await?.0)
}

/// The store the flags name (personal data sealed when it has a key table), for PostgreSQL the
/// checkpoint table beside it, and the store's erasure when it has a key table.
type Backend = (Arc<dyn EventStore>, Option<Arc<dyn FoldStores>>, Option<Arc<ShreddableStore>>);

/// Opens the store the flags name, and for PostgreSQL the checkpoint table beside it.
async fn open_backend(cli: &Cli) -> Result<Backend, CliError> {
    match &cli.store {
        Some(url) => {
            let store = redress_engine::PostgresStore::connect_with(url, &cli.pg_schema, cli.store_options()).await?;
            let checkpoints: Arc<dyn FoldStores> =
                Arc::new(redress_projections::PostgresFoldStores::new(&store, &cli.server_name()));
            let keys = redress_engine::personal::PostgresKeyTable::open(&store).await?;
            let shreddable = Arc::new(ShreddableStore::new(Arc::new(store), Arc::new(keys)));
            Ok((Arc::clone(&shreddable) as Arc<dyn EventStore>, Some(checkpoints), Some(shreddable)))
        }
        None => {
            private_data_dir(&cli.data_dir);
            let (dir, options) = (cli.data_dir.clone(), cli.store_options());
            let store = tokio::task::spawn_blocking(move || SledStore::open_with(dir, options))
                .await
                .map_err(|e| failed("opening the store", e))??;
            // The key table lives beside the log, in files sled's log structure cannot keep copies of.
            let keys = FileKeyTable::open(&cli.data_dir.join("keys"))?;
            let shreddable = Arc::new(ShreddableStore::new(Arc::new(store), Arc::new(keys)));
            Ok((Arc::clone(&shreddable) as Arc<dyn EventStore>, None, Some(shreddable)))
        }
    }
}

/// Creates the data directory owner-only (0700), and takes group and other permissions off whatever
/// an older version or a looser umask left in it. Failing to (a directory of another user, a
/// read-only file system) is logged, not fatal: opening the store then reports what matters.
fn private_data_dir(dir: &Path) {
    if let Err(error) = crate::files::create_private_dir(dir) {
        tracing::warn!(%error, dir = %dir.display(), "cannot make the data directory owner-only");
    }
}

fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})"
    } else {
        "{msg:>10} {spinner} {pos} ({per_sec})"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar.set_message(what.to_owned());
    bar
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Openapi => {
            say!("{}", http::openapi_json());
            Ok(())
        }
        Command::Verify { file: Some(file), checkpoint: Some(checkpoint), public_key } => {
            crate::audit::verify_file_against(file, checkpoint, public_key.as_ref())
        }
        Command::Verify { file: Some(file), checkpoint: None, .. } => verify_file(file),
        Command::Serve { listen, demo, policy, tokens_file, shutdown_grace_seconds, limits, audit, .. } => {
            let grace = std::time::Duration::from_secs(*shutdown_grace_seconds);
            serve(&cli, listen, *demo, policy, tokens_file, grace, limits.limits(), audit).await
        }
        command => {
            let (store, database_checkpoints, erasure) = open_backend(&cli).await?;
            let result = match command {
                Command::Append { stream, expected_version, file } => {
                    append(&*store, stream, expected_version, file).await
                }
                Command::Read { stream, from_version, backward } => {
                    read(&*store, stream, *from_version, *backward).await
                }
                Command::Tail { from_position, event_type } => tail(store.clone(), *from_position, event_type).await,
                Command::Verify { file: None, .. } => verify(&*store).await,
                Command::Checkpoint { signing } => {
                    let signer = signing.signer(&cli.data_dir)?;
                    crate::audit::checkpoint(&*store, &signer).await
                }
                Command::Export { output, keys } => {
                    export(&*store, output).await?;
                    match keys {
                        Some(keys) => export_keys(erasure.as_deref(), keys).await,
                        None => Ok(()),
                    }
                }
                Command::Import { input, keys } => {
                    if let Some(keys) = keys {
                        import_keys(erasure.as_deref(), keys).await?;
                    }
                    import(&*store, input).await
                }
                Command::Erase { customer, requested_by, legal_basis } => {
                    erase(&cli, &store, database_checkpoints, erasure.as_deref(), customer, requested_by, legal_basis)
                        .await
                }
                Command::Replay { as_of, projection, basis, params } => {
                    replay(Arc::clone(&store), *as_of, projection, basis, params).await
                }
                Command::Projections { action } => {
                    let keys = erasure.as_ref().map(|e| Arc::clone(e.keys()));
                    projections_command(&cli, &store, database_checkpoints, keys, action).await
                }
                Command::Suggest { eval: Some(cases), history, min_confidence, .. } => {
                    suggest_eval(&*store, cases, history.as_deref(), *min_confidence).await
                }
                Command::Suggest { text, category, k, min_confidence, lang, .. } => {
                    let text = text.as_deref().unwrap_or_default();
                    suggest(Arc::clone(&store), text, category, *k, *min_confidence, lang).await
                }
                Command::Demo { complaints, seed, no_tour } => {
                    demo_and_tour(Arc::clone(&store), *complaints, *seed, !*no_tour).await
                }
                Command::Subscriptions { action } => crate::subscription_commands::run(&cli, &store, action).await,
                Command::Serve { .. } | Command::Openapi | Command::Verify { file: Some(_), .. } => {
                    unreachable!("handled above")
                }
            };
            let closed = store.close().await.map_err(|e| failed("closing the store", e));
            result.and_then(|ok| closed.map(|()| ok))
        }
    }
}

async fn append(
    store: &dyn EventStore,
    stream: &StreamName,
    expected: &Option<redress_engine::ExpectedVersion>,
    file: &Option<PathBuf>,
) -> Result<(), CliError> {
    let body = match file {
        Some(path) => std::fs::read(path).map_err(|e| failed(&path.display().to_string(), e))?,
        None => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .map_err(|e| failed("reading standard input", e))?;
            buf
        }
    };
    let (body_expected, events) =
        http::parse_append_body(&body, stream).map_err(|e| CliError::Failed(format!("{}: {}", e.code, e.message)))?;
    let expected = expected.unwrap_or(body_expected);
    let by = RecordedBy::local(&os_user());
    let events = events.into_iter().map(|event| event.recorded_by(by.clone())).collect();
    let outcome = store.append(stream, expected, events).await?;
    let r = outcome.result;
    say!(
        "{}",
        serde_json::json!({"first_version": r.first_version, "last_version": r.last_version,
            "first_position": r.first_position.0, "last_position": r.last_position.0,
            "idempotent_retry": outcome.idempotent_retry})
    );
    Ok(())
}

/// The operating-system user running this command, for `recorded_by` = `local:<user>`: the name of the
/// process's user id in `/etc/passwd` (not `$USER`, which the caller sets at will), `uid-<n>` when the id
/// has no entry there, and `$USER` only where there is no `/proc` (not Linux).
fn os_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(me) = std::fs::metadata("/proc/self") {
            let uid = me.uid().to_string();
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let name = passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_owned())
            });
            return name.unwrap_or_else(|| format!("uid-{uid}"));
        }
    }
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default()
}

async fn read(store: &dyn EventStore, stream: &StreamName, from: Option<u64>, backward: bool) -> Result<(), CliError> {
    let (direction, mut from) = if backward {
        (Direction::Backward, from.unwrap_or(u64::MAX))
    } else {
        (Direction::Forward, from.unwrap_or(0))
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    loop {
        let page = store.read_stream(stream, from, direction, 1_000).await?;
        for event in &page.events {
            writeln!(out, "{}", event.to_json()).map_err(stdout_error)?;
        }
        match page.next {
            Some(next) => from = next,
            None => break,
        }
    }
    out.flush().map_err(stdout_error)
}

async fn tail(store: Arc<dyn EventStore>, from: u64, event_type: &Option<String>) -> Result<(), CliError> {
    let filter = match event_type {
        None => EventFilter::all(),
        Some(list) => EventFilter::types(
            list.split(',')
                .map(|n| {
                    redress_schemas::EventType::from_name(n.trim())
                        .ok_or_else(|| failed("--event-type", format!("unknown {n:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    // Registered once, before the loop: a Ctrl-C (or SIGTERM) that arrives while an event is being
    // printed is kept for the next look. A listener made anew in each turn missed it, and tail went on.
    let stop = ShutdownSignals::install()?.recv();
    tokio::pin!(stop);
    let mut subscription = Subscription::new(store, Position(from), filter);
    loop {
        tokio::select! {
            next = subscription.next() => {
                let event = next?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", event.to_json()).and_then(|_| out.flush()).map_err(stdout_error)?;
            }
            _ = &mut stop => return Ok(()),
        }
    }
}

fn report(verification: Verification) -> Result<(), CliError> {
    match verification {
        Verification::Intact { events, head } => {
            match head {
                Some((position, hash)) => say!("ok: {events} events, head position {position}, head hash {hash}"),
                None => say!("ok: the log is empty"),
            }
            Ok(())
        }
        Verification::Broken { position, reason } => Err(CliError::Verification { position: position.0, reason }),
    }
}

fn verify_file(file: &Path) -> Result<(), CliError> {
    let handle = std::fs::File::open(file).map_err(|e| failed(&file.display().to_string(), e))?;
    let bar = progress(None, "verify");
    let result = verify_export(std::io::BufReader::new(handle), |n| bar.set_position(n));
    bar.finish_and_clear();
    report(result.map_err(|e| failed(&file.display().to_string(), e))?)
}

async fn verify(store: &dyn EventStore) -> Result<(), CliError> {
    let total = store.head().await?.map_or(0, |h| h.position.0 + 1);
    let bar = progress(Some(total), "verify");
    let result = verify_store(store, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    report(result?)
}

/// A new owner-only file beside `output` (`.partial`), like the store it comes from; see [`finish_output`].
fn private_output(output: &Path) -> Result<(BufWriter<std::fs::File>, PathBuf), CliError> {
    let temporary = output.with_extension("partial");
    let file = crate::files::private_file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(|e| failed(&temporary.display().to_string(), e))?;
    Ok((BufWriter::new(file), temporary))
}

/// Syncs what [`private_output`] opened and renames it to `output`: a reader sees all of it or nothing.
fn finish_output(out: BufWriter<std::fs::File>, temporary: &Path, output: &Path) -> Result<(), CliError> {
    let file = out.into_inner().map_err(|e| failed("writing the export", e.error()))?;
    file.sync_all().map_err(|e| failed("syncing the export", e))?;
    std::fs::rename(temporary, output).map_err(|e| failed("renaming the export", e))
}

async fn export(store: &dyn EventStore, output: &Path) -> Result<(), CliError> {
    let total = store.head().await?.map_or(0, |h| h.position.0 + 1);
    let bar = progress(Some(total), "export");
    let (mut out, temporary) = private_output(output)?;
    let mut from = Position(0);
    loop {
        let page = store.read_written(from, 5_000).await?;
        for event in &page.events {
            writeln!(out, "{}", event.to_json()).map_err(|e| failed("writing the export", e))?;
        }
        bar.inc(page.events.len() as u64);
        match page.next {
            Some(next) => from = Position(next),
            None => break,
        }
    }
    finish_output(out, &temporary, output)?;
    bar.finish_and_clear();
    say!("exported {} events to {}", bar.position(), output.display());
    Ok(())
}

async fn import(store: &dyn EventStore, input: &Path) -> Result<(), CliError> {
    // Verify the whole file first, so a broken export writes nothing (each chunk below is atomic, and
    // the first one is refused unless the file continues this store's log).
    verify_file(input)?;
    let handle = std::fs::File::open(input).map_err(|e| failed(&input.display().to_string(), e))?;
    let bar = progress(None, "import");
    let mut chunk = Vec::with_capacity(1_000);
    for (index, line) in std::io::BufReader::new(handle).lines().enumerate() {
        let line = line.map_err(|e| failed("reading the export", e))?;
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| failed(&format!("line {line_number}"), e))?;
        let event = WrittenEvent::from_json(value).map_err(|e| failed(&format!("line {line_number}"), e))?;
        chunk.push(event);
        if chunk.len() == 1_000 {
            store.import(std::mem::take(&mut chunk)).await?;
            bar.inc(1_000);
        }
    }
    let rest = chunk.len() as u64;
    if !chunk.is_empty() {
        store.import(chunk).await?;
    }
    bar.inc(rest);
    bar.finish_and_clear();
    let head = store.head().await?;
    match head {
        Some(h) => say!("imported {} events; head position {}, head hash {}", bar.position(), h.position, h.hash),
        None => say!("imported nothing: the file holds no events"),
    }
    Ok(())
}

async fn replay(
    store: Arc<dyn EventStore>,
    as_of: redress_schemas::Timestamp,
    name: &str,
    basis: &str,
    params: &[(String, String)],
) -> Result<(), CliError> {
    let basis = if basis == "occurred" { Basis::Occurred } else { Basis::Recorded };
    let mut query = Query::at(as_of);
    for (k, v) in params {
        query = query.with(k, v);
    }
    let bar = progress(None, "replay");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let answer = redress_projections::replay_builtin(name, store, &SlaPolicy::default(), basis, &query).await;
    bar.finish_and_clear();
    let answer = answer.map_err(|e| failed("replay", e))?;
    say!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(())
}

async fn projections_command(
    cli: &Cli,
    store: &Arc<dyn EventStore>,
    database: Option<Arc<dyn FoldStores>>,
    keys: Option<Arc<dyn KeyTable>>,
    action: &ProjectionsAction,
) -> Result<(), CliError> {
    let projections = start_projections(cli, store, database, keys, &SlaPolicy::default()).await?;
    if let ProjectionsAction::Rebuild { name } = action {
        projections.rebuild(name).map_err(|e| failed("rebuild", e))?;
        // Let the rebuild begin before waiting for it to catch up.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let statuses = settle(store, &projections).await?;
    // Saved before anything is printed, so a reader that stops early loses nothing.
    projections.stop().await;
    for status in statuses {
        say!("{}", serde_json::to_string(&status).unwrap_or_default());
    }
    Ok(())
}

/// Waits until every fold runs (or failed) with no lag, showing progress; returns their statuses.
async fn settle(
    store: &Arc<dyn EventStore>,
    projections: &Folds,
) -> Result<Vec<redress_projections::ProjectionStatus>, CliError> {
    let head = store.head().await?.map_or(0, |h| h.position.0 + 1);
    let bar = progress(Some(head), "catch up");
    let statuses = loop {
        let statuses = projections.statuses().await;
        let behind = statuses.iter().map(|s| s.lag).max().unwrap_or(0);
        bar.set_position(head.saturating_sub(behind));
        let settled = statuses.iter().all(|s| {
            matches!(s.health, redress_projections::Health::Running | redress_projections::Health::Failed { .. })
                && s.lag == 0
        });
        if settled {
            bar.finish_and_clear();
            break statuses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    Ok(statuses)
}

/// `redress erase`: the same erasure as `POST /customers/{id}/erase`, then every fold rebuilt from
/// the log and saved, so no checkpoint keeps the erased texts.
async fn erase(
    cli: &Cli,
    store: &Arc<dyn EventStore>,
    database: Option<Arc<dyn FoldStores>>,
    erasure: Option<&ShreddableStore>,
    customer: &str,
    requested_by: &str,
    legal_basis: &str,
) -> Result<(), CliError> {
    let erasure =
        erasure.ok_or_else(|| CliError::Failed("this store has no key table: nothing can be erased".into()))?;
    let body = serde_json::json!({"requested_by": requested_by, "legal_basis": legal_basis}).to_string();
    let request = http::parse_erasure_body(body.as_bytes()).map_err(|e| CliError::Failed(e.message))?;
    let mut metadata = redress_schemas::Metadata::default();
    metadata.0.insert("actor".into(), request.requested_by.clone());
    metadata.0.insert("source".into(), "redress-cli".into());
    let by = RecordedBy::local(&os_user());
    let outcome = erasure.erase(customer, &request.requested_by, &request.legal_basis, metadata, by).await?;
    let keys = Some(Arc::clone(erasure.keys()));
    let projections = start_projections(cli, store, database, keys, &SlaPolicy::default()).await?;
    for view in projections.names() {
        let _ = projections.rebuild(view);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    settle(store, &projections).await?;
    projections.stop().await;
    say!(
        "{}",
        serde_json::json!({"customer_id": customer, "pseudonym": redress_engine::personal::KeyId::of_customer(customer).pseudonym(),
            "position": outcome.result.last_position.0, "projections_rebuilt": true})
    );
    Ok(())
}

/// `redress export --keys`: the key table as JSON Lines, owner-only, written whole or not at all.
async fn export_keys(erasure: Option<&ShreddableStore>, output: &Path) -> Result<(), CliError> {
    let erasure = erasure.ok_or_else(|| CliError::Failed("this store has no key table to export".into()))?;
    let records = erasure.keys().export().await?;
    let (mut out, temporary) = private_output(output)?;
    for record in &records {
        let line = serde_json::to_string(record).map_err(|e| failed("writing the keys", e))?;
        writeln!(out, "{line}").map_err(|e| failed("writing the keys", e))?;
    }
    finish_output(out, &temporary, output)?;
    say!("exported {} keys to {}", records.len(), output.display());
    Ok(())
}

/// `redress import --keys`: takes a key table written by `export --keys` (every line checked first).
async fn import_keys(erasure: Option<&ShreddableStore>, input: &Path) -> Result<(), CliError> {
    let erasure = erasure.ok_or_else(|| CliError::Failed("this store has no key table to import into".into()))?;
    let text = std::fs::read_to_string(input).map_err(|e| failed(&input.display().to_string(), e))?;
    let records = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| serde_json::from_str(line).map_err(|e| failed(&format!("keys line {}", index + 1), e)))
        .collect::<Result<Vec<redress_engine::personal::KeyRecord>, _>>()?;
    let added = erasure.keys().import(records).await?;
    say!("imported {added} keys from {}", input.display());
    Ok(())
}

fn parse_confidence(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(c) if (0.0..=1.0).contains(&c) => Ok(c),
        _ => Err(format!("{value:?} is not a number in 0..=1")),
    }
}

async fn suggest(
    store: Arc<dyn EventStore>,
    text: &str,
    category: &Option<String>,
    k: u64,
    min_confidence: Option<f64>,
    lang: &Option<String>,
) -> Result<(), CliError> {
    let mut query = Query::at(redress_schemas::Timestamp::now()).with("text", text).with("k", &k.to_string());
    if let Some(category) = category {
        query = query.with("category", category);
    }
    if let Some(lang) = lang {
        query = query.with("lang", lang);
    }
    if let Some(min) = min_confidence {
        query = query.with("min_confidence", &min.to_string());
    }
    let answer =
        redress_projections::replay_builtin("suggestions", store, &SlaPolicy::default(), Basis::Recorded, &query)
            .await
            .map_err(|e| failed("suggest", e))?;
    say!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    Ok(())
}

/// `redress suggest --eval`: folds the store's library (and `history`, in memory only), asks for every
/// case's suggestions and prints the figures and the misses.
async fn suggest_eval(
    store: &dyn EventStore,
    cases: &Path,
    history: Option<&Path>,
    min_confidence: Option<f64>,
) -> Result<(), CliError> {
    use redress_projections::library::eval::{evaluate, learn_history, parse_cases};
    use redress_projections::library::{LibraryFold, LibraryState};
    use redress_projections::Fold;
    let read = |path: &Path, needs_answer: bool| {
        let text = std::fs::read_to_string(path).map_err(|e| failed(&path.display().to_string(), e))?;
        parse_cases(&text, needs_answer).map_err(|e| failed(&path.display().to_string(), e))
    };
    let cases = read(cases, false)?;
    let history = history.map(|h| read(h, true)).transpose()?.unwrap_or_default();
    let fold = LibraryFold::default();
    let mut state = LibraryState::default();
    let filter = EventFilter { event_types: fold.event_types() };
    let mut from = Position(0);
    loop {
        let page = store.read_all(from, 10_000, &filter).await?;
        for event in &page.events {
            // An event the fold cannot apply is skipped, as the running fold does (an anomaly).
            let _ = fold.apply(&mut state, event);
        }
        match page.next {
            Some(next) if !page.events.is_empty() => from = Position(next),
            _ => break,
        }
    }
    if state.answers().library().active().next().is_none() {
        return Err(CliError::Failed("suggest --eval: the store holds no active standard answer".into()));
    }
    learn_history(&fold, &mut state, &history).map_err(|e| failed("--history", e.0))?;
    let report = evaluate(&state, &cases, min_confidence.unwrap_or(fold.confidence_min));
    say!("cases {}  top-1 {:.3}  recall@3 {:.3}  MRR {:.3}", report.cases, report.top1, report.recall_at_3, report.mrr);
    if report.off_topic > 0 {
        say!("off-topic {}  answered {:.3}", report.off_topic, report.off_topic_answered);
    }
    say!("misses {}", report.misses_count);
    for miss in &report.misses {
        say!("{}", serde_json::to_string(miss).unwrap_or_default());
    }
    Ok(())
}

/// `redress demo`: loads the sample history, prints its summary and the tour.
async fn demo_and_tour(
    store: Arc<dyn EventStore>,
    complaints: usize,
    seed: u64,
    with_tour: bool,
) -> Result<(), CliError> {
    let (summary, end) = demo_ending_now(&*store, complaints, seed).await?;
    say!("{summary}\n");
    if !with_tour {
        return Ok(());
    }
    tour(store, end).await
}

/// What the projections show of the sample history at `now` (the instant the summary judged at: a
/// deadline passing between the last event and the tour must not make the two disagree): a few answers a
/// desk would look at first.
async fn tour(store: Arc<dyn EventStore>, now: redress_schemas::Timestamp) -> Result<(), CliError> {
    let mut folds = Folds::new(store, Arc::new(redress_projections::MemoryFoldStores::default()));
    redress_projections::add_builtins(&mut folds, &SlaPolicy::default()).await.map_err(|e| failed("tour", e))?;
    folds.start();
    folds.wait_caught_up(std::time::Duration::from_secs(300)).await;
    let folds = &folds;
    let ask = |name: &'static str, query: Query| async move { folds.query(name, &query).await };
    let open = ask("open-complaints", Query::at(now)).await.map_err(|e| failed("tour", e))?;
    say!("Open complaints: {} ({} overdue). The most urgent:", open["count"], open["overdue_count"]);
    for c in open["complaints"].as_array().into_iter().flatten().take(3) {
        say!(
            "  {} {} {} [{}] overdue: {}",
            c["complaint_id"].as_str().unwrap_or(""),
            c["severity"].as_str().unwrap_or(""),
            c["category"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["overdue_reasons"]
        );
    }
    let repeats = ask("repeat-issues", Query::at(now)).await.map_err(|e| failed("tour", e))?;
    say!(
        "\nRepeat issues (90 days): {} customers came back about the same thing; reopen rate {}.",
        repeats["repeat_complaints"].as_array().map_or(0, Vec::len),
        repeats["reopen_rate"]
    );
    for cause in repeats["root_causes"].as_array().into_iter().flatten().take(3) {
        say!(
            "  {} × {} ({}, {})",
            cause["count"],
            cause["root_cause"].as_str().unwrap_or(""),
            cause["responsible_department"].as_str().unwrap_or(""),
            cause["trend"].as_str().unwrap_or("")
        );
    }
    let satisfaction =
        ask("satisfaction", Query::at(now).with("group_by", "department")).await.map_err(|e| failed("tour", e))?;
    say!("\nSatisfaction by department (share of revisits graded 4-5; acknowledgement deadlines met):");
    for g in satisfaction["groups"].as_array().into_iter().flatten() {
        say!(
            "  {:<22} {:>6} {:>6}",
            g["department"].as_str().unwrap_or(""),
            g["share_satisfied"],
            g["acknowledgement_deadlines_met"]
        );
    }
    let text = "打印机双面打印总是卡纸";
    let suggestions = ask("suggestions", Query::at(now).with("text", text).with("k", "3")).await;
    if let Ok(suggestions) = suggestions {
        say!("\nSuggested standard answers for \"{text}\":");
        for s in suggestions["suggestions"].as_array().into_iter().flatten() {
            say!(
                "  {} {} ({})",
                s["answer_id"].as_str().unwrap_or(""),
                s["title"].as_str().unwrap_or(""),
                s["why"].as_str().unwrap_or("")
            );
        }
    }
    if let Ok(gaps) = ask("answer-gaps", Query::at(now)).await {
        say!("\nThemes no standard answer covers yet: {}", gaps["gaps"].as_array().map_or(0, Vec::len));
    }
    say!("\nNext: `redress serve` and open /projections/open-complaints?overdue=true (README has the tour).");
    Ok(())
}

/// The standard-answer library the demo publishes: REDRESS_QA_LIBRARY, else the shared data set.
fn qa_library_path() -> PathBuf {
    std::env::var_os("REDRESS_QA_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/qa-standard-answers.jsonl"))
}

/// Loads the sample history into `store` (which must be empty) and returns a summary.
pub async fn demo(store: &dyn EventStore, complaints: usize, seed: u64) -> Result<String, CliError> {
    demo_ending_now(store, complaints, seed).await.map(|(summary, _)| summary)
}

/// [`demo`], also returning the instant its summary judges open and overdue complaints at (the last
/// event's).
async fn demo_ending_now(
    store: &dyn EventStore,
    complaints: usize,
    seed: u64,
) -> Result<(String, redress_schemas::Timestamp), CliError> {
    if store.head().await?.is_some() {
        return Err(CliError::Failed("the store is not empty: the demo loads into an empty store".into()));
    }
    let path = qa_library_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| failed(&format!("the standard-answer library {} (set REDRESS_QA_LIBRARY)", path.display()), e))?;
    let answers = crate::demo::parse_standard_answers(&text).map_err(|e| failed("the standard-answer library", e))?;
    // The sample year ends today, so "now" sees it as history, with the newest complaints still open.
    let now = redress_schemas::Timestamp::now().unix_nanos();
    let start = redress_schemas::Timestamp::from_unix_nanos(now - now % 1_000_000_000).plus_seconds(-365 * 86_400);
    let config = crate::demo::DemoConfig { seed, complaints, start, ..crate::demo::DemoConfig::default() };
    // Streamed, in bounded memory: a million complaints are about 23 million events.
    let appends = crate::demo::stream(&config, &answers);
    let bar = progress(None, "demo");
    let summary = crate::demo::load_stream(store, appends, |done| bar.set_position(done as u64)).await?;
    bar.finish_and_clear();
    // The summary judges what is open and overdue at the last event's instant (whole seconds). The tour
    // asks at the log's last `recorded_at`, which is that instant or a few nanoseconds later (appends
    // within one second are recorded a nanosecond apart): earlier, the query would be a replay that
    // leaves those last appends out; and no deadline (whole seconds) falls between the two.
    let mut judged_at = summary.last_event_at.unwrap_or_else(|| config.end());
    if let Some(head) = store.head().await? {
        let last = store.read_all(head.position, 1, &redress_engine::EventFilter::all()).await?;
        if let Some(event) = last.events.first() {
            judged_at = judged_at.max(event.recorded_at);
        }
    }
    Ok((serde_json::to_string_pretty(&summary).unwrap_or_else(|_| format!("{summary:?}")), judged_at))
}

// The flags of `Command::Serve`, each used once; a struct for them would only repeat that variant.
#[allow(clippy::too_many_arguments)]
async fn serve(
    cli: &Cli,
    listen: &str,
    demo_data: bool,
    policy: &Option<PathBuf>,
    tokens_file: &Option<PathBuf>,
    grace: std::time::Duration,
    mut limits: ServeLimits,
    audit: &ServeAuditArgs,
) -> Result<(), CliError> {
    let signals = ShutdownSignals::install()?;
    let policy = match policy {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| failed(&path.display().to_string(), e))?;
            SlaPolicy::from_json(&text).map_err(|e| failed(&path.display().to_string(), e))?
        }
        // The demo desk works business hours for low and normal severity.
        None if demo_data => crate::demo::policy(),
        None => SlaPolicy::default(),
    };
    let tokens = match (tokens_file, std::env::var("REDRESS_TOKENS")) {
        (Some(path), _) => Tokens::from_file(path).map_err(|e| failed("tokens", e))?,
        (None, Ok(text)) if !text.trim().is_empty() => Tokens::parse(&text).map_err(|e| failed("REDRESS_TOKENS", e))?,
        _ => {
            let (token, created) =
                http::admin_token_file(&cli.data_dir).map_err(|e| failed("the admin token file", e))?;
            let path = cli.data_dir.join("admin.token");
            // Standard output that is not a terminal is usually a log file or a journal, which other
            // users may be able to read: the token then stays in its 0600 file only.
            if created && std::io::stdout().is_terminal() {
                say!("admin token (printed once; kept in {}): {token}", path.display());
            } else if created {
                say!(
                    "admin token: created in {} (readable by its owner only; printed only to a terminal)",
                    path.display()
                );
            } else {
                say!("admin token: in {}", path.display());
            }
            Tokens::single_admin(&token)
        }
    };
    let (store, database_checkpoints, erasure) = open_backend(cli).await?;
    // Before serving: a server with another key than the store's checkpoints must not start a second sequence.
    let signer = Arc::new(audit.signing.signer(&cli.data_dir)?);
    redress_engine::check_signer(&*store, &signer).await.map_err(|e| failed("checkpoints", e))?;
    if demo_data && store.head().await?.is_none() {
        let summary = demo(&*store, 3000, 7).await?;
        tracing::info!("demo history loaded: {}", summary.replace('\n', " "));
    }
    if limits.enforced {
        let (connections_max, open_files) = http::connections_max_within_open_files(limits.connections_max);
        if let Some(open_files) = open_files {
            tracing::warn!(
                requested = limits.connections_max,
                connections_max,
                open_files,
                "the open-files limit (ulimit -n) leaves room for fewer connections; serving at most {connections_max}"
            );
        }
        limits.connections_max = connections_max;
    } else {
        tracing::warn!("serving without the edge limits (REDRESS_BENCH_UNLIMITED_EDGE): for benchmarks only");
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| failed(&format!("listening on {listen}"), e))?;
    let address = listener.local_addr().map_err(|e| failed("listening", e))?;
    say!("Redress is listening on http://{address}");
    // Load the Chinese word dictionary now, not in the first suggestion request.
    let _ = tokio::task::spawn_blocking(redress_projections::text::warm_up).await;
    let keys = erasure.as_ref().map(|e| Arc::clone(e.keys()));
    let projections = Arc::new(start_projections(cli, &store, database_checkpoints, keys, &policy).await?);
    let (stop_streams, streams_stopped) = tokio::sync::watch::channel(false);
    let subscriptions = match &cli.command {
        Command::Serve { subscriptions, .. } => start_subscriptions(cli, &store, subscriptions).await?,
        _ => return Err(failed("serving", "serve runs only as `redress serve`")),
    };
    if let Some(alerts) = policy.alerts().cloned() {
        tokio::spawn(crate::alerts::run_alerts(
            Arc::clone(&projections),
            subscriptions.clone(),
            alerts,
            streams_stopped.clone(),
        ));
    }
    let mut state =
        AppState::new(Arc::clone(&store), Arc::clone(&projections), tokens, policy, streams_stopped.clone())
            .with_limits(limits)
            .with_signer(Arc::clone(&signer))
            .with_subscriptions(subscriptions.clone());
    if let Some(erasure) = erasure {
        state = state.with_erasure(erasure);
    }
    tokio::spawn(redress_engine::run_checkpoints(
        Arc::clone(&store),
        signer,
        audit.checkpoint_interval,
        streams_stopped,
    ));
    let watched = Arc::clone(&store);
    let shutdown = async move {
        signals.recv().await;
        start_shutdown_watchdog(grace, watched);
    };
    http::serve(listener, state, stop_streams, shutdown).await.map_err(|e| failed("serving", e))?;
    tracing::info!("stopped accepting; saving projections and closing the store");
    subscriptions.stop();
    projections.stop().await;
    store.close().await.map_err(|e| failed("closing the store", e))
}

/// The audit evidence flags of `serve` (v1.1).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeAuditArgs {
    #[command(flatten)]
    pub signing: crate::audit::SigningArgs,
    /// How often the head is signed while events arrive (API.md: at least every minute).
    #[arg(long, env = "REDRESS_CHECKPOINT_INTERVAL", default_value = "60s", value_parser = parse_checkpoint_interval)]
    pub checkpoint_interval: Duration,
}

/// A checkpoint interval: a duration of at most a minute (API.md's "at least every minute").
fn parse_checkpoint_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval > redress_engine::CHECKPOINT_INTERVAL_DEFAULT {
        return Err(format!("{text:?} is longer than a minute; API.md asks for a checkpoint at least every minute"));
    }
    Ok(interval)
}

/// Opens the subscriptions ([`open_subscriptions`]) and starts their webhook deliveries.
async fn start_subscriptions(
    cli: &Cli,
    store: &Arc<dyn EventStore>,
    args: &SubscriptionArgs,
) -> Result<redress_subscriptions::Subscriptions, CliError> {
    let subscriptions = open_subscriptions(cli, store, args.config()).await?;
    subscriptions.start().await.map_err(|e| failed("subscriptions", e))?;
    Ok(subscriptions)
}

/// Opens the subscriptions beside the projections' state — `<data-dir>/subscriptions` for the embedded
/// store, tables in the same schema for PostgreSQL — without starting anything.
pub(crate) async fn open_subscriptions(
    cli: &Cli,
    store: &Arc<dyn EventStore>,
    config: redress_subscriptions::Config,
) -> Result<redress_subscriptions::Subscriptions, CliError> {
    let ledgers: Arc<dyn redress_subscriptions::Ledgers> = match &cli.store {
        Some(url) => {
            // A connection of its own (a small pool), so subscription row locks never wait behind appends.
            let pg = redress_engine::PostgresStore::connect_with(url, &cli.pg_schema, cli.store_options()).await?;
            Arc::new(redress_subscriptions::PostgresLedgers::open(&pg).await.map_err(|e| failed("subscriptions", e))?)
        }
        None => Arc::new(
            redress_subscriptions::SledLedgers::open(&cli.data_dir.join("subscriptions"))
                .map_err(|e| failed("subscriptions", e))?,
        ),
    };
    redress_subscriptions::Subscriptions::new(Arc::clone(store), ledgers, config)
        .map_err(|e| failed("subscriptions", e))
}

/// Opens the built-in folds at their checkpoints and starts feeding them: state beside the store,
/// `<data-dir>/projections` for the embedded store, the `fold_*` tables of the same schema for
/// PostgreSQL (`database`).
async fn start_projections(
    cli: &Cli,
    store: &Arc<dyn EventStore>,
    database: Option<Arc<dyn FoldStores>>,
    keys: Option<Arc<dyn KeyTable>>,
    policy: &SlaPolicy,
) -> Result<Folds, CliError> {
    let stores: Arc<dyn FoldStores> = match database {
        Some(stores) => stores,
        None => Arc::new(
            SledFoldStores::open(&cli.data_dir.join("projections"), cli.disk_reserve_bytes / 2)
                .map_err(|e| failed("projection state", e))?,
        ),
    };
    // Folds keep personal texts: with a key table, their state is sealed per generation, so the
    // rebuild after an erasure leaves nothing readable behind (`SealedFoldStores`).
    let stores: Arc<dyn FoldStores> = match keys {
        Some(keys) => Arc::new(SealedFoldStores::new(stores, keys)),
        None => stores,
    };
    let mut folds = Folds::new(Arc::clone(store), stores);
    redress_projections::add_builtins(&mut folds, policy).await.map_err(|e| failed("projections", e))?;
    folds.start();
    Ok(folds)
}

/// Resolves on SIGTERM or SIGINT.
/// Bounds the shutdown that has just begun: if the process is still alive `grace` from now, it says
/// what it abandons and exits with status 1 — it never hangs holding the store's lock (a wedged disk,
/// a request that cannot finish). A thread, not a task: it must fire even if the runtime is stuck.
fn start_shutdown_watchdog(grace: std::time::Duration, store: Arc<dyn EventStore>) {
    let watchdog = std::thread::Builder::new().name("redress-shutdown-watchdog".into()).spawn(move || {
        std::thread::sleep(grace);
        eprintln!(
            "redress: shutdown did not finish within {} s (store: {:?}); exiting with status 1. Abandoned: \
             requests still in flight (an append among them gets no answer; its outcome is known to a retry with \
             the same event ids) and projection checkpoints not yet saved (they are rebuilt from the log)",
            grace.as_secs(),
            store.health()
        );
        std::process::exit(1);
    });
    if let Err(error) = watchdog {
        tracing::warn!(%error, "cannot start the shutdown watchdog; shutdown is unbounded");
    }
}

/// SIGTERM and Ctrl-C, registered when made: a signal that arrives while the server is still starting
/// is kept for later instead of killing the process (the default action).
struct ShutdownSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<ShutdownSignals, CliError> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate()).map_err(|e| failed("installing the SIGTERM handler", e))?,
            interrupt: signal(SignalKind::interrupt()).map_err(|e| failed("installing the SIGINT handler", e))?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        tracing::info!("shutdown requested");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_without_limit_flags_has_api_md_limits_and_each_flag_sets_its_own() {
        let Command::Serve { limits, .. } = Cli::parse_from(["redress", "serve"]).command else {
            panic!("serve parses as serve");
        };
        assert_eq!(limits.limits(), ServeLimits::default(), "the flags' defaults are ServeLimits::default()");
        let flags = [
            "--max-connections=7",
            "--max-requests-in-flight=8",
            "--header-read-timeout=500ms",
            "--body-read-timeout=2s",
            "--idle-timeout=1m",
            "--linger-timeout=3s",
            "--max-request-line-bytes=100",
            "--max-header-bytes=200",
            "--max-header-fields=9",
            "--max-body-bytes=300",
            "--bench-unlimited-edge",
        ];
        let Command::Serve { limits, .. } = Cli::parse_from(["redress", "serve"].into_iter().chain(flags)).command
        else {
            panic!("serve parses as serve");
        };
        let expected = ServeLimits {
            connections_max: 7,
            requests_in_flight_max: 8,
            header_read_timeout: Duration::from_millis(500),
            body_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
            linger_timeout: Duration::from_secs(3),
            request_line_bytes_max: 100,
            header_bytes_max: 200,
            header_fields_max: 9,
            body_bytes_max: 300,
            enforced: false,
        };
        assert_eq!(limits.limits(), expected);
    }

    #[test]
    fn durations_and_counts_must_be_positive() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        for bad in ["0s", "", "ms", "-1s", "1h", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("0").is_err() && parse_count("-1").is_err());
    }
}
