// officectl, the real binary, against the real server (login, tokens, errors,
// exit codes, https) and against bus_admin_server: the real HTTP server,
// identity and /api/v1/admin/bus routes over an in-memory bus that holds known
// consumers and dead letters (tests/tools/bus_admin_server.cpp).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startServer, api, login, ADMIN } from "./harness.mjs";

const CTL = process.env.OFFICECTL;
const BUS_ADMIN_SERVER = process.env.BUS_ADMIN_SERVER;
if (!CTL || !BUS_ADMIN_SERVER) throw new Error("set OFFICECTL and BUS_ADMIN_SERVER");

// The app serves /api/v1/admin/bus (its in-process bus); a server without the
// routes fails the real-server bus tests instead of skipping them.
const BUS_WIRED = true;

const MEMBER = { email: "member@example.com", password: ADMIN.password };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh config home per test: officectl keeps its login there.
function configHome() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "officectl-cfg-"));
}
const loginFile = (home) => path.join(home, "office-suite", "officectl.json");

// Runs officectl with only the environment given (never the caller's
// OFFICE_SERVER/OFFICE_TOKEN). Asynchronous, so that the servers this test
// runs itself (plain, TLS, silent) keep answering meanwhile.
function ctl(args, { home, env = {}, input, detached = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(CTL, args, {
      detached,
      env: {
        PATH: process.env.PATH,
        ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "",
        UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? "",
        ...(home ? { XDG_CONFIG_HOME: home } : { HOME: configHome() }),
        ...env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", async () => {});  // it may exit before reading
    child.stdin.end(input ?? "");
  });
}

function ok(r, what = "officectl") {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

function fails(r, code, stderrPattern) {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  if (stderrPattern) assert.match(r.stderr, stderrPattern);
  // One clear line, prefixed (CLI11's own usage errors add a hint line).
  if (code !== 2) assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
}

function loginAs(base, who, home, extra = []) {
  return ctl(["login", "--server", base, "--email", who.email, "--password-stdin", ...extra],
             { home, input: `${who.password}\n` });
}

// bus_admin_server on port 0 with a temporary data dir.
async function startBusAdminServer(args = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "officectl-bus-"));
  const portFile = path.join(dir, "port");
  const child = spawn(BUS_ADMIN_SERVER, ["--data-dir", dir, "--port-file", portFile, ...args], {
    env: { PATH: process.env.PATH, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 600 && !fs.existsSync(portFile); i++) {
    if (child.exitCode !== null) throw new Error(`bus_admin_server exited:\n${output}`);
    await sleep(50);
  }
  const base = `http://127.0.0.1:${fs.readFileSync(portFile, "utf8").trim()}`;
  return {
    base, output: () => output,
    async stop() { if (child.exitCode === null) child.kill("SIGTERM"); return exited; },
  };
}

// A local HTTP server that answers every request with `status` and `body`,
// counting them.
async function startOther(status, body, contentType = "text/html") {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

let srv, bus;
before(async () => {
  [srv, bus] = await Promise.all([startServer(), startBusAdminServer()]);
});
after(async () => {
  const [a, b] = await Promise.all([srv.stop(), bus.stop()]);
  assert.equal(a.code, 0, srv.output());
  assert.equal(b.code, 0, bus.output());
});

test("login keeps the tokens in a private file that later commands use", async () => {
  const home = configHome();
  const r = ok(await loginAs(srv.base, ADMIN, home));
  assert.match(r.stdout, /Logged in to http:\/\/127\.0\.0\.1:\d+ as admin@example\.com \(platform administrator\)/);
  const file = loginFile(home);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
  const stored = JSON.parse(fs.readFileSync(file, "utf8"));
  assert.equal(stored.server, srv.base);
  assert.equal(stored.email, ADMIN.email);
  assert.ok(stored.accessToken && stored.refreshToken);
  assert.ok(stored.accessExpiresAt > Date.now() / 1000);
  assert.doesNotMatch(fs.readFileSync(file, "utf8"), new RegExp(ADMIN.password));

  const me = JSON.parse(ok(await ctl(["whoami", "--json"], { home })).stdout);
  assert.equal(me.email, ADMIN.email);
  assert.equal(me.platformAdmin, true);
  // A login with --org names the tenant; --json prints what the server said.
  const other = configHome();
  const j = JSON.parse(ok(await loginAs(srv.base, ADMIN, other, ["--org", "default", "--json"])).stdout);
  assert.equal(j.user.email, ADMIN.email);
  assert.equal(j.server, srv.base);
  assert.equal(j.loginFile, loginFile(other));
});

test("logout ends the session on the server and deletes the file", async () => {
  const home = configHome();
  ok(await loginAs(srv.base, ADMIN, home));
  const { accessToken } = JSON.parse(fs.readFileSync(loginFile(home), "utf8"));
  assert.equal((await api(srv.base, "GET", "/api/v1/users/me", { token: accessToken })).status, 200);
  assert.match(ok(await ctl(["logout"], { home })).stdout, /Logged out of http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(fs.existsSync(loginFile(home)), false);
  assert.equal((await api(srv.base, "GET", "/api/v1/users/me", { token: accessToken })).status, 401);
  assert.match(ok(await ctl(["logout"], { home })).stdout, /Not logged in/);
  fails(await ctl(["whoami"], { home }), 3, /^officectl: not logged in: run officectl login/);
});

test("bad credentials exit 3; no password without a terminal exits 2", async () => {
  const home = configHome();
  fails(await loginAs(srv.base, { email: ADMIN.email, password: "wrong-password" }, home), 3,
        /^officectl: invalid credentials \(UNAUTHENTICATED 401\)$/m);
  assert.equal(fs.existsSync(loginFile(home)), false);
  // detached: a new session without a controlling terminal to prompt on.
  fails(await ctl(["login", "--server", srv.base, "--email", ADMIN.email], { home, detached: true, input: "" }), 2,
        /no terminal to ask for the password on: pipe it in with --password-stdin/);
});

test("a server that cannot be reached, or is not office-suite, exits 1 with one clear line", async () => {
  const closed = net.createServer();
  await new Promise((r) => closed.listen(0, "127.0.0.1", r));
  const port = closed.address().port;
  await new Promise((r) => closed.close(r));
  fails(await ctl(["--server", `http://127.0.0.1:${port}`, "--token", "t", "whoami"]), 1,
        new RegExp(`^officectl: cannot connect to http://127\\.0\\.0\\.1:${port}: Connection refused$`, "m"));
  fails(await loginAs(`http://127.0.0.1:${port}`, ADMIN, configHome()), 1, /cannot connect to/);

  const other = await startOther(404, "<html>Not here</html>");
  try {
    fails(await ctl(["--server", other.base, "--token", "t", "bus", "stats"]), 1,
          /^officectl: HTTP 404 from http:\/\/127\.0\.0\.1:\d+ is not an office-suite API answer: is the server URL right\?$/m);
  } finally {
    await other.close();
  }
  // A server that never answers costs --timeout, not forever.
  const silent = net.createServer(() => {});
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const started = Date.now();
    fails(await ctl(["--server", `http://127.0.0.1:${silent.address().port}`, "--token", "t", "--timeout", "1", "whoami"]), 1,
          /no answer within 1 s/);
    assert.ok(Date.now() - started < 10_000);
  } finally {
    silent.close();
  }
});

test("bad usage exits 2", async () => {
  const home = configHome();
  ok(await loginAs(srv.base, ADMIN, home));
  const cases = [
    [[], /A subcommand is required/],
    [["bus"], /A subcommand is required/],
    [["--bogus", "bus", "stats"], /--bogus/],
    [["bus", "dead-letters", "list", "--limit", "0"], /--limit: Value 0 not in range 1 to 1000/],
    [["bus", "dead-letters", "list", "--all", "--page-token", "x"], /excludes/],
    [["bus", "dead-letters", "show"], /id is required/],
    [["bus", "dead-letters", "show", "not-a-uuid"], /^officectl: 'not-a-uuid' is not a dead letter id \(a UUID\)$/m],
    [["bus", "dead-letters", "replay", "0190a000-0000-7000-8000-000000000000", "nope"], /'nope' is not a dead letter id/],
    [["bus", "dead-letters", "purge", "--yes"], /purge needs --consumer NAME, or --all/],
    [["bus", "dead-letters", "purge", "--all", "--consumer", "x"], /excludes/],
    [["--server", "localhost:8080", "--token", "t", "whoami"], /must start with http:\/\/ or https:\/\//],
    [["--server", "http://user:pw@localhost", "--token", "t", "whoami"], /must not contain a user or password/],
    [["login", "--server", srv.base], /--email is required/],
  ];
  for (const [args, pattern] of cases) fails(await ctl(args, { home }), 2, pattern);
  // Every level has --help, with the exit codes.
  for (const args of [["--help"], ["bus", "--help"], ["bus", "dead-letters", "purge", "--help"], ["login", "--help"]]) {
    const r = ok(await ctl(args, { home }), args.join(" "));
    assert.match(r.stdout, /Exit codes:\n  0  success\n  1 .*\n  2 .*\n  3 .*\n  4  not found/);
  }
  assert.match(ok(await ctl(["--version"])).stdout, /^officectl \d+\.\d+\.\d+$/m);
});

test("--token / OFFICE_TOKEN; a stored login is never sent to another server", async () => {
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const env = { OFFICE_SERVER: srv.base, OFFICE_TOKEN: t.accessToken };
  assert.equal(JSON.parse(ok(await ctl(["--json", "whoami"], { env })).stdout).email, ADMIN.email);
  fails(await ctl(["whoami"], { env: { ...env, OFFICE_TOKEN: "garbage" } }), 3, /^officectl: the token was refused by http/m);

  const home = configHome();
  ok(await loginAs(srv.base, ADMIN, home));
  const other = await startOther(200, "{}", "application/json");
  try {
    fails(await ctl(["--server", other.base, "whoami"], { home }), 3,
          /^officectl: not logged in to http:\/\/127\.0\.0\.1:\d+ \(the stored login is for http:\/\/127\.0\.0\.1:\d+\)/m);
    assert.deepEqual(other.seen, []);
  } finally {
    await other.close();
  }
  // The same server spelt differently is the same server.
  ok(await ctl(["--server", srv.base + "/", "whoami"], { home }));
});

test("https: the certificate is verified unless --cacert trusts it or --insecure skips it", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "officectl-tls-"));
  const key = path.join(dir, "key.pem"), cert = path.join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                           "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=officectl-test",
                           "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  // A TLS front for the real server, as a reverse proxy would be.
  const proxy = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
    const up = http.request(srv.base + req.url, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  t.after(() => proxy.close());
  const base = `https://127.0.0.1:${proxy.address().port}`;
  const home = configHome();
  fails(await loginAs(base, ADMIN, home), 1,
        /^officectl: the certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted: self-signed certificate \(--cacert FILE trusts a private CA; --insecure skips the check\)$/m);
  ok(await loginAs(base, ADMIN, home, ["--cacert", cert]));
  assert.equal(JSON.parse(ok(await ctl(["--cacert", cert, "--json", "whoami"], { home })).stdout).email, ADMIN.email);
  ok(await ctl(["--insecure", "whoami"], { home }));
  fails(await ctl(["whoami"], { home }), 1, /is not trusted/);
  // The name must match too: the certificate is for 127.0.0.1 only.
  fails(await ctl(["--server", `https://localhost:${proxy.address().port}`, "--cacert", cert, "--token", "t", "whoami"]), 1,
        /is not trusted: hostname mismatch/);
});

// The real server's bus routes, once the app has a bus (BUS_WIRED).
async function realBusOrSkip(t) {
  const tokens = await login(srv.base, ADMIN.email, ADMIN.password);
  const r = await api(srv.base, "GET", "/api/v1/admin/bus/stats", { token: tokens.accessToken });
  if (r.status === 404) {
    assert.ok(!BUS_WIRED, "BUS_WIRED, but the server does not serve /api/v1/admin/bus/stats");
    t.skip("the app has no bus yet (BUS_WIRED = false)");
    return false;
  }
  return true;
}

test("real server: bus stats, an empty dead-letter list, unknown id exits 4", async (t) => {
  if (!(await realBusOrSkip(t))) return;
  const home = configHome();
  ok(await loginAs(srv.base, ADMIN, home));
  const table = ok(await ctl(["bus", "stats"], { home })).stdout;
  assert.match(table, /^backend: (inproc|nats) {4}outbox pending: \d+$/m);
  assert.match(table, /NAME +FILTER +PENDING +IN-FLIGHT +REDELIVERED +DEAD-LETTERED|No durable consumers\./);
  const stats = JSON.parse(ok(await ctl(["bus", "stats", "--json"], { home })).stdout);
  assert.ok(["inproc", "nats"].includes(stats.backend));
  assert.ok(Array.isArray(stats.consumers));
  assert.match(ok(await ctl(["bus", "dead-letters", "list"], { home })).stdout, /^No dead letters\.$/m);
  const empty = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list"], { home })).stdout);
  assert.deepEqual(empty.deadLetters, []);
  fails(await ctl(["bus", "dead-letters", "show", "0190a000-0000-7000-8000-000000000000"], { home }), 4, /NOT_FOUND 404/);
});

test("real server: a user who is not a platform admin exits 3", async (t) => {
  if (!(await realBusOrSkip(t))) return;
  const admin = await login(srv.base, ADMIN.email, ADMIN.password);
  await api(srv.base, "POST", "/api/v1/users", { token: admin.accessToken, body: { email: "ops@example.com", password: "maple-quartz-88", role: "admin" } });
  const home = configHome();
  ok(await loginAs(srv.base, { email: "ops@example.com", password: "maple-quartz-88" }, home));
  fails(await ctl(["bus", "stats"], { home }), 3, /PERMISSION_DENIED 403/);
});

test("bus stats: a table, or the server's JSON", async () => {
  const home = configHome();
  ok(await loginAs(bus.base, ADMIN, home));
  const out = ok(await ctl(["bus", "stats"], { home })).stdout;
  assert.equal(out,
    "backend: fake    outbox pending: 4\n\n" +
    "NAME         FILTER       PENDING  IN-FLIGHT  REDELIVERED  DEAD-LETTERED\n" +
    "chat-fanout  chat.>            12          3            1              2\n" +
    "notify       *.*.created        0          0            4              3\n");
  const stats = JSON.parse(ok(await ctl(["bus", "stats", "--json"], { home })).stdout);
  assert.deepEqual(stats, {
    backend: "fake", outboxPending: 4,
    consumers: [
      { name: "chat-fanout", filter: "chat.>", pending: 12, inFlight: 3, redelivered: 1, deadLettered: 2 },
      { name: "notify", filter: "*.*.created", pending: 0, inFlight: 0, redelivered: 4, deadLettered: 3 },
    ],
  });
});

test("bus dead-letters list: pages, --consumer, --all, --json", async (t) => {
  const own = await startBusAdminServer(["--notify-letters", "3", "--chat-letters", "2"]);
  t.after(() => own.stop());
  const home = configHome();
  ok(await loginAs(own.base, ADMIN, home));
  const first = ok(await ctl(["bus", "dead-letters", "list", "--limit", "2"], { home }));
  const lines = first.stdout.trim().split("\n");
  assert.match(lines[0], /^ID +CONSUMER +REASON +DELIVERIES +DEAD-LETTERED +SUBJECT +TYPE$/);
  assert.equal(lines.length, 3);
  assert.match(lines[1], /^[0-9a-f-]{36} +notify +max_deliver +5 +2023-11-14T22:13:20\.000Z +docs\.t1\.created +office\.docs\.v1\.DocumentCreated$/);
  const more = first.stderr.match(/^More: officectl bus dead-letters list --page-token (\S+) \(or --all\)$/m);
  assert.ok(more, first.stderr);
  const second = ok(await ctl(["bus", "dead-letters", "list", "--limit", "2", "--page-token", more[1]], { home }));
  assert.equal(second.stdout.trim().split("\n").length, 3);

  const all = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list", "--all", "--limit", "2"], { home })).stdout);
  assert.equal(all.deadLetters.length, 5);
  assert.equal(all.nextPageToken, "");
  assert.equal(new Set(all.deadLetters.map((d) => d.id)).size, 5);
  const page = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list", "--limit", "1"], { home })).stdout);
  assert.equal(page.deadLetters.length, 1);
  assert.notEqual(page.nextPageToken, "");

  const chat = ok(await ctl(["bus", "dead-letters", "list", "--consumer", "chat-fanout", "--all"], { home }));
  assert.equal(chat.stdout.trim().split("\n").length, 3);
  assert.equal(chat.stderr, "");
  assert.match(ok(await ctl(["bus", "dead-letters", "list", "--consumer", "nobody"], { home })).stdout,
               /^No dead letters of consumer nobody\.$/m);
  fails(await ctl(["bus", "dead-letters", "list", "--consumer", "no spaces"], { home }), 2,
        /^officectl: consumer name may contain only \[A-Za-z0-9_-\] \(INVALID_ARGUMENT 400\)$/m);
});

test("bus dead-letters show: every field, the payload in base64", async () => {
  const home = configHome();
  ok(await loginAs(bus.base, ADMIN, home));
  const list = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list", "--consumer", "notify"], { home })).stdout);
  const d = list.deadLetters[0];
  const out = ok(await ctl(["bus", "dead-letters", "show", d.id], { home })).stdout;
  const fields = Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, 16).trim(), l.slice(16)]));
  assert.deepEqual(fields, {
    "id:": d.id, "consumer:": "notify", "reason:": "max_deliver", "detail:": "handler failed on attempt 0",
    "deliveries:": "5", "dead-lettered:": "2023-11-14T22:13:20.000Z", "event id:": d.event.id,
    "event type:": "office.docs.v1.DocumentCreated", "tenant:": "t1", "subject:": "docs.t1.created",
    "occurred:": d.event.occurredAt, "traceparent:": "(none)", "payload size:": "8 bytes",
    "payload:": Buffer.from("\x08\x01\x12\x03doc0", "latin1").toString("base64"),
  });
  const j = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "show", d.id], { home })).stdout);
  assert.deepEqual(j, d);
  assert.equal(j.event.payload["@type"], "type.googleapis.com/office.docs.v1.DocumentCreated");
  fails(await ctl(["bus", "dead-letters", "show", "0190a000-0000-7000-8000-000000000000"], { home }), 4,
        /^officectl: dead letter not found \(NOT_FOUND 404\)$/m);
});

