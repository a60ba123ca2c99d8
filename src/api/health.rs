//! `GET /-/ping`, the health check `npm ping` and load balancers use: `200 {}` when the database
//! nmr started with can be read afresh, `503` otherwise. For SQLite a fresh connection is what
//! notices a deleted, replaced or unreadable file: the workers' open connections keep reading a
//! deleted file's old contents, or their own caches. For PostgreSQL the worker's own connection
//! asks the server (and is made again if the server went away).

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::Response;
use crate::store::meta;
use serde_json::json;

/// Why the database cannot be read, if it cannot.
fn check(ctx: &Ctx) -> std::result::Result<(), String> {
    let marker = if ctx.app.config.db_url.is_some() {
        meta::marker(ctx.db)
    } else {
        meta::open_read_only(&ctx.app.config.db_path).and_then(|conn| meta::marker(&conn))
    };
    let marker = marker.map_err(|e| e.to_string())?;
    if marker != ctx.app.marker {
        return Err("the file is not the database nmr started with".into());
    }
    Ok(())
}

/// `GET /-/ping`.
pub fn ping(ctx: &mut Ctx) -> Result<Response> {
    match check(ctx) {
        Ok(()) => Ok(Response::json(200, &json!({}))),
        Err(why) => {
            crate::error!("ping: cannot read the database: {why}");
            Err(Error::Unavailable(
                "the registry cannot read its database; its log has the details".into(),
            ))
        }
    }
}
