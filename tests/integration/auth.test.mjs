import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, api, login, signJwt, expectError, ADMIN } from "./harness.mjs";

let srv;
before(async () => { srv = await startServer(); });
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.output());
});

test("login, profile, refresh rotation, logout", async () => {
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  assert.equal(t.tokenType, "Bearer");
  assert.ok(t.expiresIn > 0);
  assert.equal(t.user.email, ADMIN.email);
  assert.equal(t.user.role, "admin");
  assert.equal(t.user.platformAdmin, true);

  const me = await api(srv.base, "GET", "/api/v1/users/me", { token: t.accessToken });
  assert.equal(me.status, 200);
  assert.equal(me.json.email, ADMIN.email);
  assert.equal(me.json.id, t.user.id);
  assert.match(me.json.createTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(me.headers.get("traceparent"), "traceparent header");

  const r1 = await api(srv.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: t.refreshToken } });
  assert.equal(r1.status, 200, r1.text);
  assert.notEqual(r1.json.refreshToken, t.refreshToken);
  // The rotated token is single use; replaying it ends the session.
  const replay = await api(srv.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: t.refreshToken } });
  expectError(assert, replay, 401, "UNAUTHENTICATED");
  expectError(assert, await api(srv.base, "GET", "/api/v1/users/me", { token: r1.json.accessToken }), 401);

  const t2 = await login(srv.base, ADMIN.email, ADMIN.password);
  const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: t2.refreshToken } });
  assert.equal(out.status, 204);
  expectError(assert, await api(srv.base, "GET", "/api/v1/users/me", { token: t2.accessToken }), 401);
});

test("wrong credentials are one uniform 401", async () => {
  for (const body of [
    { email: ADMIN.email, password: "wrong-password" },
    { email: "nobody@example.com", password: ADMIN.password },
    { email: ADMIN.email, password: ADMIN.password, tenant: "no-such-tenant" },
  ]) {
    const r = await api(srv.base, "POST", "/api/v1/auth/login", { body });
    expectError(assert, r, 401, "UNAUTHENTICATED");
    assert.equal(r.json.error.message, "invalid credentials");
  }
});

test("failed logins back off with 429 and Retry-After", async () => {
  const limited = await startServer({ env: { OFFICE_AUTH_LOGIN_PAIR_MAX_FAILURES: "2" } });
  try {
    const attempt = (password) => api(limited.base, "POST", "/api/v1/auth/login", { body: { email: ADMIN.email, password } });
    for (let i = 0; i < 3; i++) expectError(assert, await attempt("wrong-guess-99"), 401, "UNAUTHENTICATED");
    const blocked = await attempt(ADMIN.password);  // even the right password waits
    expectError(assert, blocked, 429, "RESOURCE_EXHAUSTED");
    const retry = Number(blocked.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 2, `Retry-After: ${blocked.headers.get("retry-after")}`);
    assert.match(blocked.json.error.message, /too many failed logins/);
    await new Promise((r) => setTimeout(r, retry * 1000 + 100));
    assert.equal((await attempt(ADMIN.password)).status, 200);
  } finally {
    assert.equal((await limited.stop()).code, 0);
  }
});

test("bad and expired tokens get 401", async () => {
  const me = (token, headers) => api(srv.base, "GET", "/api/v1/users/me", { token, headers });
  expectError(assert, await me(), 401, "UNAUTHENTICATED");
  expectError(assert, await me("garbage"), 401);
  expectError(assert, await me(undefined, { authorization: "Basic YTpi" }), 401);
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "office-suite", aud: "office-suite", sub: t.user.id, tid: t.user.tenantId,
                   sid: "x", iat: now - 7200, nbf: now - 7200, exp: now - 3600 };
  const expired = await me(signJwt(claims));
  expectError(assert, expired, 401);
  assert.equal(expired.json.error.message, "token expired");
  // alg=none and a wrong key are refused.
  const none = signJwt({ ...claims, exp: now + 600 }, "", { alg: "none" }).replace(/\.[^.]*$/, ".");
  assert.equal((await me(none)).json.error.message, "token algorithm not allowed");
  const wrongKey = await me(signJwt({ ...claims, exp: now + 600 }, "another-secret-another-secret-xx"));
  assert.equal(wrongKey.json.error.message, "bad token signature");
  // Valid signature but a session that does not exist.
  assert.equal((await me(signJwt({ ...claims, exp: now + 600 }))).status, 401);
});

