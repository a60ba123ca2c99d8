//! The upstream registry's share of the shared state: its HTTP client (with the upstream's
//! health), the fetches in progress and the cache's served times not yet written; no handler
//! code, so the state below the handlers can hold it.

use super::client::Client;
use super::flight::Flights;
use super::usage::Usage;
use crate::config;

/// The uplink's shared state: the HTTP client (with the upstream's health) and the fetches in
/// progress.
pub struct Uplink {
    pub(super) client: Client,
    pub(super) flights: Flights,
    /// When cached tarballs were served, until written.
    pub(super) usage: Usage,
}

impl Uplink {
    pub fn new(settings: &config::Uplink) -> Uplink {
        Uplink {
            client: Client::new(settings),
            flights: Flights::default(),
            usage: Usage::default(),
        }
    }

    /// Failed exchanges with the upstream since start (unreachable, timed out, 5xx).
    pub fn errors(&self) -> u64 {
        self.client.errors()
    }
}
