//! `redress subscriptions list|show|create|delete|retry-parked` (issue 12): the persistent subscriptions
//! of a data directory or a PostgreSQL store, edited and read through the same
//! `redress_subscriptions::Subscriptions` calls as `/subscriptions`, and answering with the same JSON.
//! Parse → call the service → render.
//!
//! The service runs here without webhook delivery (`Config::without_webhook_delivery`): delivering is
//! the server's work, and a command that POSTed to receivers until it exits would deliver beside it.

use crate::cli::{failed, say, Cli, CliError};
use redress_engine::EventStore;
use redress_subscriptions::limits::FETCH_EVENTS_MAX;
use redress_subscriptions::{Config, SubscriptionError, Subscriptions, WebhookHosts};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum SubscriptionsAction {
    /// Every subscription's state as JSON Lines (the JSON of `GET /subscriptions/{name}`).
    List,
    /// One subscription's definition (never its secret), position, lag, leases and parked count as JSON.
    /// Exit 1 if there is none of that name.
    Show { name: String },
    /// Create a subscription, or replace the definition of an existing one (its position, leases and
    /// parked events are kept), with the checks of `PUT /subscriptions/{name}`: a bad field exits 1
    /// naming it and writes nothing. Prints its state as JSON.
    Create(CreateArgs),
    /// Delete a subscription with its position, leases and parked events. Exit 1 if there is none.
    Delete { name: String },
    /// Put parked events back into delivery (lowest positions first, attempts reset) and print their
    /// positions as `{"retried": [...]}`.
    RetryParked {
        name: String,
        /// Parked events to put back, 1..=1000.
        #[arg(long, default_value_t = FETCH_EVENTS_MAX as u64,
              value_parser = clap::value_parser!(u64).range(1..=FETCH_EVENTS_MAX as u64))]
        limit: u64,
    },
}

/// The flags of `redress subscriptions create`: API.md's `PUT` body, field by field.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// `[a-z0-9_-]`, at most 64 bytes.
    pub name: String,
    /// Event types delivered, comma-separated (default: every type).
    #[arg(long, value_delimiter = ',')]
    pub event_types: Vec<String>,
    /// Where a new subscription starts: beginning (default), now, or a log position.
    #[arg(long)]
    pub start: Option<String>,
    /// Push to this http:// URL (its host must be on --webhook-hosts). Without it: pull only.
    #[arg(long, requires = "webhook_secret_file")]
    pub webhook_url: Option<String>,
    /// A file holding the webhook secret (16..=256 bytes; one trailing newline is ignored). A file, not
    /// a flag value, so the secret stays out of shell history and the process list.
    #[arg(long, requires = "webhook_url")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Deliveries of an event before it is parked, 1..=1000 (default 10).
    #[arg(long)]
    pub max_attempts: Option<u64>,
    /// Hosts webhook URLs may name, comma-separated (as `serve --webhook-hosts`). Default: loopback only.
    #[arg(long, env = "REDRESS_WEBHOOK_HOSTS", value_delimiter = ',')]
    pub webhook_hosts: Option<Vec<String>>,
}

impl CreateArgs {
    /// The `PUT /subscriptions/{name}` body these flags give, the secret read from its file. Values are
    /// passed as given: `Definition::from_json` judges them, as it judges the HTTP body.
    fn body(&self) -> Result<Value, CliError> {
        let mut body = Map::new();
        if !self.event_types.is_empty() {
            body.insert("event_types".into(), json!(self.event_types));
        }
        if let Some(start) = &self.start {
            let start = start.parse::<u64>().map_or_else(|_| json!(start), |position| json!(position));
            body.insert("start".into(), start);
        }
        if let (Some(url), Some(secret_file)) = (&self.webhook_url, &self.webhook_secret_file) {
            body.insert("webhook".into(), json!({"url": url, "secret": read_secret(secret_file)?}));
        }
        if let Some(max_attempts) = self.max_attempts {
            body.insert("max_attempts".into(), json!(max_attempts));
        }
        Ok(Value::Object(body))
    }

    fn webhook_hosts(&self) -> WebhookHosts {
        match &self.webhook_hosts {
            Some(hosts) => WebhookHosts::new(hosts.iter().cloned()),
            None => WebhookHosts::default(),
        }
    }
}

/// The secret in `path`, without the newline an editor or `echo` leaves at its end. Says on standard
/// error when others may read the file (a secret anyone on the machine can read signs nothing).
fn read_secret(path: &Path) -> Result<String, CliError> {
    let context = format!("webhook.secret: {}", path.display());
    let text = redress_engine::read_small_file(path).map_err(|e| failed(&context, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(path).is_ok_and(|m| m.mode() & 0o077 != 0) {
            tracing::warn!(file = %path.display(), "the webhook secret file is readable by others: chmod 600 it");
        }
    }
    let secret = text.strip_suffix('\n').map_or(text.as_str(), |s| s.strip_suffix('\r').unwrap_or(s));
    Ok(secret.to_owned())
}

/// A subscription failure as the command line reports it (exit 1), naming the field like the HTTP
/// answer's `field`.
fn refused(error: SubscriptionError) -> CliError {
    match error {
        SubscriptionError::Store(error) => CliError::Store(error),
        SubscriptionError::HostNotAllowed { .. } => CliError::Failed(format!("webhook.url: {error}")),
        other => CliError::Failed(other.to_string()),
    }
}

/// Runs `action` on the subscriptions beside `store` (opened by [`crate::cli::open_subscriptions`]).
pub async fn run(cli: &Cli, store: &Arc<dyn EventStore>, action: &SubscriptionsAction) -> Result<(), CliError> {
    let config = match action {
        SubscriptionsAction::Create(args) => Config::default().with_webhook_hosts(args.webhook_hosts()),
        _ => Config::default(),
    };
    let service = crate::cli::open_subscriptions(cli, store, config.without_webhook_delivery()).await?;
    match action {
        SubscriptionsAction::List => {
            for status in service.statuses().await.map_err(refused)? {
                say!("{}", status.to_json());
            }
        }
        SubscriptionsAction::Show { name } => show(&service, name).await?,
        SubscriptionsAction::Create(args) => {
            let body = args.body()?;
            let created = service.put(&args.name, &body).await.map_err(refused)?;
            if !created {
                tracing::info!(name = %args.name, "replaced the definition; position, leases and parked events kept");
            }
            // A server starts a delivery task at its start and on its own PUTs; it does not watch for
            // definitions another process writes (follow-up: a rescan in `Subscriptions::start`).
            if args.webhook_url.is_some() && cli.store.is_some() {
                tracing::warn!(
                    name = %args.name,
                    "servers already running on this store deliver this webhook from their next start; \
                     restart one, or create webhooks with PUT /subscriptions/{{name}} on a running server"
                );
            }
            show(&service, &args.name).await?;
        }
        SubscriptionsAction::Delete { name } => {
            if !service.delete(name).await.map_err(refused)? {
                return Err(refused(SubscriptionError::NotFound { name: name.clone() }));
            }
            say!("{}", json!({"deleted": name}));
        }
        SubscriptionsAction::RetryParked { name, limit } => {
            let retried = service.retry_parked(name, *limit as usize).await.map_err(refused)?;
            say!("{}", json!({"retried": retried}));
        }
    }
    Ok(())
}

async fn show(service: &Subscriptions, name: &str) -> Result<(), CliError> {
    let status = service.status(name).await.map_err(refused)?;
    say!("{}", status.to_json());
    Ok(())
}
