//! The audit endpoints. nmr keeps no vulnerability data: in proxy mode the upstream answers for
//! upstream packages, and otherwise nmr says plainly that nothing was audited. The 404 lets
//! `npm install` carry on quietly, while `npm audit` prints the text and fails, rather than a
//! made-up "found 0 vulnerabilities".

use crate::app::Ctx;
use crate::error::{Error, Result};
use crate::http::{Request, Response};

fn no_advisories() -> Error {
    Error::NotFound("this registry has no security advisory data, so nothing was audited".into())
}

/// The most an audit body may inflate to: `settings.max_body_size`, as for a publish.
fn inflated_limit(ctx: &Ctx) -> crate::http::BodyLimit {
    crate::http::BodyLimit::max_body_size(ctx.app.config.settings.max_body_size)
}

/// `POST /-/npm/v1/security/advisories/bulk` (npm 7 and later, pnpm).
pub fn bulk(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    let body = req.read_body(inflated_limit(ctx))?;
    crate::uplink::audit(ctx, &body)?.ok_or_else(no_advisories)
}

/// `POST /-/npm/v1/security/audits[/quick]` (npm 6's whole-tree audit).
pub fn tree(ctx: &mut Ctx, req: &mut Request) -> Result<Response> {
    req.read_body(inflated_limit(ctx))?;
    Err(no_advisories())
}
