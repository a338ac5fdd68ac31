// One sharedb connection over /sharedb that comes back by itself: after a
// dropped socket it reconnects with backoff (at once when the browser says
// it is online again), with a fresh access token, and the sharedb client
// resends what was not acknowledged (the server de-duplicates by src/seq,
// so each edit lands exactly once).
import ShareDB, { type Connection } from "sharedb/lib/client/index.js";
// A namespace import: the package is CommonJS marked __esModule, which has
// no default export under Vite's dev server (only under its build).
import * as otText from "ot-text-unicode";
import { accessToken, api, ApiError, auth, markExpired, refresh } from "../api";

// text-unicode plus transformPresence, which sharedb needs for document
// presence and the npm type does not have; it moves a cursor through an op
// and keeps the presence's other fields (name, colour).
const base = otText.type;
ShareDB.types.register({
  ...base,
  transformPresence(p: { index?: number; length?: number } | null, op: unknown) {
    if (!p || typeof p.index !== "number") return p;
    const start = base.transformPosition(p.index, op as never);
    const end = base.transformPosition(p.index + (p.length || 0), op as never);
    return { ...p, index: start, length: Math.max(0, end - start) };
  },
});

export type LinkState = "connecting" | "connected" | "reconnecting" | "offline" | "signed-out";

export class Realtime {
  readonly connection: Connection;
  state: LinkState = "connecting";
  private socket: WebSocket;
  private retries = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private listeners = new Set<() => void>();
  private unsubscribeAuth: () => void;
  private lastToken = "";

  constructor() {
    // sharedb's Connection wants a socket at once; a closed stand-in until
    // the access token is known (it may need a refresh first).
    this.socket = { readyState: 3, send() {}, close() {} } as unknown as WebSocket;
    this.connection = new ShareDB.Connection(this.socket);
    this.connection.on("error", () => {});
    this.connection.on("state", (s) => {
      if (s === "connected") {
        this.retries = 0;
        this.set("connected");
      }
    });
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("online", this.onOnline);
    void this.reconnect();
    // A refreshed token renews the open socket (else it closes with 4401 at
    // expiry); signing in again after an expiry reconnects.
    this.unsubscribeAuth = auth.subscribe(() => {
      const a = auth.get();
      if (a.status !== "signed-in" || a.session.accessToken === this.lastToken) return;
      this.lastToken = a.session.accessToken;
      if (this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ a: "auth", token: a.session.accessToken }));
      } else if (this.state === "signed-out") {
        this.reconnectSoon(0);
      }
    });
  }

  subscribe(l: () => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    this.unsubscribeAuth();
    this.connection.close();
  }

  private set(s: LinkState) {
    if (this.state === s) return;
    this.state = s;
    this.listeners.forEach((l) => l());
  }

  private url(token: string) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/sharedb?access_token=${encodeURIComponent(token)}`;
  }

  private open(token: string): WebSocket {
    const ws = new WebSocket(this.url(token));
    ws.addEventListener("close", (e) => this.onClose(ws, e.code));
    return ws;
  }

  private bind(ws: WebSocket) {
    this.socket = ws;
    this.connection.bindToSocket(ws);
    // The answer to a token renewal is ours, not sharedb's (which would log
    // it as an unrecognised message): keep it from the client.
    const handler = ws.onmessage;
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string" && e.data.startsWith('{"a":"auth"')) return;
      handler?.call(ws, e);
    };
  }

  private onClose(ws: WebSocket, code: number) {
    if (this.closed || ws !== this.socket) return;
    if (code === 4401) {
      // The token expired or the session ended: refresh, or ask to sign in.
      refresh().then(
        () => this.reconnectSoon(0),
        () => {
          markExpired();
          this.set("signed-out");
        },
      );
      this.set("reconnecting");
      return;
    }
    if (!navigator.onLine) {
      this.set("offline");
      return;
    }
    this.set("reconnecting");
    this.reconnectSoon(Math.min(10_000, 250 * 2 ** this.retries++));
  }

  private reconnectSoon(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reconnect(), ms);
  }

  private async reconnect() {
    if (this.closed) return;
    if (!navigator.onLine) {
      this.set("offline");
      return;
    }
    let token: string;
    try {
      // A refused upgrade looks like any dropped socket (no status): after a
      // failed attempt, ask REST whether the session still stands (a 401
      // there refreshes, or marks the session expired).
      if (this.retries > 1) await api("GET", "/api/v1/users/me");
      token = await accessToken();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.set("signed-out");
      } else {
        this.set("reconnecting");
        this.reconnectSoon(Math.min(10_000, 250 * 2 ** this.retries++));
      }
      return;
    }
    if (this.closed) return;
    this.lastToken = token;
    this.bind(this.open(token));
  }

  private onOffline = () => {
    this.set("offline");
    // Browsers keep an idle socket open for a while after going offline;
    // close it so edits queue visibly instead of vanishing into it.
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close();
  };

  private onOnline = () => {
    this.retries = 0;
    this.set("reconnecting");
    this.reconnectSoon(0);
  };
}