test("bus dead-letters replay and remove: each id, going on after a failure", async (t) => {
  const own = await startBusAdminServer();
  t.after(() => own.stop());
  const home = configHome();
  ok(await loginAs(own.base, ADMIN, home));
  const ids = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list"], { home })).stdout).deadLetters.map((d) => d.id);
  assert.equal(ids.length, 5);
  const unknown = "0190a000-0000-7000-8000-000000000000";
  const r = await ctl(["bus", "dead-letters", "replay", ids[0], unknown, ids[1]], { home });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stdout, new RegExp(`^Replayed ${ids[0]}: event [0-9a-f-]{36} published again\\.\\nReplayed ${ids[1]}: `));
  assert.equal(r.stderr, `officectl: ${unknown}: dead letter not found (NOT_FOUND 404)\n`);
  const replayed = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "replay", ids[2]], { home })).stdout);
  assert.equal(replayed.length, 1);
  assert.equal(replayed[0].id, ids[2]);
  assert.match(replayed[0].eventId, UUID);
  assert.match(ok(await ctl(["bus", "dead-letters", "remove", ids[3]], { home })).stdout, new RegExp(`^Removed ${ids[3]}\\.$`, "m"));
  fails(await ctl(["bus", "dead-letters", "remove", ids[3]], { home }), 4, /dead letter not found/);
  const left = JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "list"], { home })).stdout).deadLetters.map((d) => d.id);
  assert.deepEqual(left, [ids[4]]);
});

