// The parts of the sharedb client (CommonJS, untyped) the editor uses.
declare module "sharedb/lib/client/index.js" {
  type Callback = (err?: { code?: string; message?: string } | null) => void;
  export interface LocalPresence {
    submit(value: unknown, cb?: Callback): void;
    destroy(cb?: Callback): void;
  }
  export interface DocPresence {
    subscribe(cb?: Callback): void;
    create(id?: string): LocalPresence;
    destroy(cb?: Callback): void;
    remotePresences: Record<string, unknown>;
    on(event: "receive", fn: (id: string, value: unknown) => void): void;
    on(event: "error", fn: (err: Error) => void): void;
  }
  export interface Doc {
    id: string;
    type: { uri: string } | null;
    data: string;
    version: number | null;
    inflightOp: unknown;
    pendingOps: unknown[];
    subscribe(cb?: Callback): void;
    unsubscribe(cb?: Callback): void;
    destroy(cb?: Callback): void;
    submitOp(op: unknown, options?: { source?: unknown }, cb?: Callback): void;
    hasPending(): boolean;
    on(event: "op", fn: (op: unknown, source: unknown) => void): void;
    on(event: "load" | "nothing pending" | "del", fn: () => void): void;
    on(event: "error", fn: (err: { code?: string; message?: string }) => void): void;
    removeListener(event: string, fn: (...args: never[]) => void): void;
  }
  export class Connection {
    constructor(socket: WebSocket);
    state: string;
    id: string | null;
    get(collection: string, id: string): Doc;
    getDocPresence(collection: string, id: string): DocPresence;
    bindToSocket(socket: WebSocket): void;
    close(): void;
    on(event: "state", fn: (state: string, reason: string) => void): void;
    on(event: "error", fn: (err: Error) => void): void;
  }
  const ShareDB: {
    Connection: typeof Connection;
    types: { register(type: unknown): void };
  };
  export default ShareDB;
}
