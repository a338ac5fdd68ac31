import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import { startServer, api, login, signJwt, signEdJwt, serverKey, verifyWithJwks, expectError, ADMIN, BIN, JWT_SECRET } from "./harness.mjs";

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
  const key = serverKey(srv.dataDir);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "office-suite", aud: "office-suite", sub: t.user.id, tid: t.user.tenantId,
                   sid: "x", iat: now - 7200, nbf: now - 7200, exp: now - 3600 };
  const expired = await me(signEdJwt(claims, key));
  expectError(assert, expired, 401);
  assert.equal(expired.json.error.message, "token expired");
  const live = { ...claims, exp: now + 600 };
  // alg=none, an unknown kid and a wrong key are refused.
  const none = signJwt(live, "", { alg: "none", kid: key.kid }).replace(/\.[^.]*$/, ".");
  assert.equal((await me(none)).json.error.message, "token algorithm not allowed");
  const other = { kid: key.kid, key: crypto.generateKeyPairSync("ed25519").privateKey };
  assert.equal((await me(signEdJwt(live, other))).json.error.message, "bad token signature");
  assert.equal((await me(signEdJwt(live, key, { alg: "EdDSA", kid: "no-such-key" }))).json.error.message, "unknown token key");
  // Algorithm confusion: HS256 with the published public key as the secret.
  const confused = signJwt(live, Buffer.from(key.x, "base64url"), { alg: "HS256", kid: key.kid });
  assert.equal((await me(confused)).json.error.message, "token algorithm does not match its key");
  // Valid signature but a session that does not exist.
  assert.equal((await me(signEdJwt(live, key))).status, 401);
});

test("access tokens are EdDSA with a kid, verifiable from the public JWKS alone", async () => {
  const t = await login(srv.base, ADMIN.email, ADMIN.password);
  const jwks = await api(srv.base, "GET", "/.well-known/jwks.json");  // no token needed
  assert.equal(jwks.status, 200);
  assert.match(jwks.headers.get("cache-control"), /max-age=\d+/);
  assert.equal(jwks.json.keys.length, 1);
  const [k] = jwks.json.keys;
  assert.deepEqual(Object.keys(k).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);
  assert.equal(k.kty, "OKP");
  assert.equal(k.crv, "Ed25519");
  assert.equal(k.alg, "EdDSA");
  assert.equal(k.use, "sig");
  const header = verifyWithJwks(t.accessToken, jwks.json);
  assert.equal(header.alg, "EdDSA");
  assert.equal(header.kid, k.kid);
  assert.ok(t.refreshToken.startsWith(`${t.user.tenantId}.`));
});

test("keys rotate: new tokens use the new key, old ones keep working, JWKS has both", async () => {
  const before = await login(srv.base, ADMIN.email, ADMIN.password);
  const out = spawnSync(BIN, ["keys", "rotate", "--data-dir", srv.dataDir], { encoding: "utf8", env: { PATH: process.env.PATH } });
  assert.equal(out.status, 0, out.stderr);
  const kid = out.stdout.match(/new signing key (\S+);/)[1];
  assert.match(out.stdout, /previous key verifies tokens until \d{4}-/);
  await new Promise((r) => setTimeout(r, 10500));  // the server looks for new keys every 10 s
  const after = await login(srv.base, ADMIN.email, ADMIN.password);
  const jwks = (await api(srv.base, "GET", "/.well-known/jwks.json")).json;
  assert.equal(jwks.keys.length, 2);
  assert.equal(verifyWithJwks(after.accessToken, jwks).kid, kid);
  assert.notEqual(verifyWithJwks(before.accessToken, jwks).kid, kid);
  for (const t of [before, after])
    assert.equal((await api(srv.base, "GET", "/api/v1/users/me", { token: t.accessToken })).status, 200);
});

test("HS256 stays available, and an upgrade to EdDSA keeps sessions alive", async () => {
  const hs = await startServer({ env: { OFFICE_AUTH_JWT_ALGORITHM: "HS256", OFFICE_AUTH_JWT_SECRET: JWT_SECRET } });
  let t, dataDir = hs.dataDir;
  try {
    t = await login(hs.base, ADMIN.email, ADMIN.password);
    assert.equal(JSON.parse(Buffer.from(t.accessToken.split(".")[0], "base64url")).alg, "HS256");
    assert.deepEqual((await api(hs.base, "GET", "/.well-known/jwks.json")).json, { keys: [] });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: "office-suite", aud: "office-suite", sub: t.user.id, tid: t.user.tenantId, sid: "x", exp: now + 600 };
    const me = (token) => api(hs.base, "GET", "/api/v1/users/me", { token });
    assert.equal((await me(signJwt(claims, "another-secret-another-secret-xx"))).json.error.message, "bad token signature");
    assert.equal((await me(signJwt({ ...claims, exp: now - 3600 }))).json.error.message, "token expired");
    const keysRotate = spawnSync(BIN, ["keys", "rotate", "--data-dir", dataDir], { encoding: "utf8", env: { PATH: process.env.PATH, OFFICE_AUTH_JWT_ALGORITHM: "HS256" } });
    assert.notEqual(keysRotate.status, 0);
    assert.match(keysRotate.stderr, /EdDSA/);
  } finally {
    assert.equal((await hs.stop()).code, 0);
  }
  // The upgrade: same data dir, same secret, the new default algorithm.
  const ed = await startServer({ dataDir, env: { OFFICE_AUTH_JWT_SECRET: JWT_SECRET } });
  try {
    assert.equal((await api(ed.base, "GET", "/api/v1/users/me", { token: t.accessToken })).status, 200);
    const r = await api(ed.base, "POST", "/api/v1/auth/refresh", { body: { refreshToken: t.refreshToken } });
    assert.equal(r.status, 200, r.text);
    const jwks = (await api(ed.base, "GET", "/.well-known/jwks.json")).json;
    assert.equal(verifyWithJwks(r.json.accessToken, jwks).alg, "EdDSA");
  } finally {
    assert.equal((await ed.stop()).code, 0);
  }
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
