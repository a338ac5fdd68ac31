// WebSocket sessions, graceful SIGTERM drain, and durability across restarts.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, api, login, expectError, ADMIN } from "./harness.mjs";

function openWs(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const messages = [];
    const waiters = [];
    ws.on("message", (d) => {
      const m = JSON.parse(d.toString());
      if (waiters.length) waiters.shift()(m); else messages.push(m);
    });
    ws.next = () => new Promise((r) => (messages.length ? r(messages.shift()) : waiters.push(r)));
    ws.closed = new Promise((r) => ws.on("close", (code) => r(code)));
    ws.on("open", () => resolve(ws));
    ws.on("unexpected-response", (_req, res) => reject(Object.assign(new Error("rejected"), { status: res.statusCode })));
    ws.on("error", reject);
  });
}

test("WebSocket session: token in query or cookie, hello, ping, errors", async () => {
  const srv = await startServer();
  try {
    const t = await login(srv.base, ADMIN.email, ADMIN.password);
    const wsBase = `ws://127.0.0.1:${srv.port}/api/v1/ws`;
    const ws = await openWs(`${wsBase}?access_token=${encodeURIComponent(t.accessToken)}`);
    const hello = await ws.next();
    assert.equal(hello.type, "hello");
    assert.equal(hello.user.email, ADMIN.email);
    ws.send(JSON.stringify({ type: "ping", id: 7 }));
    assert.deepEqual(await ws.next(), { type: "pong", id: 7 });
    ws.send("{not json");
    const err = await ws.next();
    assert.equal(err.type, "error");
    assert.equal(err.error.code, "INVALID_ARGUMENT");
    ws.send(JSON.stringify({ type: "teleport" }));
    assert.equal((await ws.next()).type, "error");
    ws.close(1000);
    assert.equal(await ws.closed, 1000);

    const viaCookie = await openWs(wsBase, { headers: { cookie: `theme=dark; access_token=${t.accessToken}`, origin: srv.base } });
    assert.equal((await viaCookie.next()).type, "hello");
    viaCookie.close();

    await assert.rejects(openWs(wsBase), (e) => e.status === 401);
    await assert.rejects(openWs(`${wsBase}?access_token=garbage`), (e) => e.status === 401);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test("WebSocket: a deeply nested ping is refused with an error frame and the server keeps serving", async () => {
  const srv = await startServer();
  try {
    const t = await login(srv.base, ADMIN.email, ADMIN.password);
    const ws = await openWs(`ws://127.0.0.1:${srv.port}/api/v1/ws?access_token=${encodeURIComponent(t.accessToken)}`);
    assert.equal((await ws.next()).type, "hello");
    // Issue 7: 100,000 nested arrays (a 200 KB frame) used to overflow the stack.
    const deep = "[".repeat(100000) + "]".repeat(100000);
    ws.send(`{"type":"ping","id":${deep}}`);
    const err = await ws.next();
    assert.equal(err.type, "error");
    assert.equal(err.error.code, "INVALID_ARGUMENT");
    assert.match(err.error.message, /nested more than 64 levels/);
    // Structures and long strings are never echoed back.
    ws.send(JSON.stringify({ type: "ping", id: { nested: [1, 2] } }));
    assert.match((await ws.next()).error.message, /"id" must be an integer or a string/);
    ws.send(JSON.stringify({ type: "ping", id: "x".repeat(129) }));
    assert.equal((await ws.next()).type, "error");
    ws.send(JSON.stringify({ type: "ping", id: "x".repeat(128) }));
    assert.deepEqual(await ws.next(), { type: "pong", id: "x".repeat(128) });
    ws.send(JSON.stringify({ type: "ping", id: -42 }));
    assert.deepEqual(await ws.next(), { type: "pong", id: -42 });
    ws.send(JSON.stringify({ type: "ping" }));
    assert.deepEqual(await ws.next(), { type: "pong" });
    ws.close(1000);
    assert.equal(await ws.closed, 1000);
    // The same shape as a REST body gets a 400, and the server still answers.
    const r = await api(srv.base, "POST", "/api/v1/auth/login", { raw: `{"email":${deep}}`, headers: { "content-type": "application/json" } });
    expectError(assert, r, 400, "INVALID_ARGUMENT");
    assert.equal((await api(srv.base, "GET", "/api/v1/users/me", { token: t.accessToken })).status, 200);
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.output());
  }
});

test("WebSocket: the access_token cookie is accepted only from a public origin", async () => {
  const srv = await startServer();
  try {
    const t = await login(srv.base, ADMIN.email, ADMIN.password);
    const wsBase = `ws://127.0.0.1:${srv.port}/api/v1/ws`;
    const cookie = `access_token=${t.accessToken}`;
    // Cross-site WebSocket hijacking: another site's page opens our socket
    // and the browser attaches the cookie. Refused without the right Origin.
    await assert.rejects(openWs(wsBase, { headers: { cookie } }), (e) => e.status === 403);
    await assert.rejects(openWs(wsBase, { headers: { cookie, origin: "https://evil.example" } }), (e) => e.status === 403);
    await assert.rejects(openWs(wsBase, { headers: { cookie, origin: "null" } }), (e) => e.status === 403);
    for (const origin of [srv.base, `http://localhost:${srv.port}`, `HTTP://LOCALHOST:${srv.port}`]) {
      const ws = await openWs(wsBase, { headers: { cookie, origin } });
      assert.equal((await ws.next()).type, "hello");
      ws.close();
    }
    // Header and query tokens are not ambient credentials: no Origin rule.
    const q = await openWs(`${wsBase}?access_token=${encodeURIComponent(t.accessToken)}`, { headers: { origin: "https://evil.example" } });
    assert.equal((await q.next()).type, "hello");
    q.close();
    const h = await openWs(wsBase, { headers: { authorization: `Bearer ${t.accessToken}`, origin: "https://evil.example" } });
    assert.equal((await h.next()).type, "hello");
    h.close();
    // The token is in the authentication cache now, which the I/O thread
    // answers from: the Origin rule holds on that path too.
    await assert.rejects(openWs(wsBase, { headers: { cookie, origin: "https://evil.example" } }), (e) => e.status === 403);
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.output());
  }
});

test("login and refresh set the access_token cookie, logout clears it; Secure for https origins", async () => {
  const cookieOf = (r) => r.headers.get("set-cookie");
  const srv = await startServer();
  try {
    const l = await api(srv.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } });
    assert.equal(l.status, 200);
    const c = cookieOf(l);
    assert.equal(c, `access_token=${l.json.accessToken}; Max-Age=${l.json.expiresIn}; Path=/; HttpOnly; SameSite=Strict`);
    const r = await api(srv.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: l.json.refreshToken } });
    assert.equal(cookieOf(r), `access_token=${r.json.accessToken}; Max-Age=${r.json.expiresIn}; Path=/; HttpOnly; SameSite=Strict`);
    const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: r.json.refreshToken } });
    assert.equal(out.status, 204);
    assert.equal(cookieOf(out), "access_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict");
    const failed = await api(srv.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: "wrong-guess-99" } });
    assert.equal(cookieOf(failed), null);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
  const tls = await startServer({ env: { OFFICE_SERVER_PUBLIC_ORIGINS: "https://office.example.com" } });
  try {
    const l = await api(tls.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } });
    assert.match(cookieOf(l), /; HttpOnly; SameSite=Strict; Secure$/);
    const wsBase = `ws://127.0.0.1:${tls.port}/api/v1/ws`;
    const cookie = `access_token=${l.json.accessToken}`;
    const ws = await openWs(wsBase, { headers: { cookie, origin: "https://office.example.com" } });
    assert.equal((await ws.next()).type, "hello");
    ws.close();
    // The configured list replaces the derived one.
    await assert.rejects(openWs(wsBase, { headers: { cookie, origin: tls.base } }), (e) => e.status === 403);
  } finally {
    assert.equal((await tls.stop()).code, 0);
  }
});

