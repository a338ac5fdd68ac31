// A user of tenant A gets 404 (or 403 for platform routes) on every route that
// names tenant B's objects, and sees none of B's data in lists.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, api, login, expectError, ADMIN } from "./harness.mjs";

let srv, root, a, b, bUser, bGroup, aUser;

before(async () => {
  srv = await startServer();
  root = await login(srv.base, ADMIN.email, ADMIN.password);
  const mk = async (slug) => {
    const r = await api(srv.base, "POST", "/api/v1/tenants", { token: root.accessToken,
      body: { slug, displayName: slug.toUpperCase(), adminEmail: `boss@${slug}.test`, adminPassword: "cobalt-fern-3318" } });
    assert.equal(r.status, 201, r.text);
    return login(srv.base, `boss@${slug}.test`, "cobalt-fern-3318", slug);
  };
  a = await mk("alpha");
  b = await mk("beta");
  const u = await api(srv.base, "POST", "/api/v1/users", { token: b.accessToken, body: { email: "worker@beta.test", password: "willow-brick-650" } });
  assert.equal(u.status, 201, u.text);
  bUser = u.json;
  const g = await api(srv.base, "POST", "/api/v1/groups", { token: b.accessToken, body: { name: "beta-team", memberIds: [bUser.id] } });
  assert.equal(g.status, 201, g.text);
  bGroup = g.json;
  aUser = (await api(srv.base, "POST", "/api/v1/users", { token: a.accessToken, body: { email: "worker@alpha.test", password: "willow-brick-650" } })).json;
});
after(async () => assert.equal((await srv.stop()).code, 0));

test("tenant A cannot reach tenant B's objects on any route", async () => {
  const T = a.accessToken;
  const cases = [
    ["GET", `/api/v1/users/${bUser.id}`],
    ["PATCH", `/api/v1/users/${bUser.id}`, { displayName: "pwned" }],
    ["POST", `/api/v1/users/${bUser.id}/disable`],
    ["GET", `/api/v1/users/${b.user.id}`],
    ["GET", `/api/v1/groups/${bGroup.id}`],
    ["PATCH", `/api/v1/groups/${bGroup.id}`, { name: "pwned" }],
    ["DELETE", `/api/v1/groups/${bGroup.id}`],
    ["PUT", `/api/v1/groups/${bGroup.id}/members/${aUser.id}`],
    ["DELETE", `/api/v1/groups/${bGroup.id}/members/${bUser.id}`],
    ["PUT", `/api/v1/groups/${bGroup.id}/members/${bUser.id}`],
  ];
  for (const [method, p, body] of cases) {
    const r = await api(srv.base, method, p, { token: T, body });
    expectError(assert, r, 404, "NOT_FOUND");
    assert.doesNotMatch(r.text, /beta/, `${method} ${p} leaks: ${r.text}`);
  }
  // Adding B's user to A's own group: B's user does not exist for A.
  const ag = await api(srv.base, "POST", "/api/v1/groups", { token: T, body: { name: "alpha-team" } });
  expectError(assert, await api(srv.base, "PUT", `/api/v1/groups/${ag.json.id}/members/${bUser.id}`, { token: T }), 404);
  expectError(assert, await api(srv.base, "POST", "/api/v1/groups", { token: T, body: { name: "x", memberIds: [bUser.id] } }), 400);
  // Platform routes need a platform admin.
  expectError(assert, await api(srv.base, "GET", "/api/v1/tenants", { token: T }), 403, "PERMISSION_DENIED");
  expectError(assert, await api(srv.base, "POST", "/api/v1/tenants", { token: T, body: { slug: "gamma", adminEmail: "g@g.test", adminPassword: "maple-quartz-88" } }), 403);
  // Lists hold only A's objects.
  const users = await api(srv.base, "GET", "/api/v1/users", { token: T });
  assert.equal(users.status, 200);
  assert.ok(users.json.users.length >= 2);
  for (const u of users.json.users) assert.equal(u.tenantId, a.user.tenantId);
  const groups = await api(srv.base, "GET", "/api/v1/groups", { token: T });
  for (const g of groups.json.groups) assert.equal(g.tenantId, a.user.tenantId);
  // B's objects are untouched.
  const still = await api(srv.base, "GET", `/api/v1/groups/${bGroup.id}`, { token: b.accessToken });
  assert.equal(still.json.name, "beta-team");
  assert.deepEqual(still.json.memberIds, [bUser.id]);
  const bu = await api(srv.base, "GET", `/api/v1/users/${bUser.id}`, { token: b.accessToken });
  assert.equal(bu.json.displayName, "worker");
  assert.equal(bu.json.disabled, false);
});

test("the same e-mail in two tenants are two users; login picks by tenant", async () => {
  const r = await api(srv.base, "POST", "/api/v1/users", { token: a.accessToken, body: { email: "worker@beta.test", password: "alpha-side-pw" } });
  assert.equal(r.status, 201, r.text);
  const inA = await login(srv.base, "worker@beta.test", "alpha-side-pw", "alpha");
  const inB = await login(srv.base, "worker@beta.test", "willow-brick-650", "beta");
  assert.notEqual(inA.user.tenantId, inB.user.tenantId);
  expectError(assert, await api(srv.base, "POST", "/api/v1/auth/login", { body: { email: "worker@beta.test", password: "alpha-side-pw", tenant: "beta" } }), 401);
});

test("members read the directory but cannot change it", async () => {
  const m = await login(srv.base, "worker@alpha.test", "willow-brick-650", "alpha");
  assert.equal((await api(srv.base, "GET", "/api/v1/users", { token: m.accessToken })).status, 200);
  expectError(assert, await api(srv.base, "POST", "/api/v1/users", { token: m.accessToken, body: { email: "z@alpha.test", password: "maple-quartz-88" } }), 403, "PERMISSION_DENIED");
  expectError(assert, await api(srv.base, "PATCH", `/api/v1/users/${m.user.id}`, { token: m.accessToken, body: { role: "admin" } }), 403);
  expectError(assert, await api(srv.base, "POST", "/api/v1/groups", { token: m.accessToken, body: { name: "mine" } }), 403);
});
