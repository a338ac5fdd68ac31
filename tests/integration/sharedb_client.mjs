// The stock npm `sharedb` client (unmodified) against our server's
// GET /sharedb, over real WebSockets (`ws`), with optional network delay.
import ShareDB from "sharedb/lib/client/index.js";
import otText from "ot-text-unicode";
import WebSocket from "ws";

// text-unicode with transformPresence for {index, length} cursors: the npm
// type has none, and a sharedb client needs one for doc presence. The type
// itself (name, URI, apply, transform) is the stock one.
const base = otText.type;
export const textType = {
  ...base,
  transformPresence(p, op, isOwnOp) {
    if (!p || typeof p.index !== "number") return p;
    const start = base.transformPosition(p.index, op);
    const end = base.transformPosition(p.index + (p.length || 0), op);
    return { index: start, length: Math.max(0, end - start) };
  },
};
ShareDB.types.register(textType);
export const URI = base.uri;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A WebSocket whose outgoing and incoming messages are each held back by a
// random delay (order kept, like TCP), so clients really run concurrently.
export class DelayedSocket {
  constructor(url, { maxDelayMs = 0, dropIncoming = null } = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.maxDelayMs = maxDelayMs;
    this.dropIncoming = dropIncoming;
    this.readyState = 0;
    this.onopen = this.onclose = this.onerror = this.onmessage = null;
    this.sendChain = Promise.resolve();
    this.recvChain = Promise.resolve();
    this.ws.on("open", () => { this.readyState = 1; this.onopen && this.onopen({}); });
    this.ws.on("close", (code, reason) => {
      this.readyState = 3;
      this.recvChain = this.recvChain.then(() => this.onclose && this.onclose({ code, reason: reason.toString() }));
    });
    this.ws.on("error", (e) => this.onerror && this.onerror(e));
    this.ws.on("unexpected-response", (_req, res) => { this.rejectedStatus = res.statusCode; });
    this.ws.on("message", (data) => {
      const text = data.toString();
      if (this.dropIncoming && this.dropIncoming(JSON.parse(text))) return;
      const d = this.delay();
      this.recvChain = this.recvChain.then(async () => {
        if (d) await sleep(d);
        if (this.readyState === 1 && this.onmessage) this.onmessage({ data: text });
      });
    });
  }
  delay() { return this.maxDelayMs ? Math.floor(Math.random() * this.maxDelayMs) : 0; }
  send(text) {
    const d = this.delay();
    this.sendChain = this.sendChain.then(async () => {
      if (d) await sleep(d);
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    });
  }
  close(code, reason) { this.readyState = 2; this.ws.close(code, reason); }
  terminate() { this.ws.terminate(); }
}

export function sharedbUrl(srv, token) {
  return `ws://127.0.0.1:${srv.port}/sharedb?access_token=${encodeURIComponent(token)}`;
}

export function connect(srv, token, opts = {}) {
  const socket = new DelayedSocket(sharedbUrl(srv, token), opts);
  const connection = new ShareDB.Connection(socket);
  connection.on("error", () => {});
  return { socket, connection };
}

export const promisify = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

export async function subscribe(doc) {
  await promisify((cb) => doc.subscribe(cb));
  return doc;
}

export async function submit(doc, op) {
  return promisify((cb) => doc.submitOp(op, cb));
}

// Waits until a doc has nothing in flight or buffered.
export async function settled(doc) {
  await new Promise((resolve) => doc.whenNothingPending(resolve));
}

// Waits until cond() holds (polling), or fails with `what`.
export async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Code points of a string (the positions text-unicode counts).
export const cps = (s) => [...s].length;

// A random edit of `text` for a client: inserts (with emoji and CJK) or deletes.
export function randomOp(text, rnd = Math.random) {
  const n = cps(text);
  const words = ["a", "b", "😀", "中文", "ü", " ", "🇫🇷", "xyz"];
  if (n > 4 && rnd() < 0.3) {
    const at = Math.floor(rnd() * (n - 1));
    const len = 1 + Math.floor(rnd() * Math.min(3, n - at - 1));
    return at ? [at, { d: len }] : [{ d: len }];
  }
  const at = Math.floor(rnd() * (n + 1));
  const w = words[Math.floor(rnd() * words.length)];
  return at ? [at, w] : [w];
}
