// Sessions as the server keeps them true after sign-in: WebSockets close when
// their session ends or their token expires (unless renewed), and password
// hashing runs on a bounded pool of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, api, login, expectError, ADMIN } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
    ws.closed = new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
    ws.on("open", () => resolve(ws));
    ws.on("unexpected-response", (_req, res) => reject(Object.assign(new Error("rejected"), { status: res.statusCode })));
    ws.on("error", reject);
  });
}

async function userWithSession(srv, admin, email) {
  const password = "maple-quartz-88";
  const created = await api(srv.base, "POST", "/api/v1/users", { token: admin.accessToken, body: { email, password } });
  assert.equal(created.status, 201, created.text);
  return { id: created.json.id, tokens: await login(srv.base, email, password) };
}

test("a WebSocket closes with 4401 within a second of logout or of its user being disabled", async () => {
  const srv = await startServer();
  try {
    const admin = await login(srv.base, ADMIN.email, ADMIN.password);
    const wsUrl = (t) => `ws://127.0.0.1:${srv.port}/api/v1/ws?access_token=${encodeURIComponent(t.accessToken)}`;

    const alice = await userWithSession(srv, admin, "alice@example.com");
    const ws = await openWs(wsUrl(alice.tokens));
    assert.equal((await ws.next()).type, "hello");
    const other = await openWs(wsUrl(admin));  // another user's socket stays
    assert.equal((await other.next()).type, "hello");
    const t0 = Date.now();
    const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: alice.tokens.refreshToken } });
    assert.equal(out.status, 204);
    const closed = await ws.closed;
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, "session ended");
    assert.ok(closed.at - t0 < 1000, `closed ${closed.at - t0} ms after logout`);

    const bob = await userWithSession(srv, admin, "bob@example.com");
    const ws2 = await openWs(wsUrl(bob.tokens));
    assert.equal((await ws2.next()).type, "hello");
    const t1 = Date.now();
    const dis = await api(srv.base, "POST", `/api/v1/users/${bob.id}/disable`, { token: admin.accessToken });
    assert.equal(dis.status, 200, dis.text);
    const closed2 = await ws2.closed;
    assert.equal(closed2.code, 4401);
    assert.ok(closed2.at - t1 < 1000, `closed ${closed2.at - t1} ms after disabling`);

    other.send(JSON.stringify({ type: "ping", id: 1 }));
    assert.deepEqual(await other.next(), { type: "pong", id: 1 });
    other.close();
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.output());
  }
});

test("a WebSocket ends when its access token expires, unless renewed over the socket", async () => {
  const srv = await startServer({ env: { OFFICE_AUTH_ACCESS_TTL_S: "5" } });
  try {
    const t = await login(srv.base, ADMIN.email, ADMIN.password);
    const url = `ws://127.0.0.1:${srv.port}/api/v1/ws?access_token=${encodeURIComponent(t.accessToken)}`;
    const plain = await openWs(url);
    const renewed = await openWs(url);
    assert.equal((await plain.next()).type, "hello");
    assert.equal((await renewed.next()).type, "hello");
    await sleep(2500);
    // A newer token of the same session (a refresh), sent over the socket.
    const r = await api(srv.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: t.refreshToken } });
    assert.equal(r.status, 200, r.text);
    renewed.send(JSON.stringify({ type: "auth", token: r.json.accessToken }));
    const ack = await renewed.next();
    assert.equal(ack.type, "auth", JSON.stringify(ack));
    assert.match(ack.expiresAt, /^\d{4}-/);
    // Someone else's or a forged token is refused, and changes nothing.
    renewed.send(JSON.stringify({ type: "auth", token: "x.y.z" }));
    assert.equal((await renewed.next()).error.code, "UNAUTHENTICATED");

    const closed = await plain.closed;  // ~5 s after login, by the once-a-second sweep
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, "access token expired");
    renewed.send(JSON.stringify({ type: "ping", id: "still" }));
    assert.deepEqual(await renewed.next(), { type: "pong", id: "still" });
    const later = await renewed.closed;  // the renewed token expires too
    assert.equal(later.code, 4401);
    assert.ok(later.at > closed.at + 1000, "the renewed socket outlived the first token");
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.output());
  }
});

test("password hashing has its own bounded queue: overflow is 503 + Retry-After, other writes go on", async () => {
  const srv = await startServer({ env: { OFFICE_AUTH_HASH_THREADS: "1", OFFICE_AUTH_HASH_QUEUE: "32" } });
  try {
    const admin = await login(srv.base, ADMIN.email, ADMIN.password);
    const user = await userWithSession(srv, admin, "carol@example.com");
    // Eight logins queue for the single hashing thread; an admin's write does
    // not wait for them: it is answered before the second login is.
    const done = [];
    const logins = [];
    for (let i = 0; i < 8; i++)
      logins.push(api(srv.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } })
        .then((r) => { done.push(`login:${r.status}`); return r; }));
    await sleep(20);
    const patch = api(srv.base, "PATCH", `/api/v1/users/${user.id}`, { token: admin.accessToken, body: { displayName: "Carol" } })
      .then((r) => { done.push(`patch:${r.status}`); return r; });
    await Promise.all([...logins, patch]);
    assert.equal((await patch).status, 200);
    const at = done.indexOf("patch:200");
    assert.ok(at >= 0 && at < 2, `the write waited for the logins: ${done.join(", ")}`);
    for (const l of logins) assert.equal((await l).status, 200);
  } finally {
    assert.equal((await srv.stop()).code, 0, srv.output());
  }

  const tiny = await startServer({ env: { OFFICE_AUTH_HASH_THREADS: "1", OFFICE_AUTH_HASH_QUEUE: "1" } });
  try {
    const rs = await Promise.all(Array.from({ length: 8 }, () =>
      api(tiny.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password: ADMIN.password } })));
    const busy = rs.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, rs.map((r) => r.status).join(","));
    assert.ok(rs.some((r) => r.status === 200), rs.map((r) => r.status).join(","));
    for (const r of busy) {
      expectError(assert, r, 503, "UNAVAILABLE");
      assert.ok(Number(r.headers.get("retry-after")) >= 1);
    }
  } finally {
    assert.equal((await tiny.stop()).code, 0, tiny.output());
  }
});
