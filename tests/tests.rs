//! One integration-test binary (builds once), through the public API and real sled files.

mod audit;
mod cli;
mod conformance;
mod console;
mod crash;
mod edge;
mod erasure;
mod faults;
mod history;
mod http;
mod multi_server;
mod postgres;
mod server_crash;
mod sled_store;
mod subscriptions;
mod support;