test("bus dead-letters purge: --consumer or --all, confirmed or --yes", async (t) => {
  const own = await startBusAdminServer();
  t.after(() => own.stop());
  const home = configHome();
  ok(await loginAs(own.base, ADMIN, home));
  fails(await ctl(["bus", "dead-letters", "purge", "--all"], { home, input: "y\n" }), 2,
        /^officectl: purge asks for confirmation, but standard input is not a terminal: add --yes$/m);
  fails(await ctl(["bus", "dead-letters", "purge", "--consumer", "x y", "--yes"], { home }), 2, /INVALID_ARGUMENT 400/);
  assert.equal(ok(await ctl(["bus", "dead-letters", "purge", "--consumer", "chat-fanout", "--yes"], { home })).stdout,
               "Purged 2 dead letters of consumer chat-fanout.\n");
  assert.deepEqual(JSON.parse(ok(await ctl(["--json", "bus", "dead-letters", "purge", "--all", "-y"], { home })).stdout), { purged: 3 });
  assert.match(ok(await ctl(["bus", "dead-letters", "list"], { home })).stdout, /^No dead letters\.$/m);
});

test("a user who is not a platform admin exits 3 on every bus command", async () => {
  const home = configHome();
  ok(await loginAs(bus.base, MEMBER, home));
  for (const args of [["bus", "stats"], ["bus", "dead-letters", "list"],
                      ["bus", "dead-letters", "show", "0190a000-0000-7000-8000-000000000000"],
                      ["bus", "dead-letters", "purge", "--all", "--yes"]]) {
    fails(await ctl(args, { home }), 3,
          /^officectl: the bus administration API is for platform administrators \(PERMISSION_DENIED 403\)$/m);
  }
});

