//! Integration tests: one test binary (faster to link on two cores) that starts the real `nmr`
//! binary and drives it with the real npm, pnpm and yarn clients and with raw HTTP.

mod support;

mod airgap;
mod auth_github;
mod auth_limits;
mod auth_local;
mod blob_contract;
mod cli;
mod clients;
mod commands;
mod concurrency;
mod db_copy;
mod migrate;
mod notify;
mod ops;
mod orgs;
mod pg_client;
mod pg_contract;
mod protocol;
mod proxies;
mod rejections;
mod s3;
mod scale;
mod shared_state;
mod tls;
mod uplink;
mod uplink_fences;
mod visibility;
mod web;
