//! nmr's own PostgreSQL client: synchronous, one socket per [`Client`], protocol version 3.
//! The `postgres` crate would run a tokio runtime inside every worker; this speaks just what
//! nmr needs: the extended protocol with cached prepared statements for queries, the simple
//! protocol for DDL and transaction control, password/md5/SCRAM-SHA-256 login, and TLS through
//! rustls with libpq's `sslmode` meanings.
//!
//! Parameters go out typed by their [`ValueRef`] kind: `Int` as `int8`, `Real` as `float8`,
//! `Blob` as `bytea` (binary), `Text` and `Null` untyped, so the server infers them from where
//! the placeholder stands. An `Int` placeholder whose context wants text (`$1 || 'x'`) then
//! fails with "operator does not exist"; cast it in the SQL (`$1::text`).
//!
//! Not supported: client certificates, channel binding (SCRAM-SHA-256-PLUS), GSSAPI, COPY
//! (answered with CopyFail), several hosts in one URL, a second plain attempt when a TLS
//! handshake under `prefer` fails (libpq makes one), and TLS over a Unix socket (never
//! attempted there, as libpq does: the server refuses it anyway).

mod auth;
mod tls;
mod types;
mod url;
mod wire;

pub use url::{mask_password, mask_url, parse_url};

use crate::store::db::value::{Value, ValueRef};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use wire::{Auth, Message, ServerError};

/// Where and how to connect. [`parse_url`] makes one from `db.url`.
#[derive(Clone)]
pub struct Config {
    /// A host name or IP address; a leading `/` makes it the directory of a Unix socket
    /// (`{host}/.s.PGSQL.{port}`).
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: SslMode,
    /// PEM roots for `verify-ca` and `verify-full`, and for `require` when given; without
    /// one, the system's roots (or Mozilla's when the system has none).
    pub ca_file: Option<PathBuf>,
    /// For each address tried, and for the whole start-up exchange.
    pub connect_timeout: Duration,
    /// The longest the server may stay silent mid-query before the connection counts as
    /// dead: a vanished server must not hold a worker forever. Queries that run longer than
    /// this fail.
    pub io_timeout: Duration,
    pub application_name: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: "localhost".to_string(),
            port: 5432,
            user: String::new(),
            password: None,
            dbname: String::new(),
            sslmode: SslMode::Prefer,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            application_name: "nmr".to_string(),
        }
    }
}

/// Debug output goes to logs: the password shows as `***`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// libpq's `sslmode`, with libpq's meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP; TLS is never asked for.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked unless a CA file is given.
    Require,
    /// TLS, with a certificate that chains to a trusted root, whatever name it bears.
    VerifyCa,
    /// TLS, with a trusted certificate for the host connected to.
    VerifyFull,
}

/// A query's result: column names, and rows of values in column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What went wrong, sorted by what the caller does about it.
#[derive(Debug)]
enum Kind {
    /// Reaching or talking to the server failed (I/O, timeout, TLS, a garbled stream), or the
    /// connection broke earlier: answer 503 and reconnect later.
    Unavailable(String),
    /// The server answered with an error.
    Server(ServerError),
    /// The connection cannot be made as configured: an authentication method nmr lacks, no
    /// password, an unreadable CA file, a server that failed to prove it knows the password.
    Setup(String),
    /// The request cannot be sent: a NUL in the SQL, parameters over PostgreSQL's limit.
    Usage(String),
    /// A result value did not read as its column type.
    Decode(String),
}

/// A failed connect or query. Its text never holds a parameter value or the password.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

/// Server errors that mean "the server is going away or full", not "your query is wrong".
const UNAVAILABLE_CODES: [&str; 4] = ["57P01", "57P02", "57P03", "53300"];

impl Error {
    fn unavailable(message: String) -> Error {
        Error {
            kind: Kind::Unavailable(message),
        }
    }
    fn setup(message: String) -> Error {
        Error {
            kind: Kind::Setup(message),
        }
    }
    fn usage(message: String) -> Error {
        Error {
            kind: Kind::Usage(message),
        }
    }

