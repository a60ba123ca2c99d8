//! `GET /-/ping`, the health check `npm ping` and load balancers use: `200 {}` when the database
//! file nmr started with can be opened and read afresh, `503` otherwise. A fresh connection
//! is what notices a deleted, replaced or unreadable file: the workers' open connections keep
//! reading a deleted file's old contents, or their own caches.

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::Response;
use crate::store::meta;
use serde_json::json;

/// Why the database cannot be read, if it cannot.
fn check(ctx: &Ctx) -> std::result::Result<(), String> {
    let conn = meta::open_read_only(&ctx.app.config.db_path).map_err(|e| e.to_string())?;
    let marker = meta::marker(&conn).map_err(|e| e.to_string())?;
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
            crate::error!(
                "ping: cannot read the database {}: {why}",
                ctx.app.config.db_path.display()
            );
            Err(Error::Unavailable(
                "the registry cannot read its database; its log has the details".into(),
            ))
        }
    }
}
