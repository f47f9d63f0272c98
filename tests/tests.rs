//! One integration-test binary (builds once), through the public API and real sled files.

mod conformance;
mod crash;
mod history;
mod http;
mod postgres;
mod sled_store;
mod support;
