// The stock ShareDB peer for bench/docs/run.sh (docs/benchmarks.md, "Documents:
// ShareDB load"): npm `sharedb` (version pinned in package.json) with its
// in-memory database and pub/sub, the `text-unicode` type of `ot-text-unicode`
// registered, served over WebSockets by `ws` on 127.0.0.1 and a free port.
// Every WebSocket is one ShareDB agent; documents live in whatever collection
// the client names (the load generator uses "docs", as our server does).
//
//   node bench/docs/sharedb_server.mjs --port-file FILE [--path /sharedb]
//
// Writes the bound port to FILE once listening; runs until SIGTERM or SIGINT.
// This is the setup of ShareDB's own examples (WebSocketJSONStream between
// ws and backend.listen), written out here so that no other package is needed.
import http from 'node:http';
import fs from 'node:fs';
import { Duplex } from 'node:stream';
import ShareDB from 'sharedb';
import otText from 'ot-text-unicode';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const portFile = opt('--port-file', null);
const path = opt('--path', '/sharedb');
if (!portFile) {
  console.error('usage: node sharedb_server.mjs --port-file FILE [--path /sharedb]');
  process.exit(2);
}

ShareDB.types.register(otText.type);
const backend = new ShareDB({ db: new ShareDB.MemoryDB() });

// A WebSocket as the object stream ShareDB's agent reads and writes: one JSON
// message per frame, as @teamwork/websocket-json-stream does.
class WebSocketJSONStream extends Duplex {
  constructor(ws) {
    super({ objectMode: true });
    this.ws = ws;
    ws.on('message', (data) => {
      let value;
      try {
        value = JSON.parse(data.toString());
      } catch (err) {
        this.destroy(err);
        return;
      }
      this.push(value);
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }
  _read() {}
  _write(message, _encoding, callback) {
    if (this.ws.readyState !== 1) return callback();
    this.ws.send(JSON.stringify(message), callback);
  }
  _final(callback) {
    this.ws.close(1000);
    callback();
  }
}

const server = http.createServer({ noDelay: true }, (_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path, perMessageDeflate: false });
wss.on('connection', (ws) => {
  const stream = new WebSocketJSONStream(ws);
  stream.on('error', () => {});
  backend.listen(stream);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  fs.writeFileSync(`${portFile}.tmp`, `${port}\n`);
  fs.renameSync(`${portFile}.tmp`, portFile);
});

const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