test("an expired access token is refreshed and saved, once, even by commands at the same time", async (t) => {
  const own = await startBusAdminServer(["--access-ttl", "1"]);
  t.after(() => own.stop());
  const home = configHome();
  ok(await loginAs(own.base, ADMIN, home));
  const before = JSON.parse(fs.readFileSync(loginFile(home), "utf8"));
  await sleep(1100);
  // A refresh token works once: without the lock the second refresh would
  // present a used token and end the session.
  const runs = await Promise.all([0, 1, 2, 3].map(() => ctl(["bus", "stats", "--json"], { home })));
  for (const r of runs) ok(r, "concurrent bus stats");
  const after = JSON.parse(fs.readFileSync(loginFile(home), "utf8"));
  assert.notEqual(after.refreshToken, before.refreshToken);
  assert.notEqual(after.accessToken, before.accessToken);
  assert.equal(fs.statSync(loginFile(home)).mode & 0o777, 0o600);
  ok(await ctl(["whoami"], { home }));
});

test("a refused stored token is refreshed once; an ended session exits 3", async () => {
  const home = configHome();
  ok(await loginAs(srv.base, ADMIN, home));
  const file = loginFile(home);
  const stored = JSON.parse(fs.readFileSync(file, "utf8"));
  fs.writeFileSync(file, JSON.stringify({ ...stored, accessToken: "not-a-token" }), { mode: 0o600 });
  ok(await ctl(["whoami"], { home }));
  const renewed = JSON.parse(fs.readFileSync(file, "utf8"));
  assert.notEqual(renewed.accessToken, "not-a-token");
  // The session ends elsewhere (e.g. an admin revoked it): log in again.
  const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: renewed.refreshToken } });
  assert.equal(out.status, 204);
  fails(await ctl(["whoami"], { home }), 3,
        /^officectl: the login to http:\/\/127\.0\.0\.1:\d+ has expired or was ended: run officectl login again$/m);
});
