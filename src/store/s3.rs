//! The S3 backend of the blob store: any S3-compatible server, through rust-s3's blocking API
//! (no async runtime in the process). Objects are written with `If-None-Match: *`, so a key is
//! written once and nothing can overwrite a published tarball. Failures name the bucket and
//! endpoint and are either `Unavailable` (unreachable, or a 5xx/throttling answer; a client
//! gets 503) or `Refused` (any other error answer, which retrying will not fix; 502).

use super::{Error, Result};
use crate::config;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::{Bucket, Region};
use std::io::Read;
use std::time::Duration;

/// One bucket (and prefix inside it) holding the tarballs.
pub struct S3 {
    bucket: Box<Bucket>,
    /// Empty or ending in `/`; put before every key.
    prefix: String,
    /// `S3 bucket "name" at URL`, for every message about this store.
    name: String,
    /// `storage.s3.expires` when tarball GETs are answered with redirects.
    redirect: Option<u32>,
}

/// Lifetime of the presigned URLs nmr fetches itself: they are used at once.
const OWN_URL_SECS: u32 = 60;

/// For nmr's own streaming GETs. No whole-request timeout: a large tarball to a slow client
/// may take long, but a stalled S3 shows up as a read timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// `403 SignatureDoesNotMatch: <message>` from an S3 error answer, or the status alone.
fn reason(status: u16, body: &str) -> String {
    let tag = |t: &str| {
        let start = body.find(&format!("<{t}>"))? + t.len() + 2;
        let end = start + body[start..].find(&format!("</{t}>"))?;
        Some(body[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{status} {c}: {m}"),
        (Some(c), None) => format!("{status} {c}"),
        _ => status.to_string(),
    }
}

impl S3 {
    /// Connects to the bucket and checks, with one listing call, that it exists and that the
    /// credentials may read it. Failing here turns a wrong endpoint, bucket or key into a
    /// start-up error instead of a failed publish later.
    pub fn open(cfg: &config::S3) -> Result<S3> {
        config::check_s3(cfg).map_err(Error::Config)?;
        let creds = cfg.credentials.as_ref().expect("checked by check_s3");
        let credentials = Credentials::new(
            Some(&creds.access_key_id),
            Some(&creds.secret_access_key.0),
            None,
            None,
            None,
        )
        .map_err(|e| Error::Config(format!("S3 credentials: {e}")))?;
        let region = match &cfg.endpoint {
            Some(endpoint) => Region::Custom {
                region: cfg.region.clone(),
                endpoint: endpoint.clone(),
            },
            None => cfg
                .region
                .parse()
                .expect("parsing a region from a str cannot fail"),
        };
        let mut bucket = Bucket::new(&cfg.bucket, region, credentials)
            .map_err(|e| Error::Config(format!("S3 bucket {:?}: {e}", cfg.bucket)))?;
        if cfg.path_style {
            bucket.set_path_style();
        }
        // rust-s3's default 60 s limit covers the whole request, which would cut off the upload
        // of a large tarball on a slow link; attohttpc's connect and read timeouts still apply.
        bucket.set_request_timeout(None);
        let endpoint = cfg.endpoint.clone().unwrap_or_else(|| bucket.url());
        let store = S3 {
            name: format!("S3 bucket {:?} at {endpoint}", cfg.bucket),
            bucket,
            prefix: cfg.prefix.clone(),
            redirect: cfg.redirect.then_some(cfg.expires),
        };
        store
            .bucket
            .list_page(store.prefix.clone(), None, None, None, Some(1))
            .map_err(|e| store.fail("list the bucket", e))?;
        Ok(store)
    }

    /// How messages name this store.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Turns a failed S3 call into the store's error, naming the store and the operation.
    fn fail(&self, what: &str, e: S3Error) -> Error {
        let storage = format!("tarball storage ({})", self.name);
        match e {
            S3Error::HttpFailWithBody(status, body) => {
                let why = reason(status, &body);
                if status >= 500 || status == 408 || status == 429 {
                    Error::Unavailable(format!(
                        "{storage} could not {what}: it answered {why}; try again later"
                    ))
                } else {
                    Error::Refused(format!("{storage} refused to {what}: it answered {why}"))
                }
            }
            S3Error::Atto(_) | S3Error::Io(_) => {
                Error::Unavailable(format!("{storage} is unreachable ({what}): {e}"))
            }
            other => Error::Refused(format!("{storage} could not {what}: {other}")),
        }
    }

    /// Writes the object unless the key exists: S3 answers 412 to `If-None-Match: *` then.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let what = format!("store {key}");
        let request = self
            .bucket
            .put_object_builder(self.path(key), bytes)
            .with_content_type("application/octet-stream")
            .with_header("If-None-Match", "*")
            .map_err(|e| self.fail(&what, e))?;
        match request.execute() {
            Ok(_) => Ok(true),
            Err(S3Error::HttpFailWithBody(412, _)) => Ok(false),
            Err(e) => Err(self.fail(&what, e)),
        }
    }

    /// Streams the object. rust-s3's blocking GETs either buffer the whole object or push it
    /// into a `Write`, while the response body is pulled as a `Read`; so nmr signs the GET with
    /// rust-s3 and reads the answer itself, keeping memory flat for any tarball size.
    pub fn get(&self, key: &str) -> Result<Option<(Box<dyn Read + Send>, u64)>> {
        let what = format!("read {key}");
        let url = self
            .bucket
            .presign_get(self.path(key), OWN_URL_SECS, None)
            .map_err(|e| self.fail(&what, e))?;
        let resp = attohttpc::get(url)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .follow_redirects(false)
            .send()
            .map_err(|e| self.fail(&what, S3Error::Atto(e)))?;
        let status = resp.status().as_u16();
        if !resp.is_success() {
            let body = resp.text().unwrap_or_default();
            // A missing bucket is also a 404; only a missing key means "no such object".
            if status == 404 && body.contains("<Code>NoSuchKey</Code>") {
                return Ok(None);
            }
            return Err(self.fail(&what, S3Error::HttpFailWithBody(status, body)));
        }
        let len = resp
            .headers()
            .get(attohttpc::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::Refused(format!(
                    "tarball storage ({}) sent {key} without a Content-Length",
                    self.name
                ))
            })?;
        let (_, _, reader) = resp.split();
        Ok(Some((Box::new(reader), len)))
    }

    /// Whether the object exists (a HEAD; S3 answers 404 without a body for a missing key).
    pub fn exists(&self, key: &str) -> Result<bool> {
        match self.bucket.head_object(self.path(key)) {
            Ok(_) => Ok(true),
            Err(S3Error::HttpFailWithBody(404, _)) => Ok(false),
            Err(e) => Err(self.fail(&format!("look up {key}"), e)),
        }
    }

    /// Removes the object; S3 already treats a missing key as removed.
    pub fn delete(&self, key: &str) -> Result<()> {
        match self.bucket.delete_object(self.path(key)) {
            Ok(_) | Err(S3Error::HttpFailWithBody(404, _)) => Ok(()),
            Err(e) => Err(self.fail(&format!("delete {key}"), e)),
        }
    }

    /// Every key under the prefix, without the prefix.
    pub fn list(&self) -> Result<Vec<String>> {
        let pages = self
            .bucket
            .list(self.prefix.clone(), None)
            .map_err(|e| self.fail("list the bucket", e))?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.contents)
            .filter_map(|o| o.key.strip_prefix(&self.prefix).map(str::to_string))
            .collect())
    }

    /// A presigned GET URL for the object when redirects are on. Signing is local: it costs no
    /// S3 call, so a redirect is as cheap as a packument lookup.
    pub fn redirect(&self, key: &str) -> Result<Option<String>> {
        let Some(expires) = self.redirect else {
            return Ok(None);
        };
        self.bucket
            .presign_get(self.path(key), expires, None)
            .map(Some)
            .map_err(|e| self.fail(&format!("sign a URL for {key}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_summarised_by_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>";
        assert_eq!(reason(403, body), "403 SignatureDoesNotMatch: bad sig");
        assert_eq!(reason(500, ""), "500");
    }
}
