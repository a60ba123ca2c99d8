//! The web UI's share of the shared state: caches, and the rules for npm's web logins (which
//! wait in the database), with no handler code, so the state below the handlers can hold it.

use super::{logins, readme};

/// The web UI's share of the shared state.
#[derive(Default)]
pub struct State {
    /// READMEs found in tarballs.
    pub readmes: readme::Cache,
    /// npm's web logins waiting for the browser: their rules; they wait in the database.
    pub logins: logins::Logins,
}
