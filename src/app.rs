//! The shared state every request handler works with: configuration, the blob store, the
//! packument cache, the uplink and the per-package write locks; plus the per-thread database
//! connection.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Request;
use crate::packument::cache::Cache;
use crate::store::db::Connection;
use crate::store::{blob::BlobStore, meta};
use crate::uplink::state::Uplink;
use std::sync::{Arc, Mutex, MutexGuard};

/// Number of lock stripes for package writes. Writes to one package are serialised by its stripe;
/// writes to different packages rarely share one, and SQLite serialises commits anyway.
const LOCK_STRIPES: usize = 64;

/// State shared by all worker threads.
pub struct App {
    pub config: Config,
    pub blobs: BlobStore,
    pub cache: Cache,
    /// The upstream registry: its client, health and fetches in progress.
    pub uplink: Uplink,
    /// The stand-in for the base URL inside stored packument templates.
    pub marker: String,
    /// HTTP client for the GitHub API (github mode).
    pub github: ureq::Agent,
    /// Counters for `GET /-/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The web UI's caches and the rules for npm's web logins (which wait in the database).
    pub web: crate::web::state::State,
    /// Wakes the webhook deliverer after a commit queued events; counts its deliveries.
    pub notifier: Arc<crate::notify::Notifier>,
    /// The rules for failed password checks; the counts are in the database, shared by every
    /// instance on it.
    pub throttle: crate::auth::throttle::Throttle,
    /// The threads that hash passwords, apart from the handler slots.
    pub hashing: crate::auth::hashing::Pool,
    /// GitHub tokens GitHub refused lately (github mode).
    pub github_rejected: crate::auth::rejected::Rejected,
    locks: Vec<Mutex<()>>,
}

/// What one handler call gets: the shared state and this worker's own connection.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub db: &'a mut Connection,
    /// The caller, once the route's access check has run.
    pub who: crate::auth::identity::Identity,
    /// The handler slot this call runs in, when it runs in one (the listener's; commands and
    /// unit tests have none).
    pub slot: Option<&'a dyn Slot>,
}

/// A handler slot that its handler can step out of while it waits for something that needs
/// neither the database nor a slot (a password hash on the hashing pool), so that other
/// requests run meanwhile. The handler keeps its database connection.
pub trait Slot: Sync {
    /// Gives the slot to the next request.
    fn step_out(&self);
    /// Waits for a slot again.
    fn step_in(&self);
}

/// Steps back into the slot when dropped, even if the wait panicked.
struct Outside<'a>(&'a dyn Slot);

impl Drop for Outside<'_> {
    fn drop(&mut self) {
        self.0.step_in();
    }
}

impl App {
    /// Opens storage and database (creating and migrating them as needed).
    pub fn open(config: Config) -> Result<App> {
        if let Some(dir) = config
            .db_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            // Private to nmr's user (0700), like the database in it.
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut conn = meta::connect(&config)?;
        meta::migrate(&mut conn)?;
        let marker = meta::marker(&conn)?;
        let blobs = BlobStore::open(&config, config.storage_type)?;
        // What a crash interrupted: temp files of uploads, and blobs of publishes and
        // unpublishes that did not finish (see store::gc).
        let uploads = blobs.remove_unfinished_uploads()?;
        let removed = crate::store::gc::recover(&conn, &blobs)?;
        if uploads + removed > 0 {
            crate::info!(
                "removed {uploads} unfinished uploads and {removed} blobs left by interrupted requests"
            );
        }
        Ok(App {
            uplink: Uplink::new(&config.uplink),
            config,
            blobs,
            cache: Cache::new(&marker),
            marker,
            github: github_agent(),
            metrics: crate::metrics::Metrics::default(),
            web: crate::web::state::State::default(),
            notifier: Arc::default(),
            throttle: Default::default(),
            hashing: Default::default(),
            github_rejected: Default::default(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// A new database connection for a worker thread.
    pub fn connect(&self) -> Result<Connection> {
        Ok(meta::connect(&self.config)?)
    }

    /// Queues webhook events for `changes` inside the transaction that makes them (see
    /// `notify`); after the commit, [`App::committed`] sends them on their way.
    pub fn queue_notices(
        &self,
        tx: &crate::store::db::Transaction,
        src: &crate::notify::Source,
        now: &str,
        changes: &[crate::notify::Change],
    ) -> Result<()> {
        if !self.config.notify.is_empty() {
            crate::notify::record(tx, &self.config.notify, src, now, changes)?;
        }
        Ok(())
    }

    /// A write committed: its queued webhook events, if any, can go.
    pub fn committed(&self) {
        if !self.config.notify.is_empty() {
            self.notifier.wake();
        }
    }

    /// Holds the write lock for one package: publish, tag and deprecate take it so that their
    /// checks, blob writes and commit happen as one step.
    pub fn lock_package(&self, name: &str) -> MutexGuard<'_, ()> {
        let stripe = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        // A panic while holding the lock leaves no partial state (transactions roll back), so a
        // poisoned lock is safe to take over.
        self.locks[(stripe % LOCK_STRIPES as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// The client for GitHub's API (github mode): sync, with a whole-exchange timeout, and every
/// status handed back as an answer (the caller tells a 404 from a 401 itself).
fn github_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .http_status_as_error(false)
        .user_agent(concat!("nmr/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Characters allowed in a Host header: enough for names, IPv4, `[IPv6]` and a port, and
/// nothing that could break out of a JSON string.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c))
}

impl Ctx<'_> {
    /// Who changes `package` through which registry URL, for webhook events. The actor is
    /// the authenticated user's name; with auth type none nobody is known, and a name in the
    /// body would be unchecked, so it is `anonymous`.
    pub fn change_source(&self, req: &Request, package: &str) -> crate::notify::Source {
        let server = &self.app.config.server;
        let registry = self.base_url(req).unwrap_or_else(|_| {
            let scheme = if server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}:{}", server.host, server.port)
        });
        crate::notify::Source {
            package: package.to_string(),
            actor: self.who.name().unwrap_or("anonymous").to_string(),
            registry,
        }
    }

    /// Runs `wait` outside the handler slot: it must not touch the database.
    pub fn off_slot<T>(&self, wait: impl FnOnce() -> T) -> T {
        match self.slot {
            Some(slot) => {
                slot.step_out();
                let _back = Outside(slot);
                wait()
            }
            None => wait(),
        }
    }

    /// The base URL for links in responses: `server.public_url`, else the scheme (TLS, or a
    /// trusted proxy's `X-Forwarded-Proto`) and Host the client used, so clients keep sending
    /// credentials to the origin they know.
    pub fn base_url(&self, req: &Request) -> Result<String> {
        if let Some(u) = &self.app.config.server.public_url {
            return Ok(u.clone());
        }
        let host = req.header("host").map(str::trim).unwrap_or("");
        if !valid_host(host) {
            return Err(Error::BadRequest(format!(
                "bad or missing Host header {host:?}; send the registry's host name"
            )));
        }
        let scheme = if req.tls || req.proxied_https {
            "https"
        } else {
            "http"
        };
        Ok(format!("{scheme}://{host}"))
    }
}
