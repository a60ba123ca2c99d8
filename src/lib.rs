//! nmr: a private npm registry. One binary serves the npm registry protocol to npm, pnpm and
//! yarn, keeps metadata in SQLite and tarballs in a blob store.

#![forbid(unsafe_code)]

pub mod log;

pub mod access;
pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bundle;
pub mod cli;
pub mod config;
pub mod digest;
pub mod document;
pub mod error;
pub mod fsck;
pub mod health;
pub mod http;
pub mod listener;
pub mod lockfile;
pub mod metrics;
pub mod mirror;
pub mod name;
pub mod packument;
pub mod publish;
pub mod random;
pub mod revision;
pub mod routes;
pub mod search;
pub mod server;
pub mod star;
pub mod store;
pub mod tags;
pub mod tarball;
#[cfg(test)]
pub mod testing;
pub mod time;
pub mod uplink;
pub mod user;
pub mod web;
