//! nmr's own PostgreSQL client against a real PostgreSQL server (tests/support/postgres.rs):
//! - SCRAM-SHA-256 login, over TCP and over the Unix socket, and md5 and cleartext password
//!   login where pg_hba.conf asks for them; a wrong or missing password, or a database that
//!   does not exist, is a clear error;
//! - every value kind round-trips exactly (integers at their limits, floats, text with any
//!   Unicode, bytea with all 256 byte values, NULL), and result columns decode by type;
//! - a server error (unique violation, syntax error) leaves the connection usable, inside and
//!   outside transactions; `batch` runs DDL and transaction control;
//! - prepared statements are reused per SQL and parameter types, and their number is bounded;
//! - a server restart makes old connections report "unavailable" and "broken", and new ones
//!   work; so does a server silent past the I/O timeout;
//! - TLS with libpq's sslmode meanings: require, verify-ca, verify-full, prefer, disable.

use crate::support::postgres::Postgres;
use nmr::store::db::pg::{parse_url, Client, Config, Error, SslMode};
use nmr::store::db::value::{Value, ValueRef};

fn connect(url: &str) -> Client {
    Client::connect(&parse_url(url).unwrap()).unwrap_or_else(|e| panic!("connect: {e}"))
}

fn try_connect(url: &str) -> Result<Client, Error> {
    Client::connect(&parse_url(url).unwrap())
}

/// The single value a query returns.
fn one(c: &mut Client, sql: &str, params: &[ValueRef<'_>]) -> Value {
    let rows = c
        .query(sql, params)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(rows.rows.len(), 1, "{sql}: {rows:?}");
    assert_eq!(rows.rows[0].len(), 1, "{sql}: {rows:?}");
    rows.rows[0][0].clone()
}

#[test]
fn pg_login_with_scram_over_tcp_and_unix_socket() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    assert_eq!(
        one(&mut c, "SELECT current_user", &[]),
        Value::Text("nmr".into())
    );
    // The server holds only a SCRAM verifier: a login that works spoke SCRAM.
    assert_eq!(
        one(
            &mut c,
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = current_user",
            &[]
        ),
        Value::Text("SCRAM-SHA-256$".into())
    );
    assert!(!c.in_transaction());

    let config = Config {
        host: pg.socket_dir().display().to_string(),
        ..parse_url(&pg.url()).unwrap()
    };
    let mut unix = Client::connect(&config).unwrap();
    // Over a Unix socket the server sees no client address.
    assert_eq!(
        one(&mut unix, "SELECT inet_client_addr()", &[]),
        Value::Null
    );
}

#[test]
fn pg_wrong_or_missing_password_and_unknown_database_are_clear_errors() {
    let pg = Postgres::shared();
    let url = pg.url().replace(&pg.password, "wrong-password");
    let e = try_connect(&url).err().unwrap();
    assert_eq!(e.code(), Some("28P01"), "{e}");
    assert!(
        e.to_string()
            .contains("FATAL 28P01: password authentication failed for user \"nmr\""),
        "{e}"
    );
    assert!(!e.is_unavailable());

    let mut config = parse_url(&pg.url()).unwrap();
    config.password = None;
    let e = Client::connect(&config).err().unwrap();
    assert!(
        e.to_string().contains(
            "the database asks for a password; set it in db.url, PGPASSWORD or db.password_file"
        ),
        "{e}"
    );
    assert!(!e.is_unavailable());

    let e = try_connect(&pg.url_for("no_such_db")).err().unwrap();
    assert_eq!(e.code(), Some("3D000"), "{e}");
    assert!(!e.to_string().contains(&pg.password));
}

