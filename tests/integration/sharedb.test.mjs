// Real-time documents with the stock `sharedb` client over real WebSockets:
// convergence under concurrent edits and network delays, offline edits
// landing exactly once, permissions, presence, bad input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, api, login, ADMIN } from "./harness.mjs";
import { connect, subscribe, submit, settled, until, randomOp, promisify, URI, sharedbUrl } from "./sharedb_client.mjs";

let srv, admin, viewer, viewerUser;

before(async () => {
  srv = await startServer();
  admin = await login(srv.base, ADMIN.email, ADMIN.password);
  const u = await api(srv.base, "POST", "/api/v1/users", { token: admin.accessToken, body: { email: "viewer@example.com", password: "willow-brick-650" } });
  assert.equal(u.status, 201, u.text);
  viewerUser = u.json;
  viewer = await login(srv.base, "viewer@example.com", "willow-brick-650");
});
after(async () => { await srv?.stop(); });

async function newDoc(title = "Notes") {
  const r = await api(srv.base, "POST", "/api/v1/docs", { token: admin.accessToken, body: { title } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test("2 to 10 clients with random delays converge to the server's text", async () => {
  for (const n of [2, 5, 10]) {
    const d = await newDoc(`converge ${n}`);
    const clients = [];
    for (let i = 0; i < n; i++) {
      const c = connect(srv, admin.accessToken, { maxDelayMs: 15 });
      c.doc = c.connection.get("docs", d.id);
      await subscribe(c.doc);
      assert.equal(c.doc.type.uri, URI);
      clients.push(c);
    }
    // Every client edits at random moments, without waiting for the others.
    await Promise.all(clients.map(async (c) => {
      for (let k = 0; k < 25; k++) {
        c.doc.submitOp(randomOp(c.doc.data));
        await new Promise((r) => setTimeout(r, Math.random() * 10));
      }
    }));
    await Promise.all(clients.map((c) => settled(c.doc)));
    const fresh = connect(srv, admin.accessToken);
    const server = fresh.connection.get("docs", d.id);
    await promisify((cb) => server.fetch(cb));
    await until(() => clients.every((c) => c.doc.version === server.version), "every client at the server's version");
    for (const c of clients) assert.equal(c.doc.data, server.data, `client text differs with ${n} clients`);
    // The client composes ops made while one is in flight, so there are fewer
    // versions than edits, but every client's edits reached the server.
    assert.ok(server.version > 1 + n, `version ${server.version}`);
    for (const c of [...clients, fresh]) c.connection.close();
  }
});

test("an op whose acknowledgement was lost is resubmitted after reconnecting and lands once", async () => {
  const d = await newDoc("offline");
  let dropAcks = true;
  // Drops the server's acknowledgement of our op, then the line goes down.
  const c = connect(srv, admin.accessToken, {
    dropIncoming: (m) => dropAcks && m.a === "op" && m.op === undefined && m.create === undefined && m.del === undefined,
  });
  const doc = c.connection.get("docs", d.id);
  await subscribe(doc);
  const acked = submit(doc, ["once-"]);
  await until(() => doc.inflightOp, "op in flight");
  await new Promise((r) => setTimeout(r, 300));  // committed on the server, ack dropped
  c.socket.close();
  await until(() => c.connection.state === "disconnected", "disconnected");
  // Offline edits pile up locally.
  doc.submitOp([5, "offline"]);
  dropAcks = false;
  const again = connect(srv, admin.accessToken);
  c.connection.bindToSocket(again.socket);
  await acked;
  await settled(doc);
  const fresh = connect(srv, admin.accessToken).connection.get("docs", d.id);
  await promisify((cb) => fresh.fetch(cb));
  assert.equal(fresh.data, "once-offline");
  assert.equal(doc.data, "once-offline");
  c.connection.close();
  fresh.connection.close();
});

test("a viewer reads and subscribes but its ops are rejected; others never see them", async () => {
  const d = await newDoc("shared");
  const s = await api(srv.base, "POST", `/api/v1/docs/${d.id}/shares`, { token: admin.accessToken, body: { kind: "user", granteeId: viewerUser.id, role: "viewer" } });
  assert.ok(s.status === 200 || s.status === 201, s.text);
  const owner = connect(srv, admin.accessToken);
  const od = owner.connection.get("docs", d.id);
  await subscribe(od);
  await submit(od, ["owner text"]);
  const v = connect(srv, viewer.accessToken);
  const vd = v.connection.get("docs", d.id);
  await subscribe(vd);
  assert.equal(vd.data, "owner text");
  // Refused with ERR_OP_SUBMIT_REJECTED: the stock client rolls the op back
  // quietly (ShareDB's answer to an op access control refuses).
  const rejected = [];
  const raw = vd.connection.handleMessage.bind(vd.connection);
  vd.connection.handleMessage = (m) => { if (m.a === "op" && m.error) rejected.push(m.error); raw(m); };
  await submit(vd, ["viewer!"]);
  assert.equal(vd.data, "owner text", "the viewer's op is rolled back");
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].code, "ERR_OP_SUBMIT_REJECTED");
  assert.match(rejected[0].message, /cannot edit/);
  await submit(od, [10, "."]);
  await until(() => vd.data === "owner text.", "the viewer to follow the owner");
  const fresh = connect(srv, admin.accessToken).connection.get("docs", d.id);
  await promisify((cb) => fresh.fetch(cb));
  assert.equal(fresh.data, "owner text.");
  // Someone without a share does not learn the document exists.
  await api(srv.base, "DELETE", `/api/v1/docs/${d.id}/shares/user/${viewerUser.id}`, { token: admin.accessToken });
  const after = connect(srv, viewer.accessToken);
  const gone = await promisify((cb) => after.connection.get("docs", d.id).fetch(cb)).then(() => null, (e) => e);
  assert.ok(gone, "a revoked viewer cannot fetch");
  assert.doesNotMatch(String(gone.message), /owner text/);
  for (const c of [owner.connection, v.connection, fresh.connection, after.connection]) c.close();
});

test("presence reaches the other subscribers, moved through concurrent ops, and leaves with its client", async () => {
  const d = await newDoc("presence");
  const a = connect(srv, admin.accessToken);
  const b = connect(srv, admin.accessToken);
  const ad = a.connection.get("docs", d.id);
  const bd = b.connection.get("docs", d.id);
  await subscribe(ad);
  await subscribe(bd);
  await submit(ad, ["hello world"]);
  await until(() => bd.data === "hello world", "b to see the text");
  const ap = a.connection.getDocPresence("docs", d.id);
  const bp = b.connection.getDocPresence("docs", d.id);
  await promisify((cb) => ap.subscribe(cb));
  await promisify((cb) => bp.subscribe(cb));
  const local = ap.create("cursor-a");
  await promisify((cb) => local.submit({ index: 6, length: 5 }, cb));
  await until(() => Object.values(bp.remotePresences).some((p) => p && p.index === 6), "b to see a's cursor");
  await submit(bd, [">> "]);
  await until(() => Object.values(bp.remotePresences).some((p) => p && p.index === 9), "a's cursor to move");
  a.connection.close();
  await until(() => Object.values(bp.remotePresences).every((p) => !p), "a's cursor to go");
  b.connection.close();
});

test("a client creates a document by id and another one joins it", async () => {
  const id = "created-by-client-" + Date.now();
  const a = connect(srv, admin.accessToken);
  const doc = a.connection.get("docs", id);
  await promisify((cb) => doc.fetch(cb));
  assert.equal(doc.type, null);
  await promisify((cb) => doc.create("start", URI, cb));
  await submit(doc, [5, "!"]);
  const r = await api(srv.base, "GET", `/api/v1/docs/${id}`, { token: admin.accessToken });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.title, "Untitled");
  const err = await promisify((cb) => connect(srv, admin.accessToken).connection.get("docs", id).create("again", URI, cb)).then(() => null, (e) => e);
  assert.ok(err, "a second create fails");
  a.connection.close();
});

