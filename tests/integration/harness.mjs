// Starts a real office-suite server on port 0 with a temporary data dir and
// talks to it over real HTTP and WebSocket. Used by the *.test.mjs files.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";

export const BIN = process.env.OFFICE_BIN;
if (!BIN) throw new Error("set OFFICE_BIN to the office-suite binary");

export const ADMIN = { email: "admin@example.com", password: "tulip-orbit-9371" };
export const JWT_SECRET = "integration-test-secret-0123456789abcdef";  // for HS256 servers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// With OFFICE_TEST_BACKEND=postgres the server runs on the test PostgreSQL
// server (ctest's office_pg fixture, OFFICE_TEST_PG_URL_FILE), in a database
// of its own named after the data dir, so a restart finds its data again.
function postgresArgs(dataDir) {
  if (process.env.OFFICE_TEST_BACKEND !== "postgres") return [];
  const file = process.env.OFFICE_TEST_PG_URL_FILE;
  if (!file) throw new Error("OFFICE_TEST_BACKEND=postgres needs OFFICE_TEST_PG_URL_FILE");
  const base = fs.readFileSync(file, "utf8").trim();
  const name = "it_" + crypto.createHash("sha256").update(dataDir).digest("hex").slice(0, 20);
  const exists = execFileSync("psql", [base, "-tAc", `SELECT 1 FROM pg_database WHERE datname = '${name}'`]).toString().trim();
  if (exists !== "1") execFileSync("psql", [base, "-qc", `CREATE DATABASE ${name}`]);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return ["--database", url.toString()];
}

export async function startServer({ dataDir, env = {}, args = [] } = {}) {
  dataDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "office-it-"));
  args = [...postgresArgs(dataDir), ...args];
  const portFile = path.join(dataDir, "port");
  fs.rmSync(portFile, { force: true });
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
                             "--port-file", portFile, ...args], {
    env: {
      PATH: process.env.PATH,
      ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "",
      UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? "",
      OFFICE_ADMIN_EMAIL: ADMIN.email,
      OFFICE_ADMIN_PASSWORD: ADMIN.password,
      OFFICE_LOG_LEVEL: "warn",
      // Every write callback runs twice, so one that is not safe to retry
      // shows up in these tests (storage's retry rule, docs/storage.md).
      OFFICE_DATABASE_REHEARSE_WRITES: "true",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  for (let i = 0; i < 600; i++) {
    if (fs.existsSync(portFile)) break;
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    await sleep(50);
  }
  const port = Number(fs.readFileSync(portFile, "utf8").trim());
  const base = `http://127.0.0.1:${port}`;
  return {
    child, port, base, dataDir, exited,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

export async function api(base, method, p, { token, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h["content-type"] = "application/json";
  }
  const res = await fetch(base + p, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

export async function login(base, email, password, tenant) {
  const r = await api(base, "POST", "/api/v1/auth/login", { body: { email, password, ...(tenant ? { tenant } : {}) } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  return r.json;
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");

// An HS256 JWT signed with the test secret, with any claims.
export function signJwt(claims, secret = JWT_SECRET, header = { alg: "HS256", typ: "JWT" }) {
  const input = `${b64(header)}.${b64(claims)}`;
  const sig = crypto.createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${sig}`;
}

// The server's Ed25519 signing key of a generation, read from its data dir
// (a private JWK): what a forger holding the key file could do.
export function serverKey(dataDir, generation = 1) {
  const file = path.join(dataDir, "jwt_keys", `ed25519-${String(generation).padStart(6, "0")}.jwk`);
  const jwk = JSON.parse(fs.readFileSync(file, "utf8"));
  return { kid: jwk.kid, x: jwk.x, key: crypto.createPrivateKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }, format: "jwk" }) };
}

// An EdDSA JWT signed with a server key (see serverKey), with any claims.
export function signEdJwt(claims, key, header = { alg: "EdDSA", typ: "JWT", kid: key.kid }) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${crypto.sign(null, Buffer.from(input), key.key).toString("base64url")}`;
}

// Checks a token's signature against a JWKS document the way a separate
// verifying service would; returns the decoded header.
export function verifyWithJwks(token, jwks) {
  const [h, p, s] = token.split(".");
  const header = JSON.parse(Buffer.from(h, "base64url"));
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
  const pub = crypto.createPublicKey({ key: jwk, format: "jwk" });
  if (!crypto.verify(null, Buffer.from(`${h}.${p}`), pub, Buffer.from(s, "base64url")))
    throw new Error("bad signature");
  return header;
}

export function expectError(assert, r, status, code) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.json && r.json.error, `error body expected: ${r.text}`);
  assert.equal(typeof r.json.error.message, "string");
  if (code) assert.equal(r.json.error.code, code);
}
