#!/usr/bin/env python3
"""nmr against Verdaccio and against nginx serving the same bytes from disk, in one run.

Run through scripts/bench, which installs the tools and builds nmr. Every server listens on
127.0.0.1 on a free port, with a fresh data directory under one temporary directory that is
removed at the end; every server is stopped at the end, whatever happens.

Steps: start-up to the first /-/ping (each server several times, fresh data each time); start
the three servers; seed nmr and Verdaccio the same way over raw HTTP (200 packages of 5-500 KB,
one package with 500 versions, one 1 MB tarball); write the JSON bytes nmr returns for those
packuments, and the same tarballs, into nginx's document root; run every wrk load phase against
every server, interleaved and repeated; publish latency (raw HTTP and the npm client); 16
concurrent publishes of one package; memory. Then a table of medians and of the ratios nmr /
Verdaccio and nmr / nginx, the targets of issue #9, and the raw figures as JSON lines.

PostgreSQL: a throwaway cluster of the distribution's PostgreSQL on 127.0.0.1, and a fourth
server, nmr with its metadata there, seeded the same way; it runs the packument phases in the
same interleaved rounds (PG_PHASES) and the raw and concurrent publishes, and the table gains
its column and its ratio to nmr on SQLite. A second nmr on the same database, and nginx as a
round-robin proxy: the small packument through the proxy to one nmr, and to both in turn.

HTTPS: a throwaway CA and a certificate for 127.0.0.1 (made with the openssl CLI in the
temporary directory); a second nmr with server.tls.* on the first one's seeded data, and a
second nginx with `ssl` on the same document root, both with that certificate; the small
packument and small tarball phases also run against these two, as rows marked TLS. Verdaccio is
not measured over TLS: the question is what TLS costs nmr next to nginx's OpenSSL.
"""

import argparse
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCEPT_FULL = "application/json"
ACCEPT_ABBREV = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

N_SMALL = 200
SMALL_MIN, SMALL_MAX = 5 * 1024, 500 * 1024
MANY = "bench-many"
N_MANY = 500
BIG = "bench-big"
BIG_SIZE = 1024 * 1024
SMALL_TARBALL_MAX = 16 * 1024  # "tarball small" cycles through the tarballs up to this size


def small_name(i):
    return f"bench-s-{i:03d}"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_clock_id(pid):
    # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's posix-timers.h.
    return ((~pid) << 3) | 2


