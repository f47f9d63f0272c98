//! Redress adapters: the HTTP API, the command line, and the demo data.
//!
//! Architecture invariant: no business rule lives here. Each handler parses, calls the engine, renders.

pub mod alerts;
pub mod audit;
pub mod cli;
pub mod demo;
pub mod files;
pub mod http;
pub mod subscription_commands;