#[test]
fn pg_md5_and_cleartext_logins_work_where_pg_hba_asks_for_them() {
    let pg = Postgres::start();
    let mut admin = connect(&pg.url());
    admin
        .batch(
            "SET password_encryption = 'md5'; \
             CREATE ROLE md5user LOGIN PASSWORD 'pw:md5@x'; \
             RESET password_encryption; \
             CREATE ROLE plainuser LOGIN PASSWORD 'pw plain'",
        )
        .unwrap();
    drop(admin);
    // First match wins: these lines go before initdb's.
    let hba = pg.data().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!(
            "host all md5user 127.0.0.1/32 md5\nhost all plainuser 127.0.0.1/32 password\n{rules}"
        ),
    )
    .unwrap();
    pg.restart();
    let url = |user: &str, password: &str| {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/nmr?sslmode=disable",
            pg.port
        )
    };
    let mut c = connect(&url("md5user", "pw%3Amd5%40x"));
    assert_eq!(
        one(&mut c, "SELECT current_user", &[]),
        Value::Text("md5user".into())
    );
    let mut c = connect(&url("plainuser", "pw%20plain"));
    assert_eq!(
        one(&mut c, "SELECT current_user", &[]),
        Value::Text("plainuser".into())
    );
    let e = try_connect(&url("md5user", "wrong")).err().unwrap();
    assert_eq!(e.code(), Some("28P01"), "{e}");
    let e = try_connect(&url("plainuser", "wrong")).err().unwrap();
    assert_eq!(e.code(), Some("28P01"), "{e}");
}

