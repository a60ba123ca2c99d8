//! nmr: a private npm registry. One binary serves the npm registry protocol to npm, pnpm and
//! yarn, keeps metadata in SQLite and tarballs in a blob store.
//!
//! Layers, top to bottom (each imports only those below it): `http` (the listener, the routing
//! table, the process), `api` and `web` (the handlers), `uplink` and `auth` (what handlers ask),
//! `app` (the shared state), `notify` (webhooks: the outbox and its deliverer), `packument` and
//! `store` (documents, metadata, blobs), and leaf
//! utilities. `cmd` holds every `nmr <subcommand>`.

#![forbid(unsafe_code)]

pub mod log;
/// `crate::info!` and the rest: the `log` crate's macros, printed by the logger in [`crate::log`].
pub use ::log::{debug, error, info, warn};

pub mod http;

pub mod api;
pub mod web;

pub mod auth;
pub mod uplink;

pub mod app;
pub mod metrics;

pub mod notify;

pub mod packument;
pub mod store;

pub mod cmd;

pub mod cidr;
pub mod config;
pub mod digest;
pub mod error;
pub mod name;
pub mod random;
#[cfg(test)]
pub mod testing;
pub mod time;
