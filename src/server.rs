//! The life of the serving process: the listener ([`crate::listener`]) serves requests; this
//! module starts it, turns signals into events — SIGTERM or SIGINT stop it gracefully, SIGHUP
//! reloads the TLS certificate — and stops the process with an error when the listener fails
//! for good, so that the service manager starts a fresh one.

use crate::app::App;
use crate::listener::{Event, Front};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::{mpsc, Arc};

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
    let public = crate::listener::bind(&addr)?;
    let workers = app.config.server.workers;
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
    let busy = front.close();
    if busy > 0 {
        crate::warn!(
            "{busy} handlers still busy {} s after their connections closed; exiting without them",
            crate::listener::WORKER_GRACE.as_secs()
        );
    }
    drop(front);
    crate::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::listener::WORKER_GRACE;

    #[test]
    fn the_systemd_unit_waits_longer_than_a_graceful_stop_takes() {
        let unit = include_str!("../systemd/nmr.service");
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