#[test]
fn pg_every_value_kind_round_trips() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    c.batch("CREATE TABLE v (id int8 PRIMARY KEY, i int8, r float8, t text, b bytea)")
        .unwrap();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let odd_text =
        "héllo wörld ✓ 🦀 日本語 'single' \"double\" \\back\\slash\t\r\n $1 ;-- %s \u{7f}\u{1}";
    let cases: Vec<[ValueRef<'_>; 4]> = vec![
        [
            ValueRef::Int(i64::MIN),
            ValueRef::Real(0.1),
            ValueRef::Text(odd_text),
            ValueRef::Blob(&all_bytes),
        ],
        [
            ValueRef::Int(i64::MAX),
            ValueRef::Real(-1.0e300),
            ValueRef::Text(""),
            ValueRef::Blob(b""),
        ],
        [
            ValueRef::Int(0),
            ValueRef::Real(f64::MIN_POSITIVE),
            ValueRef::Text("x"),
            ValueRef::Blob(b"\0\\x00'"),
        ],
        [
            ValueRef::Int(-1),
            ValueRef::Real(f64::INFINITY),
            ValueRef::Text("NULL"),
            ValueRef::Blob(&[0xff; 3]),
        ],
        [
            ValueRef::Null,
            ValueRef::Null,
            ValueRef::Null,
            ValueRef::Null,
        ],
    ];
    for (id, case) in cases.iter().enumerate() {
        let mut params = vec![ValueRef::Int(id as i64)];
        params.extend_from_slice(case);
        let n = c
            .execute(
                "INSERT INTO v (id, i, r, t, b) VALUES ($1, $2, $3, $4, $5)",
                &params,
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let rows = c
        .query("SELECT i, r, t, b FROM v ORDER BY id", &[])
        .unwrap();
    assert_eq!(rows.columns, ["i", "r", "t", "b"]);
    let wanted: Vec<Vec<Value>> = cases
        .iter()
        .map(|case| {
            case.iter()
                .map(|v| match *v {
                    ValueRef::Null => Value::Null,
                    ValueRef::Int(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(t.into()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
                .collect()
        })
        .collect();
    assert_eq!(rows.rows, wanted);
    // And back through parameters: the stored bytes compare equal to what was sent.
    assert_eq!(
        one(
            &mut c,
            "SELECT count(*) FROM v WHERE b = $1 AND t = $2",
            &[ValueRef::Blob(&all_bytes), ValueRef::Text(odd_text)]
        ),
        Value::Int(1)
    );
}

#[test]
fn pg_result_columns_decode_by_their_type() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    let rows = c
        .query(
            "SELECT 1::int2, 2::int4, 3::int8, 4::oid, true, false, 1.5::float4, 2.25::float8, \
             3.75::numeric, 'v'::varchar, '{\"a\":1}'::jsonb, '\\x00ff'::bytea, NULL::int8, \
             EXISTS (SELECT 1), 'NaN'::float8, '-Infinity'::float8",
            &[],
        )
        .unwrap();
    let row = &rows.rows[0];
    assert_eq!(
        row[..14],
        [
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
            Value::Int(4),
            Value::Int(1),
            Value::Int(0),
            Value::Real(1.5),
            Value::Real(2.25),
            Value::Real(3.75),
            Value::Text("v".into()),
            Value::Text("{\"a\": 1}".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
            Value::Int(1),
        ]
    );
    assert!(matches!(row[14], Value::Real(f) if f.is_nan()));
    assert_eq!(row[15], Value::Real(f64::NEG_INFINITY));
    // Text parameters take the type their place calls for.
    assert_eq!(
        one(&mut c, "SELECT $1::int4 + 1", &[ValueRef::Text("41")]),
        Value::Int(42)
    );
    // An empty query is no error and has no rows.
    assert_eq!(c.query("", &[]).unwrap().rows.len(), 0);
}

#[test]
fn pg_a_server_error_leaves_the_connection_usable() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    c.batch("CREATE TABLE u (name text PRIMARY KEY)").unwrap();
    let insert = "INSERT INTO u (name) VALUES ($1)";
    assert_eq!(c.execute(insert, &[ValueRef::Text("a")]).unwrap(), 1);
    let e = c.execute(insert, &[ValueRef::Text("a")]).unwrap_err();
    assert_eq!(e.code(), Some("23505"), "{e}");
    assert!(
        e.to_string()
            .starts_with("ERROR 23505: duplicate key value violates unique constraint"),
        "{e}"
    );
    assert!(!e.is_unavailable() && !c.is_broken());
    assert_eq!(c.execute(insert, &[ValueRef::Text("b")]).unwrap(), 1);

    // A statement that fails to parse is not cached: it fails again, then the next works.
    for _ in 0..2 {
        let e = c.query("SELEC 1", &[]).unwrap_err();
        assert_eq!(e.code(), Some("42601"), "{e}");
    }
    assert_eq!(one(&mut c, "SELECT count(*) FROM u", &[]), Value::Int(2));
    // Fewer parameters than placeholders: the server refuses, the session goes on.
    let e = c
        .query("SELECT $1::int8 + $2::int8", &[ValueRef::Int(1)])
        .unwrap_err();
    assert!(e.code().is_some() && !c.is_broken(), "{e}");
    assert_eq!(
        one(
            &mut c,
            "SELECT $1::int8 + $2::int8",
            &[ValueRef::Int(1), ValueRef::Int(2)]
        ),
        Value::Int(3)
    );

    // Inside a transaction the error aborts it (status E) until ROLLBACK.
    c.batch("BEGIN").unwrap();
    assert!(c.in_transaction());
    c.execute(insert, &[ValueRef::Text("c")]).unwrap();
    c.execute(insert, &[ValueRef::Text("a")]).unwrap_err();
    assert!(c.in_transaction());
    let e = c.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(e.code(), Some("25P02"), "{e}");
    c.batch("ROLLBACK").unwrap();
    assert!(!c.in_transaction());
    assert_eq!(one(&mut c, "SELECT count(*) FROM u", &[]), Value::Int(2));
    assert!(!c.is_broken());
}

#[test]
fn pg_batch_runs_ddl_and_transaction_control() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    c.batch(
        "CREATE TABLE b (id int8 PRIMARY KEY, v text); \
         CREATE INDEX b_v ON b (v); \
         INSERT INTO b VALUES (1, 'one'), (2, 'two'); \
         SELECT * FROM b;",
    )
    .unwrap();
    assert_eq!(
        c.execute("UPDATE b SET v = upper(v)", &[]).unwrap(),
        2,
        "UPDATE's tag carries the count"
    );
    c.batch("BEGIN; DELETE FROM b WHERE id = 1").unwrap();
    assert!(c.in_transaction());
    c.batch("COMMIT").unwrap();
    assert!(!c.in_transaction());
    assert_eq!(one(&mut c, "SELECT count(*) FROM b", &[]), Value::Int(1));
    // An error in a batch stops it there and is reported; the connection goes on.
    let e = c
        .batch("INSERT INTO b VALUES (3, 'x'); SELECT nope; INSERT INTO b VALUES (4, 'y')")
        .unwrap_err();
    assert_eq!(e.code(), Some("42703"), "{e}");
    // One batch is one implicit transaction: the first insert went too.
    assert_eq!(one(&mut c, "SELECT count(*) FROM b", &[]), Value::Int(1));
    c.batch("").unwrap();
}

#[test]
fn pg_prepared_statements_are_cached_per_sql_and_parameter_types() {
    let pg = Postgres::shared();
    let mut c = connect(&pg.fresh_database());
    c.batch("CREATE TABLE p (n int8)").unwrap();
    let insert = "INSERT INTO p (n) VALUES ($1)";
    for i in 0..300 {
        c.execute(insert, &[ValueRef::Int(i)]).unwrap();
    }
    let count = "SELECT count(*) FROM p WHERE n = $1";
    assert_eq!(one(&mut c, count, &[ValueRef::Int(7)]), Value::Int(1));
    assert_eq!(one(&mut c, count, &[ValueRef::Text("8")]), Value::Int(1));
    assert_eq!(one(&mut c, count, &[ValueRef::Null]), Value::Int(0));
    assert_eq!(one(&mut c, count, &[ValueRef::Int(9)]), Value::Int(1));
    let prepared = "SELECT statement, parameter_types::text FROM pg_prepared_statements \
                    ORDER BY name";
    let rows = c.query(prepared, &[]).unwrap().rows;
    // One for the insert, two for the count (int8 vs inferred); NULL and Text share the
    // inferred one. The listing query itself is prepared before it runs.
    let statements: Vec<&Value> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        statements
            .iter()
            .filter(|s| ***s == Value::Text(insert.into()))
            .count(),
        1,
        "{rows:?}"
    );
    assert_eq!(
        statements
            .iter()
            .filter(|s| ***s == Value::Text(count.into()))
            .count(),
        2,
        "{rows:?}"
    );
    assert_eq!(rows.len(), 4, "{rows:?}");

    // Many distinct statements: the cache is emptied rather than growing without bound.
    for i in 0..600 {
        let sql = format!("SELECT {i} + $1");
        assert_eq!(one(&mut c, &sql, &[ValueRef::Int(1)]), Value::Int(i + 1));
    }
    let held = one(&mut c, "SELECT count(*) FROM pg_prepared_statements", &[]);
    assert!(
        matches!(held, Value::Int(n) if (1..=257).contains(&n)),
        "{held:?}"
    );
    // A cached statement whose result type changed (0A000) is prepared afresh.
    c.batch("CREATE TABLE s (x int4); INSERT INTO s VALUES (1)")
        .unwrap();
    assert_eq!(one(&mut c, "SELECT * FROM s", &[]), Value::Int(1));
    c.batch("ALTER TABLE s ALTER COLUMN x TYPE text").unwrap();
    let e = c.query("SELECT * FROM s", &[]).unwrap_err();
    assert_eq!(e.code(), Some("0A000"), "{e}");
    assert_eq!(one(&mut c, "SELECT * FROM s", &[]), Value::Text("1".into()));
    // DEALLOCATE through batch: the cache forgets too.
    c.batch("DEALLOCATE ALL").unwrap();
    assert_eq!(one(&mut c, count, &[ValueRef::Int(7)]), Value::Int(1));
}

#[test]
fn pg_a_restart_breaks_old_connections_and_new_ones_work() {
    let pg = Postgres::start();
    let mut old = connect(&pg.url());
    assert_eq!(one(&mut old, "SELECT 1", &[]), Value::Int(1));
    pg.restart();
    let e = old.query("SELECT 1", &[]).unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    assert!(old.is_broken());
    let again = old.query("SELECT 1", &[]).unwrap_err();
    assert!(again.is_unavailable(), "{again}");
    assert!(again.to_string().contains("make a new one"), "{again}");
    let mut fresh = connect(&pg.url());
    assert_eq!(one(&mut fresh, "SELECT 1", &[]), Value::Int(1));

    // A server that is down: refused, unavailable, and the message says where.
    pg.stop();
    let e = try_connect(&pg.url()).err().unwrap();
    assert!(e.is_unavailable(), "{e}");
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{}", pg.port)),
        "{e}"
    );
    let e = fresh.query("SELECT 1", &[]).unwrap_err();
    assert!(e.is_unavailable() && fresh.is_broken(), "{e}");
}

#[test]
fn pg_a_server_silent_past_the_io_timeout_breaks_the_connection() {
    let pg = Postgres::shared();
    let mut config = parse_url(&pg.fresh_database()).unwrap();
    config.io_timeout = std::time::Duration::from_secs(1);
    let mut c = Client::connect(&config).unwrap();
    let e = c.query("SELECT pg_sleep(3)", &[]).unwrap_err();
    assert!(e.is_unavailable() && c.is_broken(), "{e}");
    assert!(e.to_string().contains("no answer within 1 s"), "{e}");
}

/// Whether the server sees this session as TLS.
fn uses_tls(c: &mut Client) -> bool {
    one(
        c,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    ) == Value::Int(1)
}

#[test]
fn pg_tls_follows_libpq_sslmodes() {
    let pg = Postgres::start_tls();
    let ca = pg.ca_file.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let url = |host: &str, query: &str| {
        format!(
            "postgres://nmr:{}@{host}:{}/nmr?{query}",
            pg.password, pg.port
        )
    };

    // require: encrypted, the certificate (from a CA nobody trusts) not checked.
    let mut c = connect(&url("127.0.0.1", "sslmode=require"));
    assert!(uses_tls(&mut c));
    // prefer: TLS since the server offers it.
    assert!(uses_tls(&mut connect(&url("127.0.0.1", "sslmode=prefer"))));
    // verify-full: the CA given and the name matching.
    let mut c = connect(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(uses_tls(&mut c));
    // verify-full by address: the certificate names only localhost.
    let e = try_connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .err()
    .unwrap();
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(e.is_unavailable(), "{e}");
    // verify-ca: the chain is checked, the name is not.
    let mut c = connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    assert!(uses_tls(&mut c));
    // verify-full without the CA: the system roots do not know the test CA.
    let e = try_connect(&url("localhost", "sslmode=verify-full"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(e.is_unavailable(), "{e}");
    // disable: plain.
    assert!(!uses_tls(&mut connect(&url(
        "127.0.0.1",
        "sslmode=disable"
    ))));
    // A CA file that is not there is a setup error naming it.
    let e = try_connect(&url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ))
    .err()
    .unwrap();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");

    // A server without TLS: prefer falls back to plain, require refuses.
    let plain = Postgres::shared();
    let plain_url = plain.url().replace("sslmode=disable", "sslmode=prefer");
    assert!(!uses_tls(&mut connect(&plain_url)));
    let mut config = parse_url(&plain_url).unwrap();
    config.sslmode = SslMode::Require;
    let e = Client::connect(&config).err().unwrap();
    assert!(e.to_string().contains("does not accept TLS"), "{e}");
}
