// gRPC in the monolith: UserService.GetProfile and DocSync.SyncStream, with
// native clients (tests/tools/docsync_edit, on the C++ client library) and
// stock `sharedb` clients co-editing one document through one commit path.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import readline from "node:readline";
import { startServer, api, login, ADMIN } from "./harness.mjs";
import { connect, subscribe, settled, until, randomOp, promisify } from "./sharedb_client.mjs";

const EDITOR = process.env.DOCSYNC_EDIT;
let srv, target, admin, viewer;

before(async () => {
  assert.ok(EDITOR, "DOCSYNC_EDIT must name the docsync_edit tool");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "office-it-"));
  const portFile = path.join(dataDir, "grpc_port");
  srv = await startServer({ dataDir, args: ["--grpc-listen", "127.0.0.1:0", "--grpc-port-file", portFile] });
  target = `127.0.0.1:${fs.readFileSync(portFile, "utf8").trim()}`;
  admin = await login(srv.base, ADMIN.email, ADMIN.password);
  const u = await api(srv.base, "POST", "/api/v1/users", { token: admin.accessToken, body: { email: "viewer@example.com", password: "willow-brick-650" } });
  assert.equal(u.status, 201, u.text);
  viewer = await login(srv.base, "viewer@example.com", "willow-brick-650");
});
after(async () => { await srv?.stop(); });

// Runs the native client; `lines` yields its JSON events. Whatever is still
// running at the end (a failed test) is killed, so the run cannot hang.
const children = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill("SIGKILL"); });
function native(args) {
  const child = spawn(EDITOR, ["--target", target, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(child);
  const events = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on("line", (l) => {
    const e = JSON.parse(l);
    events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  return {
    child, events, exited,
    async event(name, ms = 60000) {
      const end = Date.now() + ms;
      for (;;) {
        const e = events.find((x) => x.event === name || x.event === "error");
        if (e) return e;
        if (Date.now() > end) throw new Error(`no ${name} event from the native client: ${JSON.stringify(events)}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

async function newDoc(title, token = admin.accessToken) {
  const r = await api(srv.base, "POST", "/api/v1/docs", { token, body: { title } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test("GetProfile answers the caller of the access token, and refuses a bad one", async () => {
  const p = native(["--token", admin.accessToken, "--profile"]);
  const e = await p.event("profile");
  assert.equal(e.code, 0, e.message);
  assert.equal(e.email, ADMIN.email);
  const me = await api(srv.base, "GET", "/api/v1/users/me", { token: admin.accessToken });
  assert.equal(e.id, me.json.id);
  const bad = native(["--token", "not-a-token", "--profile"]);
  const b = await bad.event("profile");
  assert.equal(b.code, 16);  // UNAUTHENTICATED
});

test("native gRPC clients and sharedb clients co-edit one document and converge", async () => {
  const d = await newDoc("grpc and sharedb");
  const natives = [1, 2].map((i) => native(["--token", admin.accessToken, "--doc", d.id, "--client-id", `native-${i}`,
                                           "--edits", "40", "--seed", String(i * 17)]));
  for (const n of natives) assert.equal((await n.event("opened")).event, "opened");
  const clients = [];
  for (let i = 0; i < 2; i++) {
    const c = connect(srv, admin.accessToken, { maxDelayMs: 10 });
    c.doc = c.connection.get("docs", d.id);
    await subscribe(c.doc);
    clients.push(c);
  }
  await Promise.all(clients.map(async (c) => {
    for (let k = 0; k < 40; k++) {
      c.doc.submitOp(randomOp(c.doc.data));
      await new Promise((r) => setTimeout(r, Math.random() * 12));
    }
  }));
  await Promise.all(clients.map((c) => settled(c.doc)));
  for (const n of natives) {
    const e = await n.event("edited");
    assert.equal(e.event, "edited", JSON.stringify(e));
  }
  const fresh = connect(srv, admin.accessToken);
  const server = fresh.connection.get("docs", d.id);
  await promisify((cb) => server.fetch(cb));
  await until(() => clients.every((c) => c.doc.version === server.version), "sharedb clients at the server's version");
  for (const n of natives) n.child.stdin.write(`final ${server.version}\n`);
  for (const n of natives) {
    const f = await n.event("final");
    assert.equal(f.event, "final", JSON.stringify(f));
    assert.equal(f.version, server.version);
    assert.equal(f.text, server.data, "a native client's text differs from the server's");
  }
  for (const c of clients) assert.equal(c.doc.data, server.data);
  // Fewer versions than edits (clients compose edits made while one is in
  // flight), but more than the create: the edits landed.
  assert.ok(server.version > 10, `version ${server.version}`);
  for (const c of [...clients, fresh]) c.connection.close();
  await Promise.all(natives.map((n) => n.exited));
});

test("a viewer's gRPC op is refused and a bad token ends the stream", async () => {
  const d = await newDoc("viewer over grpc");
  const share = await api(srv.base, "POST", `/api/v1/docs/${d.id}/shares`, { token: admin.accessToken,
    body: { kind: "user", granteeId: viewer.user.id, role: "viewer" } });
  assert.equal(share.status, 200, share.text);
  const v = native(["--token", viewer.accessToken, "--doc", d.id, "--client-id", "viewer", "--edits", "1"]);
  const e = await v.event("edited");
  assert.equal(e.event, "error");
  assert.equal(e.code, "PERMISSION_DENIED", JSON.stringify(e));
  const fresh = connect(srv, admin.accessToken);
  const server = fresh.connection.get("docs", d.id);
  await promisify((cb) => server.fetch(cb));
  assert.equal(server.data, "");
  assert.equal(server.version, 1);
  fresh.connection.close();

  const anon = native(["--token", "forged", "--doc", d.id]);
  const a = await anon.event("opened");
  assert.equal(a.event, "error");
  assert.equal(a.code, "UNAUTHENTICATED", JSON.stringify(a));
});

test("signing out ends the caller's open gRPC streams", async () => {
  const d = await newDoc("logout ends the stream");
  const session = await login(srv.base, ADMIN.email, ADMIN.password);
  const n = native(["--token", session.accessToken, "--doc", d.id, "--client-id", "leaving", "--edits", "100000"]);
  assert.equal((await n.event("opened")).event, "opened");
  const out = await api(srv.base, "POST", "/api/v1/auth/logout", { body: { refreshToken: session.refreshToken } });
  assert.ok(out.status === 200 || out.status === 204, out.text);
  const e = await n.event("edited", 30000);
  assert.equal(e.event, "error", JSON.stringify(e));
  assert.equal(e.code, "UNAUTHENTICATED", JSON.stringify(e));
  await n.exited;
});