def proc_cpu_s(pid):
    """CPU seconds of the whole process (all its threads): the pid's CPU clock, else stat."""
    try:
        return time.clock_gettime_ns(cpu_clock_id(pid)) / 1e9
    except (OSError, OverflowError):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            return 0.0
        fields = text[text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem_kb(pid):
    out = {"VmRSS": 0, "VmHWM": 0}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in out:
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def ping(port, timeout=1.0, tls=None):
    """True when GET /-/ping answers 200 (one short-lived connection; over TLS when `tls`, an
    ssl.SSLContext, is given: a handshake that fails counts as no answer yet)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
            s.sendall(b"GET /-/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


class Certs:
    """A throwaway CA and a certificate for 127.0.0.1 that it signed (ECDSA P-256, valid two
    days), made with the openssl CLI in `dir`. nmr and nginx serve the same certificate and
    key, so each handshake costs both the same signature. `context` trusts only that CA and
    checks the address, so the harness's own requests (start-up ping, checks before the load)
    prove the setup right; wrk verifies nothing, and on its kept-alive connections it
    handshakes once per connection, so the load measures TLS records, not certificates."""

    def __init__(self, dir):
        os.makedirs(dir, exist_ok=True)
        self.ca = os.path.join(dir, "ca.pem")
        self.cert = os.path.join(dir, "server.pem")
        self.key = os.path.join(dir, "server.key")
        ca_key, csr, ext = (os.path.join(dir, n) for n in ("ca.key", "server.csr", "server.ext"))
        with open(ext, "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = IP:127.0.0.1\n"
                    "subjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for cmd in (
                ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca,
                 "-days", "2", "-subj", "/CN=nmr bench throwaway CA",
                 "-addext", "basicConstraints = critical, CA:TRUE",
                 "-addext", "keyUsage = critical, keyCertSign, cRLSign"],
                ["openssl", "req", "-new", *ec, "-keyout", self.key, "-out", csr,
                 "-subj", "/CN=127.0.0.1"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
                 "-set_serial", "2", "-days", "2", "-extfile", ext, "-out", self.cert]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:3])} failed: {r.stderr[-1000:]}")
        self.context = ssl.create_default_context(cafile=self.ca)


def tls_session(server):
    """(protocol, cipher suite) that a default OpenSSL client, Python's, gets from the server.
    wrk is an OpenSSL client with its defaults too; if nmr and nginx settle on different
    suites, the TLS rows compare different work, and the table says so."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with server.tls.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version(), s.cipher()[0]


class Server:
    """One server process (and, for nginx, its workers) on a loopback port."""

    name = "?"
    token = None

    def __init__(self, root, label, certs=None):
        self.dir = os.path.join(root, label)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.port = None
        self.errlog = None
        self.certs = certs  # a Certs when the server listens with TLS
        self.tls = certs.context if certs else None

    def url(self, path="/"):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def command(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    def start(self, bound=60.0):
        """Starts the server; returns the seconds from spawn to the first 200 on /-/ping."""
        self.port = free_port()
        cmd = self.command()
        self.errlog = open(os.path.join(self.dir, "server.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=self.errlog, stderr=self.errlog,
                                     start_new_session=True)
        while True:
            if ping(self.port, tls=self.tls):
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                self.errlog.close()
                tail = open(os.path.join(self.dir, "server.log"), "rb").read()[-3000:]
                raise RuntimeError(f"{self.name} exited at start-up with {self.proc.returncode}:"
                                   f"\n{tail.decode(errors='replace')}")
            if time.monotonic() - t0 > bound:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer /-/ping within {bound:.0f} s")
            time.sleep(0.001)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.errlog is not None:
            self.errlog.close()
            self.errlog = None

    def log_tail(self, n=3000):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def pids(self):
        if self.proc is None:
            return []
        return [self.proc.pid] + children(self.proc.pid)

    def cpu_s(self):
        return sum(proc_cpu_s(p) for p in self.pids())

    def mem_kb(self):
        """(RSS, peak RSS) in kB, summed over the server's processes."""
        ms = [proc_mem_kb(p) for p in self.pids()]
        return sum(m["VmRSS"] for m in ms), sum(m["VmHWM"] for m in ms)

    def auth(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class Nmr(Server):
    name = "nmr"
    token = "bench-any-token"  # auth type `none` accepts any token

    def __init__(self, root, label, binary, certs=None, data_of=None, pg=None):
        """`data_of`: another Nmr whose storage and database this one serves (the HTTPS one
        reads what the plain one was seeded with; SQLite in WAL mode has room for two readers,
        and neither writes while both run). `pg`: a Postgres to keep the metadata in, instead
        of SQLite."""
        super().__init__(root, label, certs)
        self.binary = binary
        self.data_dir = (data_of or self).dir
        self.pg = pg
        if pg:
            self.name = "nmr-pg"
        # An empty ./nmr.toml is found first, so no user or /etc config file changes the setup.
        open(os.path.join(self.dir, "nmr.toml"), "w").close()

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("NMR_")}
        env["XDG_CONFIG_HOME"] = self.dir
        return env

    def command(self):
        cmd = [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--storage-path", os.path.join(self.data_dir, "storage"),
               "--log-level", "warn"]
        if self.pg:
            # Local storage with PostgreSQL is refused unless allowed, since instances on
            # other machines would not share tarballs; every nmr of this run is on this one.
            cmd += ["--set", f"db.url={self.pg.url()}", "--set", "db.allow_local_storage=true"]
        else:
            cmd += ["--db-path", os.path.join(self.data_dir, "nmr.sqlite")]
        if self.certs:
            cmd += ["--set", f"server.tls.cert={self.certs.cert}",
                    "--set", f"server.tls.key={self.certs.key}"]
        return cmd

    def pids(self):
        """With PostgreSQL, its processes count as the server's too: on SQLite the database's
        work is done in nmr's own threads, so CPU per request compares like with like."""
        own = super().pids()
        return own + (self.pg.pids() if self.pg and own else [])


VERDACCIO_CONFIG = """\
# Written by scripts/bench. No uplinks: every name is local.
storage: {dir}/storage
listen: 127.0.0.1:{port}
max_body_size: 200mb
web:
  enable: false
auth:
  htpasswd:
    file: {dir}/htpasswd
    max_users: 1000
security:
  api:
    legacy: false
    jwt:
      sign:
        expiresIn: 7d
userRateLimit:
  windowMs: 1000
  max: 1000000000
packages:
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
log:
  type: stdout
  format: json
  level: warn
"""


class Verdaccio(Server):
    name = "verdaccio"

    def __init__(self, root, label, install_dir):
        super().__init__(root, label)
        self.bin = os.path.join(install_dir, "node_modules", "verdaccio", "bin", "verdaccio")

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("npm_config_")}
        env["NODE_ENV"] = "production"
        return env

    def command(self):
        cfg = os.path.join(self.dir, "config.yaml")
        with open(cfg, "w") as f:
            f.write(VERDACCIO_CONFIG.format(dir=self.dir, port=self.port))
        return ["node", self.bin, "--config", cfg, "--listen", f"127.0.0.1:{self.port}"]

    def add_user(self):
        """Creates the bench user (htpasswd) and keeps its token for publishing."""
        body = json.dumps({"_id": "org.couchdb.user:bench", "name": "bench",
                           "password": "bench-password-1", "type": "user", "roles": [],
                           "date": "2020-01-01T00:00:00.000Z"}).encode()
        st, resp = request(self.port, "PUT", "/-/user/org.couchdb.user:bench", body,
                           {"Content-Type": "application/json"})
        if st != 201:
            raise RuntimeError(f"verdaccio adduser: HTTP {st}: {resp[:300]!r}")
        self.token = json.loads(resp)["token"]


NGINX_CONFIG = """\
# Written by scripts/bench: the same packument JSON bytes and tarballs as nmr, from disk.
{user}worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    open_file_cache max=2000 inactive=60s;
    gzip_static on;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_accept $variant {{
        ~application/vnd\\.npm\\.install-v1\\+json abbrev;
        default full;
    }}
    server {{
        listen 127.0.0.1:{port}{ssl};
{tls}        root {root};
        location = /-/ping {{ default_type application/json; return 200 "{{}}"; }}
        location ~ ^/[^/]+/-/[^/]+\\.tgz$ {{
            root {root}/tarballs;
            default_type application/octet-stream;
        }}
        location / {{ rewrite ^ /$variant$uri last; }}
        location /full/ {{ internal; root {root}/docs; default_type application/json; }}
        location /abbrev/ {{
            internal;
            root {root}/docs;
            default_type application/vnd.npm.install-v1+json;
        }}
    }}
}}
"""


NGINX_TLS = """\
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
"""


class Nginx(Server):
    name = "nginx"

    def __init__(self, root, label, binary, docroot, workers, certs=None):
        super().__init__(root, label, certs)
        self.binary = binary
        self.docroot = docroot
        self.workers = workers

    def command(self):
        cfg = os.path.join(self.dir, "nginx.conf")
        with open(cfg, "w") as f:
            f.write(NGINX_CONFIG.format(
                user="user root;\n" if os.geteuid() == 0 else "", workers=self.workers,
                dir=self.dir, port=self.port, root=self.docroot,
                ssl=" ssl" if self.certs else "",
                tls=NGINX_TLS.format(cert=self.certs.cert, key=self.certs.key)
                if self.certs else ""))
        return [self.binary, "-p", self.dir, "-c", cfg, "-e", os.path.join(self.dir, "error.log")]

    def start(self, bound=60.0):
        took = super().start(bound)
        # The workers answer the ping; wait until all of them exist, for the memory figures.
        t0 = time.monotonic()
        while len(children(self.proc.pid)) < self.workers and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        return took


PROXY_CONFIG = """\
# Written by scripts/bench: one nginx, two ports; "one" proxies to one nmr, "two" round-robins
# over two nmr on the same database. Both go through the same proxy, so both pay its cost.
{user}worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Kept-alive connections to the upstreams (HTTP/1.1, no "Connection: close"): without them
    # every request would open a TCP connection to nmr, and the proxy would measure that.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    upstream one {{
{one}        keepalive 32;
        keepalive_requests 1000000;
    }}
    upstream two {{
{two}        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://one; }} }}
    server {{ listen 127.0.0.1:{port2}; location / {{ proxy_pass http://two; }} }}
}}
"""


class Proxy(Nginx):
    """nginx as a plain round-robin load balancer in front of nmr: port `port` goes to
    `backends[0]` alone, port `port2` to every backend in turn (nginx's default balancing, no
    weights or affinity). `via("one")`/`via("two")` are what the load phases aim at."""

    name = "nginx-proxy"

    def __init__(self, root, label, binary, workers, backends):
        super().__init__(root, label, binary, None, workers)
        self.backends = backends
        self.port2 = None

    def command(self):
        cfg = os.path.join(self.dir, "nginx.conf")

        def servers(bs):
            return "".join(f"        server 127.0.0.1:{b.port};\n" for b in bs)

        with open(cfg, "w") as f:
            f.write(PROXY_CONFIG.format(
                user="user root;\n" if os.geteuid() == 0 else "", workers=self.workers,
                dir=self.dir, port=self.port, port2=self.port2,
                one=servers(self.backends[:1]), two=servers(self.backends)))
        return [self.binary, "-p", self.dir, "-c", cfg, "-e", os.path.join(self.dir, "error.log")]

    def start(self, bound=60.0):
        self.port2 = free_port()
        took = super().start(bound)
        # The ping on the first port went through to nmr; the second port must too. Whether
        # both backends get their share is seen in their request counters during the load.
        if not ping(self.port2):
            raise RuntimeError(f"{self.name}: no 200 for /-/ping on port {self.port2}")
        return took

    def via(self, which):
        return ProxyPort(self, which)


class ProxyPort:
    """One port of a Proxy, as the load phases see a server: its URL, and the CPU time of
    the proxy and of the nmr (and PostgreSQL) processes behind that port."""

    tls = None

    def __init__(self, proxy, which):
        self.proxy = proxy
        self.which = which
        self.backends = proxy.backends if which == "two" else proxy.backends[:1]
        self.name = f"nginx -> {len(self.backends)} nmr"

    @property
    def port(self):
        return self.proxy.port if self.which == "one" else self.proxy.port2

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def pids(self):
        # dict.fromkeys: the backends share one PostgreSQL, counted once.
        return list(dict.fromkeys(
            self.proxy.pids() + [p for b in self.backends for p in b.pids()]))

    def cpu_s(self):
        return sum(proc_cpu_s(p) for p in self.pids())


class Postgres:
    """A PostgreSQL server for the run, from the distribution's binaries in `bindir`: a fresh
    cluster (initdb) in a temporary directory of its own, started with pg_ctl on 127.0.0.1 on a
    free port, with one database for nmr. Run as root, every PostgreSQL command runs as nobody
    (the server refuses root), so the directory is nobody's and lies outside the run's
    temporary directory, which only root may enter. `stop` stops it with pg_ctl, else by the
    postmaster's pid, and removes the directory.

    Trust authentication on 127.0.0.1 only, and no Unix socket: nmr reaches it over loopback
    TCP, as it would a database host. Every other setting is PostgreSQL's default, fsync and
    synchronous_commit included: a publish waits until its commit is on disk, as with SQLite's
    synchronous = FULL, so the publish figures compare the same promise."""

    name = "postgres"
    user = "nmr"
    database = "nmr"

    def __init__(self, bindir):
        self.bindir = bindir
        self.as_nobody = os.geteuid() == 0
        self.dir = self.data = self.log = None  # made by start
        self.port = None
        self.pid = None

    def version(self):
        return subprocess.run([os.path.join(self.bindir, "postgres"), "--version"],
                              capture_output=True, text=True).stdout.strip()

    def run(self, tool, *args, timeout=120):
        cmd = [os.path.join(self.bindir, tool), *args]
        if self.as_nobody:
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        r = subprocess.run(cmd, cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{tool} failed ({r.returncode}): {(r.stderr or r.stdout)[-1500:]}"
                               f"\n{self.log_tail()}")
        return r.stdout

    def start(self):
        """Creates the cluster and the database and starts the server; returns the seconds."""
        t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="nmr-bench-pg-")
        if self.as_nobody:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        # --no-sync: a cluster that lives for one run needs no flush at creation.
        self.run("initdb", "-D", self.data, "-U", self.user, "--auth=trust", "-E", "UTF8",
                 "--no-locale", "--no-sync")
        self.port = free_port()
        # In the config file rather than pg_ctl -o, which goes through a shell.
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\n# scripts/bench\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = ''\n")
        self.run("pg_ctl", "start", "-D", self.data, "-l", self.log, "-w", "-t", "60")
        self.pid = self.postmaster_pid()
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                 self.database)
        return time.monotonic() - t0

    def url(self):
        return (f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"
                "?sslmode=disable")

    def pids(self):
        """The postmaster and its children: the backends serving nmr's connections, and the
        background processes (WAL writer, checkpointer)."""
        if self.pid is None:
            return []
        return [self.pid] + children(self.pid)

    def postmaster_pid(self):
        if self.data is None:
            return None
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self, remove=True):
        # The pid file, not only self.pid: a start that failed half-way (pg_ctl giving up while
        # the server came up after all) leaves a server to stop too.
        pid = self.pid or self.postmaster_pid()
        if pid is not None:
            try:
                self.run("pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w", "-t", "30",
                         timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f"pg_ctl stop: {e}; SIGQUIT (immediate shutdown) to the postmaster, "
                    f"pid {pid}")
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass
            self.pid = None
        if self.dir is not None and remove:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, n=2000):
        try:
            with open(self.log, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except (OSError, TypeError):
            return ""


# ---------------------------------------------------------------- HTTP


def request(port, method, path, body=None, headers=None, timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def get(port, path, headers, tls=None):
    c = (http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=tls) if tls
         else http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def connect(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def requests_handled(server):
    """The requests an nmr has answered since it started, from its /-/metrics."""
    st, _, body = get(server.port, "/-/metrics", {})
    if st != 200:
        raise RuntimeError(f"{server.name}: GET /-/metrics: HTTP {st}")
    return sum(float(line.rsplit(None, 1)[1]) for line in body.decode().splitlines()
               if line.startswith("nmr_http_requests_total"))


# ---------------------------------------------------------------- packages


def make_tarball(name, version, size):
    """A real .tgz (package/package.json + package/data.bin of incompressible bytes) of about
    `size` bytes."""
    rnd = random.Random(f"{name}@{version}")
    pj = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    data = rnd.randbytes(max(0, size - 700))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for fname, content in (("package/package.json", pj), ("package/data.bin", data)):
                ti = tarfile.TarInfo(fname)
                ti.size, ti.mtime, ti.mode = len(content), 0, 0o644
                tar.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


class Tgz:
    def __init__(self, name, version, size):
        self.name, self.version = name, version
        self.bytes = make_tarball(name, version, size)
        self.b64 = base64.b64encode(self.bytes).decode()
        self.shasum = hashlib.sha1(self.bytes).hexdigest()
        self.integrity = "sha512-" + base64.b64encode(hashlib.sha512(self.bytes).digest()).decode()
        self.file = f"{name}-{version}.tgz"
        self.path = f"/{name}/-/{self.file}"


def publish_body(port, t, latest=None):
    """A publish body shaped like npm 11's, for tarball `t`."""
    name, v = t.name, t.version
    rnd = random.Random(f"meta:{name}@{v}")
    manifest = {
        "name": name, "version": v,
        "description": f"benchmark package {name}, with an ordinary one-line description",
        "main": "index.js",
        "scripts": {"test": "node test.js"},
        "keywords": ["bench", "nmr", rnd.choice(["alpha", "beta", "gamma"])],
        "author": "Bench Author <bench@example.test>",
        "license": "MIT",
        "dependencies": {f"dep-{rnd.randrange(50)}": "^1.2.3", f"dep-{rnd.randrange(50)}": "~2.0.0"},
        "_id": f"{name}@{v}",
        "_nodeVersion": "20.20.2",
        "_npmVersion": "11.19.1",
        "dist": {
            "integrity": t.integrity,
            "shasum": t.shasum,
            "tarball": f"http://127.0.0.1:{port}{t.path}",
        },
    }
    return json.dumps({
        "_id": name, "name": name, "description": manifest["description"],
        "dist-tags": {"latest": latest or v},
        "versions": {v: manifest},
        "access": None,
        "_attachments": {t.file: {"content_type": "application/octet-stream",
                                  "data": t.b64, "length": len(t.bytes)}},
    }).encode()


def url_path(name):
    return "/" + name.replace("/", "%2f")


def publish(conn, server, t):
    """One raw-HTTP publish on a keep-alive connection; returns (status, seconds)."""
    body = publish_body(server.port, t)
    headers = {"Content-Type": "application/json", **server.auth()}
    t0 = time.monotonic()
    conn.request("PUT", url_path(t.name), body=body, headers=headers)
    r = conn.getresponse()
    resp = r.read()
    took = time.monotonic() - t0
    if r.status not in (200, 201):
        raise RuntimeError(f"{server.name}: publish {t.name}@{t.version}: HTTP {r.status}: "
                           f"{resp[:300]!r}")
    return r.status, took


class Dataset:
    def __init__(self):
        self.small = []
        for i in range(N_SMALL):
            size = round(SMALL_MIN * (SMALL_MAX / SMALL_MIN) ** (i / (N_SMALL - 1)))
            self.small.append(Tgz(small_name(i), "1.0.0", size))
        self.many = [Tgz(MANY, f"1.0.{i}", 1500) for i in range(N_MANY)]
        self.big = Tgz(BIG, "1.0.0", BIG_SIZE)

    def all(self):
        return self.small + self.many + [self.big]

    def bytes_total(self):
        return sum(len(t.bytes) for t in self.all())


def seed(server, data):
    conn = connect(server.port)
    t0 = time.monotonic()
    try:
        for t in data.all():
            try:
                publish(conn, server, t)
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = connect(server.port)
                publish(conn, server, t)
    finally:
        conn.close()
    return time.monotonic() - t0


def write_docroot(nmr, data, docroot):
    """nginx's document root: the packument bytes nmr returns (full and abbreviated, identity
    and gzip) and the same tarballs."""
    names = [t.name for t in data.small] + [MANY, BIG]
    for variant, accept in (("full", ACCEPT_FULL), ("abbrev", ACCEPT_ABBREV)):
        d = os.path.join(docroot, "docs", variant)
        os.makedirs(d, exist_ok=True)
        for name in names:
            st, _, plain = get(nmr.port, url_path(name), {"Accept": accept})
            st2, h2, gz = get(nmr.port, url_path(name),
                              {"Accept": accept, "Accept-Encoding": "gzip"})
            if st != 200 or st2 != 200:
                raise RuntimeError(f"nmr GET {name} ({variant}): HTTP {st}/{st2}")
            with open(os.path.join(d, name), "wb") as f:
                f.write(plain)
            if h2.get("content-encoding") == "gzip":
                with open(os.path.join(d, name + ".gz"), "wb") as f:
                    f.write(gz)
    for t in data.all():
        d = os.path.join(docroot, "tarballs", t.name, "-")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, t.file), "wb") as f:
            f.write(t.bytes)


# ---------------------------------------------------------------- load phases


def phases(data):
    """(key, label, paths, headers, expected status, higher is better)"""
    small_docs = [url_path(t.name) for t in data.small]
    small_tgz = [t.path for t in data.small if len(t.bytes) <= SMALL_TARBALL_MAX]
    gz = {"Accept-Encoding": "gzip"}
    return [
        ("pack_small", "packument small (1 version, 200 names)", small_docs,
         {"Accept": ACCEPT_FULL}, 200),
        ("pack_500_full", "packument 500 versions, full", [url_path(MANY)],
         {"Accept": ACCEPT_FULL}, 200),
        ("pack_500_abbrev", "packument 500 versions, abbreviated", [url_path(MANY)],
         {"Accept": ACCEPT_ABBREV}, 200),
        ("pack_small_gzip", "packument small, gzip", small_docs,
         {"Accept": ACCEPT_FULL, **gz}, 200),
        ("pack_500_full_gzip", "packument 500 versions, full, gzip", [url_path(MANY)],
         {"Accept": ACCEPT_FULL, **gz}, 200),
        ("tgz_small", f"tarball small (<= {SMALL_TARBALL_MAX // 1024} KB, {len(small_tgz)} files)",
         small_tgz, {}, 200),
        ("tgz_1mb", "tarball 1 MB", [data.big.path], {}, 200),
        ("not_found", "unknown package (404)", [f"/bench-missing-{i:03d}" for i in range(50)],
         {"Accept": ACCEPT_FULL}, 404),
    ]


TLS_PHASES = {"pack_small": "packument small, TLS", "tgz_small": "tarball small, TLS"}


def tls_phases(ph):
    """The phases that also run over HTTPS, against nmr and nginx only: small answers, where
    TLS's cost per request weighs most against the work of answering. Two, to keep --quick
    quick."""
    return [(key + "_tls", TLS_PHASES[key], *rest) for key, _, *rest in ph if key in TLS_PHASES]


# The phases nmr on PostgreSQL runs too, beside nmr on SQLite: packuments, where every read
# checks the package's revision in the database before answering from the rendered cache, and
# so where the database's cost per request shows. Tarballs and gzip differ from these in
# nothing the database does; left out to keep the run short.
PG_PHASES = ("pack_small", "pack_500_full", "pack_500_abbrev")


def lb_phases(ph):
    """The phase that runs behind nginx round robin, against one nmr and two on PostgreSQL: the
    small packument, the answer where the database's and the proxy's cost per request weigh
    most."""
    return [("pack_small_lb", "packument small, via nginx round robin", *rest)
            for key, _, *rest in ph if key == "pack_small"]


def check_phase(server, paths, headers, expect):
    """One GET per path (at most 5) before the load: right status; returns the mean body size."""
    sizes = []
    for p in paths[:5]:
        st, h, body = get(server.port, p, headers, tls=server.tls)
        if st != expect:
            raise RuntimeError(f"{server.name}: GET {p} {headers}: HTTP {st}, wanted {expect}: "
                               f"{body[:200]!r}")
        if "gzip" in headers.get("Accept-Encoding", "") and expect == 200 \
                and h.get("content-encoding") != "gzip":
            log(f"note: {server.name} answered GET {p} with gzip asked without gzip")
        sizes.append(len(body))
    return statistics.mean(sizes)


def run_wrk(server, paths, headers, duration, threads, conns, tmp):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    env = dict(os.environ)
    if len(paths) == 1:
        cmd += ["-s", os.path.join(HERE, "report.lua"), server.url(paths[0])]
    else:
        listing = os.path.join(tmp, "paths.txt")
        with open(listing, "w") as f:
            f.write("\n".join(paths) + "\n")
        env["NMR_BENCH_PATHS"] = listing
        cmd += ["-s", os.path.join(HERE, "paths.lua"), server.url()]
    cpu0 = server.cpu_s()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    cpu1 = server.cpu_s()
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr[-1000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("@@json ")]
    if not line:
        raise RuntimeError(f"wrk printed no figures: {out.stdout[-1000:]}")
    r = json.loads(line[-1][len("@@json "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["server_cpu_s"] = cpu1 - cpu0
    r["server_cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / max(1, r["requests"])
    return r


# ---------------------------------------------------------------- publishing


def publish_latency(server, n, size=10 * 1024):
    conn = connect(server.port)
    out = []
    try:
        for i in range(n):
            t = Tgz("bench-pub-raw", f"1.0.{i}", size)
            _, took = publish(conn, server, t)
            out.append(took)
    finally:
        conn.close()
    return out


def npm_publish_latency(server, n, tmp):
    work = os.path.join(tmp, f"npm-{server.name}")
    pkg = os.path.join(work, "pkg")
    os.makedirs(pkg, exist_ok=True)
    registry = f"http://127.0.0.1:{server.port}/"
    npmrc = os.path.join(work, "npmrc")
    with open(npmrc, "w") as f:
        f.write(f"registry={registry}\n//127.0.0.1:{server.port}/:_authToken={server.token}\n"
                "update-notifier=false\nfund=false\naudit=false\n")
    with open(os.path.join(pkg, "index.js"), "w") as f:
        f.write("module.exports = 42;\n" + "// padding\n" * 400)
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update({"npm_config_userconfig": npmrc, "npm_config_cache": os.path.join(work, "cache"),
                "npm_config_globalconfig": os.path.join(work, "globalnpmrc")})
    out = []
    for i in range(n):
        with open(os.path.join(pkg, "package.json"), "w") as f:
            json.dump({"name": "bench-pub-npm", "version": f"1.0.{i}", "main": "index.js",
                       "description": "published by npm in the benchmark", "license": "MIT"}, f)
        t0 = time.monotonic()
        r = subprocess.run(["npm", "publish", "--registry", registry, "--loglevel=error"],
                           cwd=pkg, env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{server.name}: npm publish: {r.stderr[-1500:]}")
        out.append(took)
    return out


def concurrent_publishes(server, n=16):
    """n versions of one package published at once, each on its own connection. Returns the
    statuses, the versions the packument then lists, and the wall time."""
    name = "bench-conc"
    conn = connect(server.port)
    publish(conn, server, Tgz(name, "1.0.0", 8 * 1024))
    conn.close()
    tgzs = [Tgz(name, f"1.1.{i}", 8 * 1024) for i in range(n)]
    bodies = [publish_body(server.port, t) for t in tgzs]
    conns = [connect(server.port) for _ in range(n)]
    for c in conns:
        c.sock.settimeout(60)
    statuses = [None] * n
    barrier = threading.Barrier(n + 1)

    def one(i):
        barrier.wait()
        try:
            conns[i].request("PUT", url_path(name), body=bodies[i],
                             headers={"Content-Type": "application/json", **server.auth()})
            r = conns[i].getresponse()
            r.read()
            statuses[i] = r.status
        except (http.client.HTTPException, OSError) as e:
            statuses[i] = f"error: {e}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    stuck = None
    if any(st not in (200, 201) for st in statuses):
        stuck = threads_state(server)
    for c in conns:
        c.close()
    st, _, body = get(server.port, url_path(name), {"Accept": ACCEPT_FULL})
    listed = set(json.loads(body).get("versions", {})) if st == 200 else set()
    present = sum(1 for t in tgzs if t.version in listed)
    tarballs = sum(1 for t in tgzs if get(server.port, t.path, {})[0] == 200)
    ok = sum(1 for s in statuses if s in (200, 201))
    out = {"n": n, "ok": ok, "present": present, "tarballs": tarballs, "wall_s": wall,
           "statuses": [str(s) for s in statuses]}
    if stuck is not None:
        out["threads"] = stuck
        log(f"{server.name}: {n - ok} of {n} concurrent publishes failed; where its threads "
            f"wait is in the JSON record; server log tail:\n{server.log_tail()}")
    return out


def threads_state(server):
    """Where each of the server's threads waits (wchan, and the kernel stack where readable):
    kept in the JSON record when concurrent publishes fail, to tell a lock from slow I/O."""
    out = []
    for pid in server.pids():
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            t = {"tid": int(tid)}
            for field in ("comm", "wchan", "stack"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/{field}") as f:
                        t[field] = f.read().strip()
                except OSError:
                    pass
            out.append(t)
    return out


# ---------------------------------------------------------------- report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit):
    if x is None:
        return "-"
    if unit == "req/s":
        return f"{x:,.0f}"
    if unit in ("ms",):
        return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"
    if unit == "MB":
        return f"{x:.1f}"
    if unit == "µs":
        return f"{x:.0f}"
    return str(x)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nmr", required=True, help="nmr binary")
    ap.add_argument("--verdaccio", required=True, help="dir with node_modules/verdaccio")
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--postgres", required=True, help="dir with PostgreSQL's initdb and pg_ctl")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk phase")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--startups", type=int, default=5, help="start-ups per server")
    ap.add_argument("--publishes", type=int, default=30, help="raw-HTTP publishes per registry")
    ap.add_argument("--npm-publishes", type=int, default=5)
    ap.add_argument("--json", help="raw figures as JSON lines (default /tmp/nmr-bench-TIME.jsonl)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat of 2 s phases")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.repeats, args.startups = 2, 1, 2
        args.publishes, args.npm_publishes = 5, 1
    json_path = args.json or time.strftime("/tmp/nmr-bench-%Y%m%d-%H%M%S.jsonl")
    t_run = time.monotonic()
    records = []

    def record(kind, **kw):
        rec = {"kind": kind, **kw}
        records.append(rec)
        return rec

    nginx_workers = os.cpu_count() or 2
    vversion = json.load(open(os.path.join(args.verdaccio, "node_modules", "verdaccio",
                                           "package.json")))["version"]
    nver = subprocess.run([args.nginx, "-v"], capture_output=True, text=True).stderr.strip()
    wver = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    pg = Postgres(args.postgres)
    env = record("env", nmr=args.nmr,
                 nmr_version=subprocess.run([args.nmr, "--version"], capture_output=True,
                                            text=True).stdout.strip(),
                 verdaccio=vversion, nginx=nver.split("/")[-1], postgres=pg.version(),
                 wrk=(wver.split() + ["?"])[1], node=subprocess.run(
                     ["node", "--version"], capture_output=True, text=True).stdout.strip(),
                 cpus=os.cpu_count(), duration_s=args.duration, repeats=args.repeats,
                 wrk_threads=args.threads, wrk_connections=args.connections,
                 nginx_workers=nginx_workers, nmr_workers="default (16)",
                 time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    tmp = tempfile.mkdtemp(prefix="nmr-bench-")
    log(f"temporary directory {tmp}")
    docroot = os.path.join(tmp, "www")
    os.makedirs(os.path.join(docroot, "docs", "full"), exist_ok=True)
    os.makedirs(os.path.join(docroot, "docs", "abbrev"), exist_ok=True)
    os.makedirs(os.path.join(docroot, "tarballs"), exist_ok=True)
    running = []

    def make(kind, label, certs=None, data_of=None, pg=None):
        if kind == "nmr":
            return Nmr(tmp, label, args.nmr, certs, data_of, pg)
        if kind == "verdaccio":
            return Verdaccio(tmp, label, args.verdaccio)
        return Nginx(tmp, label, args.nginx, docroot, nginx_workers, certs)

    kinds = ["nmr", "verdaccio", "nginx"]
    results = {}  # (metric key, server) -> list of values
    try:
        # ------------------------------------------------------------ start-up
        log(f"start-up to first /-/ping, {args.startups} times each, fresh data each time")
        for i in range(args.startups):
            for kind in kinds:
                s = make(kind, f"startup-{kind}-{i}")
                running.append(s)
                took = s.start()
                rss, _ = s.mem_kb()
                s.stop()
                running.remove(s)
                record("startup", server=kind, i=i, ms=took * 1000, rss_kb=rss)
                results.setdefault(("startup", kind), []).append(took * 1000)

        # ------------------------------------------------------------ the three servers
        servers = {k: make(k, k) for k in kinds}
        for kind, s in servers.items():
            running.append(s)
            s.start()
        time.sleep(3.0)  # let start-up work (JIT, lazy loading) settle before "idle"
        for kind, s in servers.items():
            rss, hwm = s.mem_kb()
            record("memory", server=kind, when="idle", rss_kb=rss, hwm_kb=hwm)
            results.setdefault(("rss_idle", kind), []).append(rss / 1024)

        # ------------------------------------------------------------ nmr on PostgreSQL
        took = pg.start()
        log(f"{pg.version()} on port {pg.port}, started in {took:.1f} s")
        nmr_pg = make("nmr", "nmr-pg", pg=pg)
        running.append(nmr_pg)
        took = nmr_pg.start()
        record("postgres", version=pg.version(), nmr_startup_ms=took * 1000)

        log("generating packages")
        data = Dataset()
        record("dataset", small=N_SMALL, small_min=SMALL_MIN, small_max=SMALL_MAX,
               many_versions=N_MANY, big=len(data.big.bytes), total_bytes=data.bytes_total())
        servers["verdaccio"].add_user()
        for kind, s in (("nmr", servers["nmr"]), ("verdaccio", servers["verdaccio"]),
                        ("nmr_pg", nmr_pg)):
            log(f"seeding {kind}: {len(data.all())} publishes, "
                f"{data.bytes_total() / 1e6:.1f} MB of tarballs")
            took = seed(s, data)
            record("seed", server=kind, publishes=len(data.all()), s=took)
            if kind != "nmr_pg":  # its pids include PostgreSQL's: no memory figure of nmr's
                rss, hwm = s.mem_kb()
                record("memory", server=kind, when="after seeding", rss_kb=rss, hwm_kb=hwm)
            results.setdefault(("seed", kind), []).append(took)
            log(f"seeded {kind} in {took:.1f} s")
        write_docroot(servers["nmr"], data, docroot)
        rss, hwm = servers["nginx"].mem_kb()
        record("memory", server="nginx", when="after seeding", rss_kb=rss, hwm_kb=hwm)

        # ------------------------------------------------------------ the two HTTPS servers
        log("HTTPS: a throwaway CA and certificate for 127.0.0.1; nmr and nginx with TLS")
        certs = Certs(os.path.join(tmp, "tls"))
        tls_servers = {"nmr": make("nmr", "nmr-tls", certs, data_of=servers["nmr"]),
                       "nginx": make("nginx", "nginx-tls", certs)}
        tls_suites = {}
        for kind, s in tls_servers.items():
            running.append(s)
            took = s.start()
            tls_suites[kind] = tls_session(s)
            record("tls", server=kind, startup_ms=took * 1000, protocol=tls_suites[kind][0],
                   cipher=tls_suites[kind][1])

        # ------------------------------------------------------------ two nmr behind nginx
        # A second nmr on the same PostgreSQL database, and, with db.allow_local_storage, the
        # same storage directory: fine here, since the load phases only read, and it is
        # stopped before anything is published. nginx round-robins over both on one port, and
        # proxies to the first alone on another, so both figures pay for the proxy.
        nmr_pg2 = make("nmr", "nmr-pg-2", data_of=nmr_pg, pg=pg)
        running.append(nmr_pg2)
        nmr_pg2.start()
        proxy = Proxy(tmp, "nginx-proxy", args.nginx, nginx_workers, [nmr_pg, nmr_pg2])
        running.append(proxy)
        proxy.start()
        lb = {"one": proxy.via("one"), "two": proxy.via("two")}

        # ------------------------------------------------------------ load phases
        ph = phases(data)
        tls_ph = tls_phases(ph)
        lb_ph = lb_phases(ph)
        with_pg = {"nmr": servers["nmr"], "nmr_pg": nmr_pg, "verdaccio": servers["verdaccio"],
                   "nginx": servers["nginx"]}
        plan = ([(p, with_pg if p[0] in PG_PHASES else servers) for p in ph]
                + [(p, tls_servers) for p in tls_ph] + [(p, lb) for p in lb_ph])
        for (key, label, paths, headers, expect), group in plan:
            for kind, s in group.items():
                size = check_phase(s, paths, headers, expect)
                record("body", phase=key, server=kind, mean_bytes=size)
                results.setdefault((key + ":bytes", kind), []).append(size)
        n_runs = sum(len(group) for _, group in plan) * (args.repeats + 1)
        log(f"load: ({len(ph)} phases x {len(kinds)} servers + {len(PG_PHASES)} on "
            f"PostgreSQL + {len(tls_ph)} over TLS x {len(tls_servers)} + {len(lb_ph)} via "
            f"nginx x {len(lb)}) x ({args.repeats} + 1 warm-up) x {args.duration} s "
            f"= about {n_runs * args.duration / 60:.1f} min")
        for rep in range(-1, args.repeats):  # -1: warm-up, not counted
            for (key, label, paths, headers, expect), group in plan:
                # Each repeat starts each phase with another server, so none is always first.
                order = list(group)
                if rep >= 0:
                    order = order[rep % len(order):] + order[:rep % len(order)]
                for kind in order:
                    # Requests each nmr behind the round robin answers: both must get a share.
                    target = group[kind]
                    before = [requests_handled(b) for b in getattr(target, "backends", [])]
                    r = run_wrk(target, paths, headers,
                                1 if rep < 0 else args.duration,
                                args.threads, args.connections, tmp)
                    if before:
                        r["backend_requests"] = [requests_handled(b) - n
                                                 for b, n in zip(target.backends, before)]
                    bad = (r["errors_connect"] + r["errors_read"] + r["errors_write"]
                           + r["errors_timeout"] + (r["errors_status"] if expect < 400 else 0))
                    if rep < 0:
                        continue
                    record("wrk", phase=key, server=kind, repeat=rep, **r)
                    if bad:
                        log(f"warning: {kind} {key}: {bad} errors in {r['requests']} requests")
                    results.setdefault((key, kind), []).append(r["rps"])
                    results.setdefault((key + ":p50", kind), []).append(r["lat_p50_us"] / 1000)
                    results.setdefault((key + ":cpu", kind), []).append(
                        r["server_cpu_us_per_req"])
            if rep >= 0:
                log(f"repeat {rep + 1}/{args.repeats} done")

        for kind, s in servers.items():
            rss, hwm = s.mem_kb()
            record("memory", server=kind, when="after load", rss_kb=rss, hwm_kb=hwm)
        # Stopped before publishing: the second nmr on PostgreSQL shares the first one's
        # storage directory, which only one may write to.
        for s in (proxy, nmr_pg2):
            s.stop()
            running.remove(s)
        # Stopped before publishing: the HTTPS nmr shares the plain one's data, and only one
        # of them may write to it.
        for kind, s in tls_servers.items():
            rss, hwm = s.mem_kb()
            record("memory", server=kind, when="after load, TLS", rss_kb=rss, hwm_kb=hwm)
            s.stop()
            running.remove(s)

        # ------------------------------------------------------------ publishing
        for kind in ("nmr", "verdaccio"):
            s = servers[kind]
            log(f"publishing to {kind}: {args.publishes} raw, {args.npm_publishes} with npm, "
                "16 at once")
            lat = publish_latency(s, args.publishes)
            record("publish_raw", server=kind, ms=[x * 1000 for x in lat])
            results[("publish_raw", kind)] = [x * 1000 for x in lat]
            lat = npm_publish_latency(s, args.npm_publishes, tmp)
            record("publish_npm", server=kind, ms=[x * 1000 for x in lat])
            results[("publish_npm", kind)] = [x * 1000 for x in lat]
            c = concurrent_publishes(s)
            record("publish_concurrent", server=kind, **c)
            results[("conc_present", kind)] = [c["present"]]
            results[("conc_ok", kind)] = [c["ok"]]
            results[("conc_wall", kind)] = [c["wall_s"] * 1000]
        # nmr on PostgreSQL: raw publishes, the figure that shows the database's commit, and
        # the 16 at once, which take turns on its advisory lock. Not npm's: npm's own time is
        # most of that figure, and it is the same for either database.
        log(f"publishing to nmr_pg: {args.publishes} raw, 16 at once")
        lat = publish_latency(nmr_pg, args.publishes)
        record("publish_raw", server="nmr_pg", ms=[x * 1000 for x in lat])
        results[("publish_raw", "nmr_pg")] = [x * 1000 for x in lat]
        c = concurrent_publishes(nmr_pg)
        record("publish_concurrent", server="nmr_pg", **c)
        results[("conc_present", "nmr_pg")] = [c["present"]]
        results[("conc_ok", "nmr_pg")] = [c["ok"]]
        results[("conc_wall", "nmr_pg")] = [c["wall_s"] * 1000]

        for kind, s in servers.items():
            rss, hwm = s.mem_kb()
            record("memory", server=kind, when="end", rss_kb=rss, hwm_kb=hwm)
            results[("rss_peak", kind)] = [hwm / 1024]
            results[("rss_end", kind)] = [rss / 1024]
    finally:
        for s in list(running):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {s.name}: {e}")
        # After every nmr on it has stopped.
        try:
            pg.stop(remove=not args.keep)
        except Exception as e:
            log(f"stopping PostgreSQL: {e}")
        if args.keep:
            log(f"kept {tmp}" + (f" and {pg.dir}" if pg.dir else ""))
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------------------------------------------------------- table
    rows = []  # (label, unit, better, key)
    for key, label, _, _, _ in ph + tls_ph:
        rows.append((label, "req/s", "higher", key))
    for key, label, _, _, _ in ph + tls_ph:
        rows.append((label, "ms", "lower", key + ":p50"))
    rows += [
        ("publish, raw HTTP (10 KB tarball)", "ms", "lower", "publish_raw"),
        ("publish, npm client (whole command)", "ms", "lower", "publish_npm"),
        ("16 concurrent publishes: all done", "ms", "lower", "conc_wall"),
        ("16 concurrent publishes: answered 201", "n", "higher", "conc_ok"),
        ("16 concurrent publishes: versions listed", "n", "higher", "conc_present"),
        ("resident memory, idle after start", "MB", "lower", "rss_idle"),
        ("resident memory, peak (VmHWM)", "MB", "lower", "rss_peak"),
        ("start-up to first /-/ping", "ms", "lower", "startup"),
        ("seeding: 701 publishes, sequential", "s", "lower", "seed"),
    ]
    summary = {}
    elapsed = time.monotonic() - t_run
    print()
    print(f"{env['nmr_version']} vs Verdaccio {env['verdaccio']} vs nginx {env['nginx']} "
          f"(same bytes from disk), {env['cpus']} cores shared with the load generator; "
          f"wrk {args.threads} threads / {args.connections} connections, {args.duration} s per "
          f"phase, median of {args.repeats}; packuments without gzip unless marked; "
          f"nmr --log-level warn, Verdaccio log level warn; TLS rows: nmr (rustls) and nginx "
          f"(OpenSSL) only, one ECDSA P-256 certificate; nmr pg: nmr with its metadata in "
          f"{env['postgres']} on 127.0.0.1 (default settings: fsync on), pg/sqlite its ratio "
          f"to nmr; run took {elapsed / 60:.1f} min")
    cols = ["nmr", "nmr_pg", "verdaccio", "nginx"]
    w = max(len(r[0]) for r in rows) + 2
    hdr = (f"{'':<{w}}{'unit':<7}{'nmr':>10}{'nmr pg':>10}{'verdaccio':>11}{'nginx':>10}"
           f"{'nmr/verd':>10}{'nmr/nginx':>11}{'pg/sqlite':>11}")
    section = None
    for label, unit, better, key in rows:
        sec = ("throughput (higher is better)" if unit == "req/s" else
               "median latency under load, wrk p50 (lower is better)" if key.endswith(":p50")
               else "publishing, memory, start-up")
        if sec != section:
            print(f"\n{sec}")
            print(hdr)
            print("-" * len(hdr))
            section = sec
        vals = {k: med(results.get((key, k), [])) for k in cols}
        rv, rn = ratio(vals["nmr"], vals["verdaccio"]), ratio(vals["nmr"], vals["nginx"])
        rp = ratio(vals["nmr_pg"], vals["nmr"])
        summary[key] = {"label": label, "unit": unit, "better": better, **vals,
                        "nmr_per_verdaccio": rv, "nmr_per_nginx": rn, "pg_per_sqlite": rp}
        fu = "ms" if unit == "s" else unit
        print(f"{label:<{w}}{unit:<7}{fmt(vals['nmr'], fu):>10}{fmt(vals['nmr_pg'], fu):>10}"
              f"{fmt(vals['verdaccio'], fu):>11}{fmt(vals['nginx'], fu):>10}"
              f"{fmt_ratio(rv):>10}{fmt_ratio(rn):>11}{fmt_ratio(rp):>11}")
        record("summary", key=key, **summary[key])

    # Two nmr on one PostgreSQL against one, both behind the same nginx.
    lb_key, lb_label = lb_ph[0][0], lb_ph[0][1]
    lb_rows = [("requests per second", "req/s", lb_key),
               ("median latency, wrk p50", "ms", lb_key + ":p50"),
               ("CPU per request: nginx, nmr, PostgreSQL", "µs", lb_key + ":cpu")]
    print(f"\n{lb_label}: two nmr on one PostgreSQL, round robin, against one, both behind "
          f"one nginx ({nginx_workers} workers, kept-alive upstream connections)")
    lw = max(len(r[0]) for r in lb_rows) + 2
    lb_hdr = f"{'':<{lw}}{'unit':<7}{'one nmr':>10}{'two nmr':>10}{'two/one':>10}"
    print(lb_hdr)
    print("-" * len(lb_hdr))
    for label, unit, key in lb_rows:
        one, two = (med(results.get((key, k), [])) for k in ("one", "two"))
        r = ratio(two, one)
        summary[key] = {"label": label, "unit": unit, "one": one, "two": two, "two_per_one": r}
        print(f"{label:<{lw}}{unit:<7}{fmt(one, unit):>10}{fmt(two, unit):>10}"
              f"{fmt_ratio(r):>10}")
        record("summary", key=key, **summary[key])
    split = [sum(x) for x in zip(*(rec["backend_requests"] for rec in records
                                   if rec["kind"] == "wrk" and rec["phase"] == lb_key
                                   and rec["server"] == "two"))]
    if sum(split) > 0:
        print("requests each of the two answered: " + " / ".join(
            f"{n:,.0f} ({n / sum(split):.0%})" for n in split))

    print("\nserver CPU per request during load (µs, all the server's threads/processes; "
          "nmr pg: with PostgreSQL's):")
    for key, label, _, _, _ in ph + tls_ph:
        vals = {k: med(results.get((key + ":cpu", k), [])) for k in cols}
        print(f"  {label:<{w - 2}}" + "".join(f"{k} {fmt(vals[k], 'µs'):>6}   " for k in cols
                                              if vals[k] is not None))
    print("\nmean body bytes per phase: " + "; ".join(
        f"{key} " + "/".join(f"{b:.0f}" if b is not None else "-"
                             for b in (med(results.get((key + ':bytes', k), [])) for k in cols))
        for key, *_ in ph + tls_ph)
          + " (nmr/nmr pg/verdaccio/nginx)")
    same = len(set(tls_suites.values())) == 1
    print("TLS as a default OpenSSL client gets it: " + "; ".join(
        f"{k} {' '.join(v)}" for k, v in tls_suites.items())
          + ("" if same else " -- NOT THE SAME: the TLS rows compare different work"))

    def s(key, who):
        return summary[key]["nmr_per_" + who]

    targets = [
        ("small packument >= 10x Verdaccio", s("pack_small", "verdaccio"), 10, ">="),
        ("small packument >= 70% of nginx", s("pack_small", "nginx"), 0.7, ">="),
        ("500-version packument (full) >= 30x Verdaccio", s("pack_500_full", "verdaccio"), 30,
         ">="),
        ("500-version packument (abbreviated) >= 30x Verdaccio",
         s("pack_500_abbrev", "verdaccio"), 30, ">="),
        ("small tarballs >= 80% of nginx", s("tgz_small", "nginx"), 0.8, ">="),
        ("1 MB tarball >= 80% of nginx", s("tgz_1mb", "nginx"), 0.8, ">="),
        ("resident memory idle <= 1/10 of Verdaccio", s("rss_idle", "verdaccio"), 0.1, "<="),
        ("resident memory peak <= 1/10 of Verdaccio", s("rss_peak", "verdaccio"), 0.1, "<="),
        ("start-up <= 50 ms", summary["startup"]["nmr"], 50, "<="),
        ("16 concurrent publishes, none lost", summary["conc_present"]["nmr"], 16, ">="),
    ]
    print("\ntargets (issue #9):")
    for label, got, want, op in targets:
        met = got is not None and (got >= want if op == ">=" else got <= want)
        shown = "-" if got is None else f"{got:.4g}"
        print(f"  {'MET   ' if met else 'MISSED'} {label}: {shown} (want {op} {want})")
        record("target", target=label, value=got, want=want, op=op, met=met)

    pg_targets = [
        ("small packument on PostgreSQL >= 0.8x SQLite", summary["pack_small"]["pg_per_sqlite"],
         0.8, ">="),
        ("500-version packument (full) on PostgreSQL >= 0.8x SQLite",
         summary["pack_500_full"]["pg_per_sqlite"], 0.8, ">="),
        ("500-version packument (abbreviated) on PostgreSQL >= 0.8x SQLite",
         summary["pack_500_abbrev"]["pg_per_sqlite"], 0.8, ">="),
        ("two instances >= 1.6x one (small packument, via nginx)",
         summary[lb_key]["two_per_one"], 1.6, ">="),
    ]
    print("\ntargets (PostgreSQL):")
    for label, got, want, op in pg_targets:
        met = got is not None and got >= want
        shown = "-" if got is None else f"{got:.4g}"
        print(f"  {'MET   ' if met else 'MISSED'} {label}: {shown} (want {op} {want})")
        record("target", target=label, value=got, want=want, op=op, met=met)
    # Two instances can only scale on cores they do not share with the rest of the run.
    print(f"  (two instances against one needs cores to spare: here wrk, nginx, both nmr and "
          f"PostgreSQL share {env['cpus']})")

    with open(json_path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    print(f"\nraw figures: {json_path}")


if __name__ == "__main__":
    main()
