//! Leveled logging to stderr. Code logs with the `log` crate's macros, re-exported at the crate
//! root (`crate::info!`); the logger below is the one place that decides whether a line is
//! printed, and how: `<RFC 3339 time> <level, padded to 5> <message>`.

use ::log::{Log, Metadata, Record};
use std::io::Write;

/// Severity of a log line (`logger.level`), most severe first.
pub use ::log::Level;

/// Lines from dependencies (rustls, ureq, attohttpc, rust-s3 log through the same crate) are
/// printed at warn and above only, or less when `logger.level` is `error`: their info and debug
/// lines describe every connection and request and would flood stderr.
const DEPENDENCIES: Level = Level::Warn;

struct Stderr;

/// Whether a line comes from nmr's own code (its target is the module path).
fn ours(target: &str) -> bool {
    let crate_name = env!("CARGO_CRATE_NAME");
    target
        .strip_prefix(crate_name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= ::log::max_level() && (ours(m.target()) || m.level() <= DEPENDENCIES)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "error",
                Level::Warn => "warn",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            let ts = crate::time::now_rfc3339();
            // One write call per line so lines from worker threads do not interleave.
            let line = format!("{ts} {level:5} {}\n", record.args());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Prints lines at `level` and more severe ones from here on (the first call installs the
/// logger; until then nothing is printed).
pub fn set_level(level: Level) {
    // Fails only when a logger is installed already: ours, by an earlier call.
    let _ = ::log::set_logger(&Stderr);
    ::log::set_max_level(level.to_level_filter());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_modules_count_as_ours() {
        assert!(ours("nmr"));
        assert!(ours("nmr::listener::conn"));
        assert!(!ours("nmrx"));
        assert!(!ours("rustls::common_state"));
        assert!(!ours("ureq"));
    }
}