    /// SQLSTATE of a server error (e.g. "23505" unique_violation, "40001", "57P01" admin
    /// shutdown), if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            Kind::Server(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// True for failures to reach or talk to the server (refused, reset, timeout, EOF, TLS
    /// failure, admin shutdown 57P01/57P02/57P03, too many connections 53300): the caller
    /// answers 503 and reconnects later.
    pub fn is_unavailable(&self) -> bool {
        match &self.kind {
            Kind::Unavailable(_) => true,
            Kind::Server(e) => UNAVAILABLE_CODES.contains(&e.code.as_str()),
            Kind::Setup(_) | Kind::Usage(_) | Kind::Decode(_) => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Server(e) => {
                write!(f, "{} {}: {}", e.severity, e.code, e.message)?;
                if let Some(detail) = &e.detail {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            Kind::Unavailable(m) | Kind::Setup(m) | Kind::Usage(m) | Kind::Decode(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for Error {}

/// Severities after which the server closes the session.
fn is_fatal(e: &ServerError) -> bool {
    e.severity == "FATAL" || e.severity == "PANIC"
}

/// A NUL would cut a protocol string short and shift the fields after it.
fn check_text(s: &str, what: &str) -> Result<(), Error> {
    if s.contains('\0') {
        return Err(Error::usage(format!(
            "{what} contains a NUL character, which PostgreSQL cannot take"
        )));
    }
    Ok(())
}

/// The rows a command touched, from CommandComplete's tag: the last word of `INSERT 0 5`,
/// `UPDATE 3`, `SELECT 4`; 0 for tags without a count (`CREATE TABLE`).
fn rows_affected(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The socket under a connection.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// Whether the server has sent anything, or closed the connection, while nothing was
    /// asked of it. An idle session gets nothing unasked but a notice of its end (57P01 on a
    /// restart, then EOF), so this finds a session the server ended before a query is sent
    /// into it, with one non-blocking peek.
    fn spoke_unasked(&self) -> bool {
        use rustix::net::{recv, RecvFlags};
        let fd = match self {
            Stream::Tcp(s) => rustix::fd::AsFd::as_fd(s),
            Stream::Tls(s) => rustix::fd::AsFd::as_fd(&s.sock),
            Stream::Unix(s) => rustix::fd::AsFd::as_fd(s),
        };
        let mut b = [0u8; 1];
        // Anything but "nothing to read yet" (bytes, EOF, an error) means the session is over.
        !matches!(
            recv(fd, &mut b, RecvFlags::PEEK | RecvFlags::DONTWAIT),
            Err(rustix::io::Errno::AGAIN)
        )
    }

    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Stream::Tls(s) => {
                s.sock.set_read_timeout(Some(t))?;
                s.sock.set_write_timeout(Some(t))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Where the server is, for messages: `host:port` or the socket's path.
fn address(config: &Config) -> String {
    if config.host.starts_with('/') {
        format!("{}/.s.PGSQL.{}", config.host, config.port)
    } else if config.host.contains(':') {
        format!("[{}]:{}", config.host, config.port)
    } else {
        format!("{}:{}", config.host, config.port)
    }
}

/// An I/O failure as an error that says where and, for a timeout, how long was waited.
fn io_error(doing: &str, server: &str, e: &io::Error, waited: Duration) -> Error {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return Error::unavailable(format!(
            "{doing} the database at {server}: no answer within {} s",
            waited.as_secs()
        ));
    }
    Error::unavailable(format!("{doing} the database at {server}: {e}"))
}

/// Opens the socket and, unless `sslmode=disable` or a Unix socket, negotiates TLS.
fn open(config: &Config, server: &str) -> Result<Stream, Error> {
    let connecting =
        |e: &io::Error| io_error("cannot connect to", server, e, config.connect_timeout);
    if config.host.starts_with('/') {
        let s = UnixStream::connect(server).map_err(|e| connecting(&e))?;
        s.set_read_timeout(Some(config.connect_timeout))
            .and_then(|()| s.set_write_timeout(Some(config.connect_timeout)))
            .map_err(|e| connecting(&e))?;
        return Ok(Stream::Unix(s));
    }
    let addrs = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::unavailable(format!(
                "cannot find the database host {:?}: {e}",
                config.host
            ))
        })?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, config.connect_timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut tcp = tcp.ok_or_else(|| connecting(&last))?;
    tcp.set_read_timeout(Some(config.connect_timeout))
        .and_then(|()| tcp.set_write_timeout(Some(config.connect_timeout)))
        // Requests are written whole; waiting to coalesce them only adds latency.
        .and_then(|()| tcp.set_nodelay(true))
        .map_err(|e| connecting(&e))?;
    if config.sslmode == SslMode::Disable {
        return Ok(Stream::Tcp(tcp));
    }
    let mut request = Vec::new();
    wire::ssl_request(&mut request);
    let mut answer = [0u8; 1];
    // Exactly one byte, read from the bare socket: bytes after it belong to the TLS handshake
    // and must not be taken as if the server had sent them inside the encrypted session.
    tcp.write_all(&request)
        .and_then(|()| tcp.read_exact(&mut answer))
        .map_err(|e| connecting(&e))?;
    match answer[0] {
        b'S' => handshake(config, server, tcp),
        b'N' if config.sslmode == SslMode::Prefer => Ok(Stream::Tcp(tcp)),
        b'N' => Err(Error::unavailable(format!(
            "the database at {server} does not accept TLS, which sslmode={} demands",
            match config.sslmode {
                SslMode::Require => "require",
                SslMode::VerifyCa => "verify-ca",
                _ => "verify-full",
            }
        ))),
        other => Err(Error::unavailable(format!(
            "the database at {server} answered the TLS request with {:?}, not S or N; is it \
             PostgreSQL?",
            other as char
        ))),
    }
}

fn handshake(config: &Config, server: &str, mut tcp: TcpStream) -> Result<Stream, Error> {
    let settings = tls::client_config(config).map_err(Error::setup)?;
    let name = tls::server_name(&config.host).map_err(Error::setup)?;
    let mut conn = rustls::ClientConnection::new(settings, name)
        .map_err(|e| Error::unavailable(format!("TLS with the database at {server}: {e}")))?;
    // The whole handshake now, so a certificate problem shows as a connect error.
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| {
            Error::unavailable(format!("TLS with the database at {server} failed: {e}"))
        })?;
    }
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// At most this many prepared statements stay on a connection; the next one after that
/// closes them all. nmr issues a few dozen distinct queries, so this is only a bound.
const STATEMENT_CACHE: usize = 256;

/// A prepared statement on this connection: its parameter types and server-side name.
struct Prepared {
    param_types: Vec<u32>,
    name: String,
}

/// One connection to PostgreSQL. Not shared between threads at once: a pool hands out one
/// per worker.
pub struct Client {
    conn: BufReader<Stream>,
    /// `host:port` or the socket path, for messages.
    server: String,
    io_timeout: Duration,
    /// Statements prepared here, by SQL text. The parameter types are part of the key:
    /// the server fixes a statement's types at Parse, so the same SQL sent once with an
    /// `Int` and once with `Text` needs two statements.
    statements: HashMap<String, Vec<Prepared>>,
    prepared: usize,
    next_statement: u64,
    /// Statements to close with the next request (ones a server error made stale).
    to_close: Vec<String>,
    broken: bool,
    /// ReadyForQuery's status: `I` idle, `T` in a transaction, `E` in a failed one.
    status: u8,
}

impl Client {
    /// Connects, authenticates and waits until the server is ready for queries.
    pub fn connect(config: &Config) -> Result<Client, Error> {
        check_text(&config.user, "the user name")?;
        check_text(&config.dbname, "the database name")?;
        check_text(&config.application_name, "the application name")?;
        let server = address(config);
        let stream = open(config, &server)?;
        let mut client = Client {
            conn: BufReader::with_capacity(16 * 1024, stream),
            server,
            io_timeout: config.connect_timeout,
            statements: HashMap::new(),
            prepared: 0,
            next_statement: 0,
            to_close: Vec::new(),
            broken: false,
            status: b'I',
        };
        client.startup(config)?;
        client.io_timeout = config.io_timeout;
        client
            .conn
            .get_ref()
            .set_timeouts(config.io_timeout)
            .map_err(|e| {
                io_error(
                    "cannot set up the connection to",
                    &client.server,
                    &e,
                    config.io_timeout,
                )
            })?;
        Ok(client)
    }

    /// True once an I/O or protocol error has happened: the connection must be dropped and a
    /// new one made.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether an idle connection was ended by the server (a restart, an administrator, an
    /// idle timeout) since its last answer: then it is broken, and a query must not be sent
    /// into it. Costs one non-blocking peek; answers false inside a transaction, where the
    /// caller may not simply connect again anyway.
    pub fn ended_by_server(&mut self) -> bool {
        // Bytes already buffered while idle were sent unasked too.
        if !self.broken
            && !self.in_transaction()
            && (!self.conn.buffer().is_empty() || self.conn.get_ref().spoke_unasked())
        {
            self.broken = true;
        }
        self.broken
    }

    /// Whether the server said the session is inside a transaction block (ReadyForQuery
    /// status 'T' or 'E').
    pub fn in_transaction(&self) -> bool {
        matches!(self.status, b'T' | b'E')
    }

    /// Extended protocol: `sql` with `$1..$n` placeholders, prepared once per connection and
    /// parameter types, then bound and run. Columns come back as [`Value`]s by their type:
    /// integers and `oid` as `Int`, `bool` as `Int(1|0)`, `float4`/`float8`/`numeric` as
    /// `Real`, `bytea` as `Blob`, everything else as `Text`.
    pub fn query(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<Rows, Error> {
        self.run(sql, params).map(|(rows, _)| rows)
    }

    /// Like [`Client::query`], returning the number of rows affected (from CommandComplete's
    /// tag).
    pub fn execute(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<u64, Error> {
        self.run(sql, params).map(|(_, n)| n)
    }

    /// Simple query protocol: runs one or more `;`-separated statements with no parameters
    /// (DDL, BEGIN/COMMIT). Rows they return are dropped.
    pub fn batch(&mut self, sql: &str) -> Result<(), Error> {
        self.usable()?;
        check_text(sql, "the SQL")?;
        if sql.len() > wire::MAX_MESSAGE {
            return Err(Error::usage(format!(
                "the SQL is {} bytes, more than PostgreSQL takes in one message",
                sql.len()
            )));
        }
        let mut out = Vec::new();
        wire::query(&mut out, sql);
        self.send(&out)?;
        let mut body = Vec::new();
        let mut failed = None;
        loop {
            let tag = self.receive(&mut body)?;
            match self.parse(tag, &body)? {
                Message::CommandComplete(tag) => {
                    // The server forgot prepared statements; so must the cache.
                    if tag.starts_with("DEALLOCATE") || tag == "DISCARD ALL" {
                        self.statements.clear();
                        self.prepared = 0;
                    }
                }
                Message::ErrorResponse(e) => {
                    if is_fatal(&e) {
                        self.broken = true;
                        return Err(Error {
                            kind: Kind::Server(e),
                        });
                    }
                    failed.get_or_insert(Error {
                        kind: Kind::Server(e),
                    });
                }
                Message::CopyInResponse => {
                    let mut out = Vec::new();
                    wire::copy_fail(&mut out, "nmr's PostgreSQL client does not do COPY");
                    self.send(&out)?;
                }
                Message::ReadyForQuery(status) => {
                    self.status = status;
                    break;
                }
                Message::RowDescription(_)
                | Message::DataRow(_)
                | Message::EmptyQueryResponse
                | Message::CopyOutResponse
                | Message::CopyData
                | Message::CopyDone
                | Message::NoticeResponse
                | Message::ParameterStatus
                | Message::NotificationResponse => {}
                other => return Err(self.unexpected(&other)),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    fn run(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<(Rows, u64), Error> {
        self.usable()?;
        check_text(sql, "the SQL")?;
        if params.len() > i16::MAX as usize {
            return Err(Error::usage(format!(
                "{} parameters are more than PostgreSQL takes ({})",
                params.len(),
                i16::MAX
            )));
        }
        let size = sql.len() + params.iter().map(types::param_size).sum::<usize>();
        if size > wire::MAX_MESSAGE {
            return Err(Error::usage(format!(
                "the query and its parameters are {size} bytes, more than PostgreSQL takes in \
                 one message (1 GiB)"
            )));
        }
        let param_types: Vec<u32> = params.iter().map(types::param_type).collect();

        let mut out = Vec::new();
        for name in self.to_close.drain(..) {
            wire::close_statement(&mut out, &name);
        }
        let cached = self.statements.get(sql).and_then(|list| {
            list.iter()
                .find(|p| p.param_types == param_types)
                .map(|p| p.name.clone())
        });
        let (name, fresh) = match cached {
            Some(name) => (name, false),
            None => {
                if self.prepared >= STATEMENT_CACHE {
                    for p in self.statements.drain().flat_map(|(_, list)| list) {
                        wire::close_statement(&mut out, &p.name);
                    }
                    self.prepared = 0;
                }
                let name = format!("s{}", self.next_statement);
                self.next_statement += 1;
                wire::parse(&mut out, &name, sql, &param_types);
                (name, true)
            }
        };
        let bound: Vec<wire::Param<'_>> = params.iter().map(types::param).collect();
        wire::bind(&mut out, &name, &bound);
        wire::describe_portal(&mut out);
        wire::execute(&mut out);
        wire::sync(&mut out);
        self.send(&out)?;

        let mut body = Vec::new();
        let mut columns = Vec::new();
        let mut rows = Vec::new();
        let mut affected = 0;
        let mut failed = None;
        loop {
            let tag = self.receive(&mut body)?;
            match self.parse(tag, &body)? {
                Message::ParseComplete => {
                    // Cached only once the server has it: a statement that failed to parse
                    // must be parsed (and fail) again next time.
                    if fresh {
                        self.statements
                            .entry(sql.to_string())
                            .or_default()
                            .push(Prepared {
                                param_types: param_types.clone(),
                                name: name.clone(),
                            });
                        self.prepared += 1;
                    }
                }
                Message::RowDescription(cols) => columns = cols,
                Message::DataRow(cells) => {
                    if failed.is_some() {
                        continue;
                    }
                    let row: Result<Vec<Value>, String> = cells
                        .iter()
                        .enumerate()
                        .map(|(i, cell)| {
                            let oid = columns.get(i).map_or(0, |c| c.type_oid);
                            types::decode(oid, *cell)
                        })
                        .collect();
                    match row {
                        Ok(row) if row.len() == columns.len() => rows.push(row),
                        Ok(_) => {
                            return Err(self
                                .protocol("a row from the server does not match its column count"))
                        }
                        Err(e) => {
                            failed = Some(Error {
                                kind: Kind::Decode(e),
                            })
                        }
                    }
                }
                Message::CommandComplete(tag) => affected = rows_affected(tag),
                Message::ErrorResponse(e) => {
                    if is_fatal(&e) {
                        self.broken = true;
                        return Err(Error {
                            kind: Kind::Server(e),
                        });
                    }
                    // 0A000: "cached plan must not change result type" after a schema
                    // change; 26000: the statement is gone (DEALLOCATE). Either way a fresh
                    // Parse is what fixes it.
                    if e.code == "0A000" || e.code == "26000" {
                        self.forget(&name);
                    }
                    failed.get_or_insert(Error {
                        kind: Kind::Server(e),
                    });
                }
                Message::CopyInResponse => {
                    // Our Sync arrived during copy-in, where the server ignores it; after
                    // CopyFail it skips to the next Sync, so one more is needed.
                    let mut out = Vec::new();
                    wire::copy_fail(&mut out, "nmr's PostgreSQL client does not do COPY");
                    wire::sync(&mut out);
                    self.send(&out)?;
                }
                Message::ReadyForQuery(status) => {
                    self.status = status;
                    break;
                }
                Message::BindComplete
                | Message::CloseComplete
                | Message::NoData
                | Message::ParameterDescription
                | Message::PortalSuspended
                | Message::EmptyQueryResponse
                | Message::CopyOutResponse
                | Message::CopyData
                | Message::CopyDone
                | Message::NoticeResponse
                | Message::ParameterStatus
                | Message::NotificationResponse => {}
                other => return Err(self.unexpected(&other)),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let columns = columns.into_iter().map(|c| c.name).collect();
        Ok((Rows { columns, rows }, affected))
    }

    /// Drops a statement from the cache and closes it with the next request.
    fn forget(&mut self, name: &str) {
        for list in self.statements.values_mut() {
            if let Some(at) = list.iter().position(|p| p.name == name) {
                list.remove(at);
                self.prepared -= 1;
                self.to_close.push(name.to_string());
            }
        }
        self.statements.retain(|_, list| !list.is_empty());
    }

    /// Start-up: the startup message, authentication, then the session parameters up to the
    /// first ReadyForQuery.
    fn startup(&mut self, config: &Config) -> Result<(), Error> {
        let mut out = Vec::new();
        wire::startup(
            &mut out,
            &[
                ("user", &config.user),
                ("database", &config.dbname),
                ("application_name", &config.application_name),
                // Rows are decoded as UTF-8 and SQL is sent as UTF-8, whatever the database's
                // encoding.
                ("client_encoding", "UTF8"),
            ],
        );
        self.send(&out)?;
        let mut scram: Option<auth::Scram> = None;
        let mut scram_verified = false;
        let mut body = Vec::new();
        loop {
            let tag = self.receive(&mut body)?;
            let mut out = Vec::new();
            match self.parse(tag, &body)? {
                Message::Authentication(request) => match request {
                    Auth::Ok => {
                        // A server that skips SCRAM's last step never proved it knows the
                        // password: it may be an impostor that accepts anyone.
                        if scram.is_some() && !scram_verified {
                            return Err(self.fail(Error::setup(
                                "the server ended SCRAM authentication without proving it \
                                 knows the password"
                                    .to_string(),
                            )));
                        }
                    }
                    Auth::Cleartext => wire::password(&mut out, self.password(config)?),
                    Auth::Md5(salt) => {
                        let hash = auth::md5_password(&config.user, self.password(config)?, salt);
                        wire::password(&mut out, &hash);
                    }
                    Auth::Sasl(mechanisms) => {
                        if !mechanisms.contains(&"SCRAM-SHA-256") {
                            return Err(self.fail(Error::setup(format!(
                                "the database offers SASL authentication by {}, and nmr speaks \
                                 only SCRAM-SHA-256 without channel binding",
                                mechanisms.join(", ")
                            ))));
                        }
                        let password = self.password(config)?;
                        let nonce =
                            auth::Scram::random_nonce().map_err(|e| self.fail(Error::setup(e)))?;
                        let s = auth::Scram::new("", password, &nonce);
                        wire::sasl_initial_response(
                            &mut out,
                            "SCRAM-SHA-256",
                            s.client_first().as_bytes(),
                        );
                        scram = Some(s);
                    }
                    Auth::SaslContinue(data) => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| self.protocol("SASL data before SASL began"))?;
                        let reply = s.client_final(data);
                        let reply = reply.map_err(|e| self.fail(Error::setup(e)))?;
                        wire::sasl_response(&mut out, reply.as_bytes());
                    }
                    Auth::SaslFinal(data) => {
                        let s = scram
                            .as_ref()
                            .filter(|s| s.finished())
                            .ok_or_else(|| self.protocol("the SASL outcome came too early"))?;
                        let verified = s.verify_server_final(data);
                        verified.map_err(|e| self.fail(Error::setup(e)))?;
                        scram_verified = true;
                    }
                    Auth::Other(method) => {
                        let name = match method {
                            2 => "Kerberos V5",
                            6 => "SCM credentials",
                            7 | 8 => "GSSAPI",
                            9 => "SSPI",
                            _ => "an unknown method",
                        };
                        return Err(self.fail(Error::setup(format!(
                            "the database asks for authentication by {name} (code {method}), \
                             which nmr does not support; allow scram-sha-256, md5 or password \
                             for nmr's user in pg_hba.conf"
                        ))));
                    }
                },
                Message::ErrorResponse(e) => {
                    return Err(self.fail(Error {
                        kind: Kind::Server(e),
                    }))
                }
                Message::ReadyForQuery(status) => {
                    self.status = status;
                    return Ok(());
                }
                Message::ParameterStatus
                | Message::BackendKeyData
                | Message::NoticeResponse
                | Message::NotificationResponse => {}
                other => return Err(self.unexpected(&other)),
            }
            if !out.is_empty() {
                self.send(&out)?;
            }
        }
    }

    fn password<'c>(&mut self, config: &'c Config) -> Result<&'c str, Error> {
        let password = config.password.as_deref().ok_or_else(|| {
            self.fail(Error::setup(
                "the database asks for a password; set it in db.url, PGPASSWORD or \
                 db.password_file"
                    .to_string(),
            ))
        })?;
        check_text(password, "the password").map_err(|e| self.fail(e))?;
        Ok(password)
    }

    /// Marks the connection broken and hands the error back: for failures after which the
    /// session cannot go on.
    fn fail(&mut self, e: Error) -> Error {
        self.broken = true;
        e
    }

    fn protocol(&mut self, what: &str) -> Error {
        self.fail(Error::unavailable(format!(
            "the database at {} broke the protocol: {what}",
            self.server
        )))
    }

    fn unexpected(&mut self, message: &Message<'_>) -> Error {
        self.protocol(&format!("unexpected {message:?}"))
    }

    fn usable(&self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::unavailable(format!(
                "the connection to the database at {} broke earlier; make a new one",
                self.server
            )));
        }
        Ok(())
    }

    fn send(&mut self, out: &[u8]) -> Result<(), Error> {
        let stream = self.conn.get_mut();
        if let Err(e) = stream.write_all(out).and_then(|()| stream.flush()) {
            self.broken = true;
            // A server that is shutting down says so before it closes: its message is the
            // better explanation than "broken pipe".
            // Not after a timeout: a server too stuck to read would not answer either.
            let timed_out = matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            );
            if !timed_out {
                if let Some(e) = self.pending_error() {
                    return Err(e);
                }
            }
            return Err(io_error(
                "lost the connection to",
                &self.server,
                &e,
                self.io_timeout,
            ));
        }
        Ok(())
    }

    /// The ErrorResponse a closing server left unread, if that is what comes next.
    fn pending_error(&mut self) -> Option<Error> {
        let mut body = Vec::new();
        let tag = wire::read_message(&mut self.conn, &mut body).ok()?;
        match wire::parse_backend(tag, &body) {
            Ok(Message::ErrorResponse(e)) => Some(Error {
                kind: Kind::Server(e),
            }),
            _ => None,
        }
    }

    fn receive(&mut self, body: &mut Vec<u8>) -> Result<u8, Error> {
        wire::read_message(&mut self.conn, body).map_err(|e| {
            self.broken = true;
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Error::unavailable(format!(
                    "the database at {} closed the connection",
                    self.server
                ))
            } else {
                io_error("lost the connection to", &self.server, &e, self.io_timeout)
            }
        })
    }

    fn parse<'b>(&mut self, tag: u8, body: &'b [u8]) -> Result<Message<'b>, Error> {
        wire::parse_backend(tag, body).map_err(|e| self.protocol(&e))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.broken {
            return;
        }
        // A polite goodbye, so the server logs no "unexpected EOF"; failure changes nothing.
        let mut out = Vec::new();
        wire::terminate(&mut out);
        let stream = self.conn.get_mut();
        let _ = stream.write_all(&out).and_then(|()| stream.flush());
        if let Stream::Tls(s) = stream {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_move_between_threads_and_errors_wrap() {
        fn send<T: Send>() {}
        fn shared<T: Send + Sync + 'static>() {}
        send::<Client>();
        shared::<Error>();
    }

    #[test]
    fn command_tags_give_the_row_count() {
        assert_eq!(rows_affected("INSERT 0 5"), 5);
        assert_eq!(rows_affected("UPDATE 3"), 3);
        assert_eq!(rows_affected("SELECT 0"), 0);
        assert_eq!(rows_affected("CREATE TABLE"), 0);
    }

    #[test]
    fn server_errors_show_severity_code_message_and_detail() {
        let e = Error {
            kind: Kind::Server(ServerError {
                severity: "ERROR".into(),
                code: "23505".into(),
                message: "duplicate key value violates unique constraint \"t_pkey\"".into(),
                detail: Some("Key (id)=(1) already exists.".into()),
            }),
        };
        assert_eq!(
            e.to_string(),
            "ERROR 23505: duplicate key value violates unique constraint \"t_pkey\" \
             (Key (id)=(1) already exists.)"
        );
        assert_eq!(e.code(), Some("23505"));
        assert!(!e.is_unavailable());
        let shutdown = Error {
            kind: Kind::Server(ServerError {
                severity: "FATAL".into(),
                code: "57P01".into(),
                message: "terminating connection due to administrator command".into(),
                detail: None,
            }),
        };
        assert!(shutdown.is_unavailable());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let c = Config {
            password: Some("hunter2".into()),
            ..Config::default()
        };
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2") && text.contains("***"), "{text}");
    }

    #[test]
    fn a_refused_connection_is_unavailable() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = Config {
            host: "127.0.0.1".into(),
            port,
            user: "nmr".into(),
            ..Config::default()
        };
        let e = Client::connect(&config).err().unwrap();
        assert!(e.is_unavailable(), "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