test("bad input gets a clear JSON error, never a crash", async () => {
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const post = (p, raw, extra = {}) => api(srv.base, "POST", p, { raw, token: t.accessToken, headers: { "content-type": "application/json" }, ...extra });
  expectError(assert, await post("/api/v1/auth/login", "{not json"), 400, "INVALID_ARGUMENT");
  expectError(assert, await post("/api/v1/auth/login", "[1,2]"), 400, "INVALID_ARGUMENT");
  expectError(assert, await post("/api/v1/auth/login", '{"email":5,"password":"x"}'), 400);
  const missing = await post("/api/v1/auth/login", '{"email":"a@b.c"}');
  expectError(assert, missing, 400);
  assert.match(missing.json.error.message, /password/);
  const unknown = await post("/api/v1/users", '{"email":"x@example.com","password":"maple-quartz-88","rol":"admin"}');
  expectError(assert, unknown, 400);
  assert.match(unknown.json.error.message, /rol/);
  expectError(assert, await post("/api/v1/users", '{"email":"x@example.com","password":"maple-quartz-88","role":"owner"}'), 400);
  expectError(assert, await post("/api/v1/users", '{"email":"not-an-email","password":"maple-quartz-88"}'), 400);
  expectError(assert, await post("/api/v1/users", "\u0000\u0001\u0002"), 400);
  expectError(assert, await api(srv.base, "GET", "/api/v1/nope", { token: t.accessToken }), 404, "NOT_FOUND");
  expectError(assert, await api(srv.base, "GET", "/no/such/page"), 404);
  const wrongMethod = await api(srv.base, "DELETE", "/api/v1/users/me", { token: t.accessToken });
  expectError(assert, wrongMethod, 405);
  assert.ok(wrongMethod.headers.get("allow"));
  expectError(assert, await post("/api/v1/users", "x".repeat(2 * 1024 * 1024)), 413, "PAYLOAD_TOO_LARGE");
  expectError(assert, await api(srv.base, "GET", "/api/v1/users?pageSize=9999", { token: t.accessToken }), 400);
  expectError(assert, await api(srv.base, "GET", "/api/v1/users?pageToken=bm90LWEtdXVpZA", { token: t.accessToken }), 400);
  expectError(assert, await api(srv.base, "GET", "/api/v1/users/not-a-uuid", { token: t.accessToken }), 404);
  // The server still serves, and nothing stored was lost.
  const me = await api(srv.base, "GET", "/api/v1/users/me", { token: t.accessToken });
  assert.equal(me.status, 200);
});

test("health, readiness, contract and docs", async () => {
  assert.equal((await api(srv.base, "GET", "/healthz")).status, 200);
  assert.equal((await api(srv.base, "GET", "/readyz")).status, 200);
  const spec = await api(srv.base, "GET", "/openapi.yaml");
  assert.equal(spec.status, 200);
  assert.match(spec.text, /^openapi: 3\.0/);
  const etag = spec.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(srv.base + "/openapi.yaml", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  const docs = await api(srv.base, "GET", "/api/docs");
  assert.equal(docs.status, 200);
  assert.match(docs.headers.get("content-type"), /text\/html/);
  const bundle = await fetch(srv.base + "/api/docs/swagger-ui-bundle.js");
  assert.equal(bundle.status, 200);
  assert.match(bundle.headers.get("content-type"), /javascript/);
  assert.ok((await bundle.arrayBuffer()).byteLength > 100000);
});