test("SIGTERM drains: in-flight requests finish, WebSockets get 1001, exit 0", async () => {
  const srv = await startServer();
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const ws = await openWs(`ws://127.0.0.1:${srv.port}/api/v1/ws?access_token=${t.accessToken}`);
  await ws.next();
  // Logins are slow on purpose (Argon2id on the worker pool): they are in flight when SIGTERM lands.
  const inflight = [];
  for (let i = 0; i < 4; i++)
    inflight.push(api(srv.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } }));
  await new Promise((r) => setTimeout(r, 30));
  srv.child.kill("SIGTERM");
  const results = await Promise.all(inflight);
  for (const r of results) assert.equal(r.status, 200, r.text);
  assert.equal(await ws.closed, 1001);
  const { code, signal } = await srv.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, srv.output());
  await assert.rejects(fetch(srv.base + "/healthz"));  // no longer accepting
});

test("SIGTERM as soon as the port file exists is a graceful stop; buffered log lines are written", async () => {
  // Signal handling is installed before the port file is written, so even an
  // immediate SIGTERM drains (exit 0, not death by signal); the access log is
  // buffered in memory, so this also checks it is all written on exit.
  const quick = await startServer();
  quick.child.kill("SIGTERM");
  const q = await quick.exited;
  assert.equal(q.signal, null, quick.output());
  assert.equal(q.code, 0, quick.output());

  const srv = await startServer({ env: { OFFICE_LOG_LEVEL: "info" } });
  const marker = `/no-such-page-${Date.now()}`;
  assert.equal((await api(srv.base, "GET", marker)).status, 404);
  const { code } = await srv.stop();
  assert.equal(code, 0);
  const lines = srv.output().trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const access = lines.find((l) => l.msg.startsWith(`GET ${marker} 404 `));
  assert.ok(access, srv.output());
  assert.match(access.trace_id, /^[0-9a-f]{32}$/);
  assert.equal(lines.at(-1).msg, "office-suite stopped");
});