// Raw protocol: what a hostile or broken client sends.
async function raw(token) {
  const ws = new WebSocket(sharedbUrl(srv, token), { perMessageDeflate: false });
  const messages = [];
  const waiters = [];
  ws.on("message", (m) => {
    const msg = JSON.parse(m.toString());
    if (waiters.length) waiters.shift()(msg); else messages.push(msg);
  });
  ws.next = () => new Promise((r) => (messages.length ? r(messages.shift()) : waiters.push(r)));
  ws.closed = new Promise((r) => ws.on("close", (code) => r(code)));
  await new Promise((resolve, reject) => { ws.on("open", resolve); ws.on("error", reject); });
  return ws;
}

test("bad input gets an error reply and leaves the connection and the document working", async () => {
  const d = await newDoc("hostile");
  const ws = await raw(admin.accessToken);
  ws.send(JSON.stringify({ a: "hs", id: null, protocol: 1, protocolMinor: 2 }));
  const hs = await ws.next();
  assert.equal(hs.a, "hs");
  assert.equal(typeof hs.id, "string");
  const cases = [
    { a: "op", c: "docs", d: d.id, v: 1, seq: 1, op: [{ d: -1 }] },
    { a: "op", c: "docs", d: d.id, v: 99, seq: 2, op: ["future"] },
    { a: "op", c: "docs", d: d.id, v: 1, seq: 3, op: [100, "too far"] },
    { a: "op", c: "docs", d: d.id, v: 1, seq: 4, del: true },
    { a: "f", c: "other", d: d.id },
    { a: "qf", c: "docs", id: 1, q: {} },
  ];
  for (const m of cases) {
    ws.send(JSON.stringify(m));
    const reply = await ws.next();
    assert.ok(reply.error, `an error for ${JSON.stringify(m)}: ${JSON.stringify(reply)}`);
    assert.equal(typeof reply.error.message, "string");
  }
  // A lone surrogate in an insert (valid JSON, invalid text).
  ws.send('{"a":"op","c":"docs","d":"' + d.id + '","v":1,"seq":5,"op":["\\ud800"]}');
  const lone = await ws.next();
  assert.ok(lone.error, JSON.stringify(lone));
  // Still works.
  ws.send(JSON.stringify({ a: "op", c: "docs", d: d.id, v: 1, seq: 6, op: ["ok"] }));
  const ack = await ws.next();
  assert.equal(ack.error, undefined, JSON.stringify(ack));
  assert.equal(ack.v, 1);
  ws.close();
  const fresh = connect(srv, admin.accessToken).connection.get("docs", d.id);
  await promisify((cb) => fresh.fetch(cb));
  assert.equal(fresh.data, "ok");
  fresh.connection.close();
});

