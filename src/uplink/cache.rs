//! The upkeep of the upstream cache: when each cached tarball was last served, the size limit
//! (`uplink.cache_max_size`, least recently served tarballs evicted first), and what
//! `nmr cache list | drop | prune` show and remove.

use crate::app::App;
use crate::error::{Error, Result};
use crate::store::db::Connection;
use crate::store::{gc, meta};

/// Writes the served times noted so far.
fn write_usage(app: &App, db: &mut Connection) -> Result<()> {
    let used = app.uplink.usage.take(crate::time::now_millis());
    if !used.is_empty() {
        meta::uplink_used(db, &used)?;
    }
    Ok(())
}

/// A cached tarball is being served.
pub(super) fn hit(app: &App, db: &mut Connection, name: &str, filename: &str) {
    app.metrics.uplink_hit();
    if app
        .uplink
        .usage
        .note(name, filename, crate::time::now_millis())
    {
        // Losing served times costs only eviction accuracy, never an answer.
        if let Err(e) = write_usage(app, db) {
            crate::warn!("uplink: cannot record when cached tarballs were served: {e}");
        }
    }
}

/// A tarball was downloaded and stored: keeps the cache within `uplink.cache_max_size`,
/// never evicting that tarball itself.
pub(super) fn stored(app: &App, db: &mut Connection, name: &str, filename: &str) {
    app.metrics.uplink_miss();
    let Some(max) = app.config.uplink.cache_max_size else {
        return;
    };
    match evict(app, db, max, (name, filename)) {
        Ok(0) => {}
        Ok(n) => {
            crate::info!("uplink: evicted {n} cached tarballs to stay within uplink.cache_max_size")
        }
        Err(e) => crate::warn!("uplink: cannot evict cached tarballs: {e}"),
    }
}

/// Drops the least recently served tarballs until the rest fit in `max` bytes. Returns how many.
fn evict(app: &App, db: &mut Connection, max: u64, keep: (&str, &str)) -> Result<usize> {
    let (_, mut bytes) = meta::uplink_totals(db)?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    if bytes <= max {
        return Ok(0);
    }
    write_usage(app, db)?;
    let mut victims = Vec::new();
    for f in meta::uplink_by_use(db, None)? {
        if bytes <= max {
            break;
        }
        if (f.name.as_str(), f.filename.as_str()) != keep {
            bytes -= f.size;
            victims.push((f.name, f.filename));
        }
    }
    let keys = meta::uplink_detach(db, &victims)?;
    gc::settle(db, &app.blobs, &keys);
    app.metrics.uplink_evicted(victims.len());
    Ok(victims.len())
}

/// What `nmr cache drop` removed.
#[derive(Debug, PartialEq)]
pub struct Dropped {
    pub tarballs: usize,
}

/// `nmr cache drop NAME[@VERSION]`: forgets a cached package (packument and tarballs, so the
/// next request fetches it afresh), or one version's tarball.
pub fn drop(app: &App, db: &mut Connection, name: &str, version: Option<&str>) -> Result<Dropped> {
    let keys = match version {
        None => meta::uplink_forget(db, name)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{name} is not in the upstream cache; nmr cache list shows what is"
            ))
        })?,
        Some(v) => {
            let file = crate::name::tarball_file(name, v);
            match meta::uplink_file(db, name, &file)? {
                Some(f) if f.stored.is_some() => {
                    meta::uplink_detach(db, &[(name.to_string(), file)])?
                }
                _ => {
                    return Err(Error::NotFound(format!(
                    "{name}@{v} has no tarball in the upstream cache; nmr cache list shows what is"
                )))
                }
            }
        }
    };
    gc::settle(db, &app.blobs, &keys);
    Ok(Dropped {
        tarballs: keys.len(),
    })
}

/// `nmr cache prune --unused-for AGE`: drops the tarballs not served for `age_ms`. Returns how
/// many, and their bytes.
pub fn prune(app: &App, db: &mut Connection, age_ms: i64) -> Result<(usize, i64)> {
    let before = crate::time::format_millis(crate::time::now_millis() - age_ms);
    let old = meta::uplink_by_use(db, Some(&before))?;
    let bytes = old.iter().map(|f| f.size).sum();
    let files: Vec<(String, String)> = old.into_iter().map(|f| (f.name, f.filename)).collect();
    let keys = meta::uplink_detach(db, &files)?;
    gc::settle(db, &app.blobs, &keys);
    Ok((files.len(), bytes))
}
