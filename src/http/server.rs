//! The life of the serving process: the listener ([`crate::http::listener`]) serves requests; this
//! module starts it, turns signals into events — SIGTERM or SIGINT stop it gracefully, SIGHUP
//! reloads the TLS certificate — and stops the process with an error when the listener fails
//! for good, so that the service manager starts a fresh one.

use crate::app::App;
use crate::http::listener::{Event, Front};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long a stop waits for the webhook deliverer to finish the exchange it is in.
const DELIVERER_GRACE: Duration = Duration::from_secs(1);

/// Serves until SIGTERM or SIGINT (then stops gracefully and returns `Ok`) or until the
/// listener fails for good (returns the error, so the process exits non-zero).
pub fn run(app: App) -> Result<(), String> {
    let addr = format!("{}:{}", app.config.server.host, app.config.server.port);
    let (events_tx, events) = mpsc::channel();
    // Before anything is announced: from then on a SIGTERM means a graceful stop.
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let tx = events_tx.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let event = match s {
                    SIGTERM => Event::Stop("SIGTERM"),
                    SIGINT => Event::Stop("SIGINT"),
                    _ => Event::Reload,
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    let public = crate::http::listener::bind(&addr)?;
    let workers = app.config.server.workers;
    // The server delivers webhooks; commands that write (import) leave their events for it.
    let deliverer = if app.config.notify.is_empty() {
        None
    } else {
        let db = app.connect().map_err(|e| e.message().to_string())?;
        let d = crate::notify::deliver::start(app.config.notify.clone(), db, app.notifier.clone())
            .map_err(|e| format!("cannot start the webhook deliverer: {e}"))?;
        Some(d)
    };
    let mut front = Front::start(public, Arc::new(app), events_tx)?;
    crate::info!(
        "nmr {} listening on {}://{} ({workers} workers)",
        env!("CARGO_PKG_VERSION"),
        front.scheme(),
        front.addr()
    );
    let signal = loop {
        match events.recv() {
            Ok(Event::Stop(signal)) => break signal,
            Ok(Event::Reload) => match front.reload_tls() {
                Ok(true) => crate::info!("SIGHUP: reloaded the TLS certificate and key"),
                Ok(false) => crate::info!("SIGHUP: no TLS certificate to reload"),
                Err(e) => crate::error!(
                    "SIGHUP: TLS reload failed, still serving the previous certificate: {e}"
                ),
            },
            Ok(Event::Fatal(e)) => {
                return Err(format!("{e}; exiting so the service manager restarts nmr"))
            }
            Err(_) => return Err("every event source ended".into()),
        }
    };
    let grace = front.shutdown_timeout();
    crate::info!(
        "{signal}: stopping; no new connections, {} s for requests in flight (server.shutdown_timeout)",
        grace.as_secs()
    );
    let cut = front.stop(grace);
    if cut > 0 {
        crate::warn!("closed {cut} connections still busy after server.shutdown_timeout");
    }
    // A webhook exchange in flight is not waited for: its event stays in the outbox.
    if let Some(d) = deliverer {
        if !d.stop(DELIVERER_GRACE) {
            crate::info!("left a webhook delivery in flight; it is sent again after the restart");
        }
    }
    let busy = front.close();
    if busy > 0 {
        crate::warn!(
            "{busy} handlers still busy {} s after their connections closed; exiting without them",
            crate::http::listener::WORKER_GRACE.as_secs()
        );
    }
    drop(front);
    crate::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::http::listener::WORKER_GRACE;

    #[test]
    fn the_systemd_unit_waits_longer_than_a_graceful_stop_takes() {
        let unit = include_str!("../../systemd/nmr.service");
        assert!(unit.lines().any(|l| l == "KillSignal=SIGTERM"));
        let stop: u64 = unit
            .lines()
            .find_map(|l| l.strip_prefix("TimeoutStopSec="))
            .expect("the unit sets TimeoutStopSec")
            .parse()
            .unwrap();
        let grace: u64 = crate::config::KEYS
            .iter()
            .find(|k| k.path == "server.shutdown_timeout")
            .unwrap()
            .default
            .parse()
            .unwrap();
        assert!(
            stop > grace + WORKER_GRACE.as_secs(),
            "TimeoutStopSec={stop} leaves no room for server.shutdown_timeout={grace}"
        );
    }
}
