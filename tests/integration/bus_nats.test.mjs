// The monolith on NATS JetStream (`--bus nats://...`): a private
// `nats-server -js` (Debian's nats-server, installed by scripts/setup.sh) on a
// free port with a temporary store, the real server binary against it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ADMIN, BIN, api, login, startServer } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function startNats() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "office-nats-"));
  const port = await freePort();
  const child = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir],
                      { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  for (let i = 0; i < 200; i++) {
    if (output.includes("Server is ready")) return { child, port, dir, url: `nats://127.0.0.1:${port}` };
    if (child.exitCode !== null) throw new Error(`nats-server exited:\n${output}`);
    await sleep(50);
  }
  child.kill("SIGKILL");
  throw new Error(`nats-server did not start:\n${output}`);
}

let nats;
let srv;
before(async () => {
  nats = await startNats();
  srv = await startServer({ args: ["--bus", nats.url] });
});
after(async () => {
  await srv?.stop();
  nats?.child.kill("SIGKILL");
  if (nats) fs.rmSync(nats.dir, { recursive: true, force: true });
});

test("the server runs its bus on JetStream and says so", async () => {
  const tokens = await login(srv.base, ADMIN.email, ADMIN.password);
  const r = await api(srv.base, "GET", "/api/v1/admin/bus/stats", { token: tokens.accessToken });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.backend, "nats");
  assert.ok(Array.isArray(r.json.consumers ?? []));
  const letters = await api(srv.base, "GET", "/api/v1/admin/bus/dead-letters", { token: tokens.accessToken });
  assert.equal(letters.status, 200);
  assert.deepEqual(letters.json.deadLetters ?? [], []);
});

test("a bus URL nobody answers stops the server at start-up with the reason", async () => {
  const port = await freePort();
  await assert.rejects(startServer({ args: ["--bus", `nats://127.0.0.1:${port}`] }),
                       /server exited early[\s\S]*(nats|NATS|connect)/);
});

test("a bus URL that is not nats:// is refused by name", async () => {
  await assert.rejects(startServer({ args: ["--bus", "amqp://127.0.0.1:5672"] }),
                       /server exited early[\s\S]*bus\.url/);
});
