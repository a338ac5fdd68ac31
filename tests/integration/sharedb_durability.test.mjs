// Durability to the last acknowledged op: clients edit continuously, the
// server is killed with SIGKILL at a random moment and restarted on the same
// data; every op any client saw acknowledged is in the document afterwards,
// exactly once, and every client resyncs to the server's text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, api, login, ADMIN } from "./harness.mjs";
import { connect, subscribe, settled, until, promisify, DelayedSocket, sharedbUrl } from "./sharedb_client.mjs";

const ROUNDS = 3;
const CLIENTS = 3;

test("SIGKILL at a random moment loses no acknowledged op, and clients resync", async () => {
  let srv = await startServer();
  const dataDir = srv.dataDir;
  let admin = await login(srv.base, ADMIN.email, ADMIN.password);
  const r = await api(srv.base, "POST", "/api/v1/docs", { token: admin.accessToken, body: { title: "crash" } });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;

  const acked = new Set();
  const clients = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = connect(srv, admin.accessToken);
    c.doc = c.connection.get("docs", id);
    await subscribe(c.doc);
    c.name = String.fromCharCode(65 + i);
    c.k = 0;
    clients.push(c);
  }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Edit continuously: each op appends or prepends a unique token, so
      // concurrent ops never split one another's tokens.
      let editing = true;
      const loops = clients.map(async (c) => {
        while (editing) {
          if (c.connection.state === "connected") {
            const token = `[${c.name}${round}.${c.k++}]`;
            const at = Math.random() < 0.5 ? 0 : [...c.doc.data].length;
            c.doc.submitOp(at ? [at, token] : [token], (err) => { if (!err) acked.add(token); });
          }
          await new Promise((res) => setTimeout(res, 5 + Math.random() * 10));
        }
      });
      await new Promise((res) => setTimeout(res, 300 + Math.random() * 900));
      srv.child.kill("SIGKILL");
      const exit = await srv.exited;
      assert.equal(exit.signal, "SIGKILL");
      editing = false;
      await Promise.all(loops);
      const before = new Set(acked);

      srv = await startServer({ dataDir });
      admin = await login(srv.base, ADMIN.email, ADMIN.password);
      for (const c of clients) {
        await until(() => c.connection.state !== "connected", "the client to notice the crash");
        c.socket = new DelayedSocket(sharedbUrl(srv, admin.accessToken));
        c.connection.bindToSocket(c.socket);
      }
      await Promise.all(clients.map((c) => settled(c.doc)));

      const fresh = connect(srv, admin.accessToken);
      const server = fresh.connection.get("docs", id);
      await promisify((cb) => server.fetch(cb));
      for (const token of before) {
        const n = server.data.split(token).length - 1;
        assert.equal(n, 1, `acknowledged ${token} is in the document ${n} times after round ${round}`);
      }
      for (const token of acked) assert.equal(server.data.split(token).length - 1, 1, `${token} once`);
      await until(() => clients.every((c) => c.doc.version === server.version), "clients at the server's version");
      for (const c of clients) assert.equal(c.doc.data, server.data, `client ${c.name} diverged in round ${round}`);
      assert.ok(before.size > 0, "some ops were acknowledged before the kill");
      fresh.connection.close();
    }
  } finally {
    for (const c of clients) c.connection.close();
    await srv.stop();
  }
});