test("another tenant's user and an unauthenticated upgrade learn nothing", async () => {
  const d = await newDoc("private");
  for (const url of [`ws://127.0.0.1:${srv.port}/sharedb`, `ws://127.0.0.1:${srv.port}/sharedb?access_token=forged.token.here`]) {
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode));
      ws.on("open", () => { ws.close(); resolve(101); });
      ws.on("error", () => {});
    });
    assert.equal(status, 401, url);
  }
  const t = await api(srv.base, "POST", "/api/v1/tenants", { token: admin.accessToken, body: { slug: "other", adminEmail: "boss@other.test", adminPassword: "maple-quartz-88" } });
  assert.equal(t.status, 201, t.text);
  const other = await login(srv.base, "boss@other.test", "maple-quartz-88", "other");
  const c = connect(srv, other.accessToken);
  const doc = c.connection.get("docs", d.id);
  await promisify((cb) => doc.fetch(cb));
  assert.equal(doc.type, null, "the other tenant sees an empty, never-created id");
  assert.equal(doc.data, undefined);
  c.connection.close();
});

test("history: the text at a version, and restoring it as an op collaborators receive", async () => {
  const d = await newDoc("history");
  const c = connect(srv, admin.accessToken);
  const doc = c.connection.get("docs", d.id);
  await subscribe(doc);
  await submit(doc, ["first draft"]);
  await submit(doc, [{ d: 5 }, "second"]);
  assert.equal(doc.data, "second draft");
  const versions = await api(srv.base, "GET", `/api/v1/docs/${d.id}/versions`, { token: admin.accessToken });
  assert.equal(versions.status, 200, versions.text);
  assert.deepEqual(versions.json.versions.map((v) => v.version), [2, 1, 0]);
  const v2 = await api(srv.base, "GET", `/api/v1/docs/${d.id}/versions/2`, { token: admin.accessToken });
  assert.equal(v2.status, 200, v2.text);
  assert.equal(v2.json.text, "first draft");
  // ShareDB's own snapshot fetch agrees.
  const nf = await promisify((cb) => c.connection.fetchSnapshot("docs", d.id, 2, cb));
  assert.equal(nf.data, "first draft");
  const bad = await api(srv.base, "GET", `/api/v1/docs/${d.id}/versions/x1`, { token: admin.accessToken });
  assert.equal(bad.status, 400);
  const viewerTry = await api(srv.base, "POST", `/api/v1/docs/${d.id}/versions/2/restore`, { token: viewer.accessToken });
  assert.equal(viewerTry.status, 404, "no role: the document does not exist for them");
  const r = await api(srv.base, "POST", `/api/v1/docs/${d.id}/versions/2/restore`, { token: admin.accessToken });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.version, 4);
  await until(() => doc.data === "first draft", "the open client to receive the restore");
  assert.equal(doc.version, 4);
  c.connection.close();
});
