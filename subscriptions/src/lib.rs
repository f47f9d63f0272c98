//! Persistent subscriptions for backend services (API.md "Subscriptions for backend services"):
//! server-side consumer groups over the event log with leases, acks, nacks, parking, and signed
//! webhook delivery.
//!
//! - [`ledger`]: the pure core. A subscription's [`Ledger`] is its read position, the pending events
//!   (each with its attempts and lease) and a parked count; [`Ledger::apply`] decides fetch, ack, nack
//!   and retry with time given as data.
//! - [`Ledgers`]: where ledgers live, atomically per change: [`SledLedgers`] (a database in the data
//!   directory) and [`PostgresLedgers`] (tables in the store's schema, row-locked per subscription so
//!   several servers share them safely).
//! - [`Subscriptions`]: what the HTTP API and the CLI call: definitions, fetch/ack/nack, parked events,
//!   status and metrics, and one webhook delivery task per subscription with a webhook ([`webhook`]).
//! - [`alerts`]: deadline alerts (not log events) sent by webhook, each once per subscription, the
//!   record of what was sent kept beside the ledgers.
//!
//! Invariant: reads the log, never appends to it; knows nothing of the HTTP server or the command line.
//!
//! ```
//! use redress_subscriptions::{Bounds, Change, Ledger};
//! let bounds = Bounds { max_attempts: 2, pending_max: 100, parked_max: 100 };
//! let mut ledger = Ledger::starting_at(0);
//! let fetch = |id| Change::Fetch { fresh: vec![(0, true), (1, false)], max: 10, now_ms: 0, lease_ms: 30_000, lease_id: id, exclusive: false };
//! assert_eq!(ledger.apply(fetch(1), bounds).leased, vec![(0, 1)]);
//! assert!(ledger.apply(fetch(2), bounds).leased.is_empty(), "0 is leased to the first fetch");
//! ledger.apply(Change::Ack { positions: vec![0] }, bounds);
//! assert_eq!(ledger.position(), 2, "acked, and 1 was filtered out");
//! ```

pub mod alerts;
mod definition;
mod error;
pub mod ledger;
pub mod limits;
mod postgres_ledgers;
mod service;
mod sled_ledgers;
mod store;
pub mod webhook;

pub use definition::{check_name, Definition, Secret, Start, Webhook, WebhookHosts, MAX_ATTEMPTS_DEFAULT};
pub use error::SubscriptionError;
pub use ledger::{Bounds, Change, Entry, Lease, Ledger, Outcome, ParkReason, Parked};
pub use postgres_ledgers::PostgresLedgers;
pub use service::{Config, Delivery, Fetched, Status, Subscriptions};
pub use sled_ledgers::SledLedgers;
pub use store::{Ledgers, ParkedEvent, Stored};