test("data survives a restart", async () => {
  const srv = await startServer();
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const u = await api(srv.base, "POST", "/api/v1/users", { token: t.accessToken, body: { email: "keep@example.com", password: "saffron-gate-92", plan: "premium" } });
  assert.equal(u.status, 201, u.text);
  assert.equal((await srv.stop()).code, 0);
  // Same data dir; the admin password env is ignored now that the tenant exists.
  const again = await startServer({ dataDir: srv.dataDir, env: { OFFICE_ADMIN_PASSWORD: "something-else" } });
  try {
    const k = await login(again.base, "keep@example.com", "saffron-gate-92");
    assert.equal(k.user.plan, "premium");
    await login(again.base, ADMIN.email, ADMIN.password);
  } finally {
    assert.equal((await again.stop()).code, 0);
  }
});

test("first start without a password generates one and prints it once", async () => {
  const srv = await startServer({ env: { OFFICE_ADMIN_PASSWORD: "" } });
  try {
    const m = srv.output().match(/generated password: (\S+)/);
    assert.ok(m, srv.output());
    await login(srv.base, ADMIN.email, m[1]);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
  const again = await startServer({ dataDir: srv.dataDir, env: { OFFICE_ADMIN_PASSWORD: "" } });
  try {
    assert.doesNotMatch(again.output(), /generated password/);
  } finally {
    await again.stop();
  }
});

test("a weak first-admin password stops the first start with the rule named", async () => {
  await assert.rejects(startServer({ env: { OFFICE_ADMIN_PASSWORD: "Password1" } }),
                       /admin\.password[^]*too common/);
  await assert.rejects(startServer({ env: { OFFICE_ADMIN_PASSWORD: "short" } }),
                       /at least 8 characters/);
});

test("bad configuration is refused with the key named", async () => {
  await assert.rejects(startServer({ env: { OFFICE_SERVER_LISTN: "x" } }), /OFFICE_SERVER_LISTN/);
});
