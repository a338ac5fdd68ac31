// The REST client and the session: tokens kept in localStorage (so a reload
// or a deep link stays signed in), refreshed before they expire, and a
// session that can no longer be refreshed marked "expired" rather than
// dropped, so the page underneath (and its unsent edits) stays put while the
// user signs in again.

export interface User {
  id: string;
  tenantId: string;
  email: string;
  displayName?: string;
  role?: "admin" | "member";
  plan?: "free_tier" | "premium";
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: number; // ms since epoch
  lifetimeMs: number; // the access token's lifetime when issued
  user: User;
  tenant: string; // the tenant slug signed in to
}

export type AuthState =
  | { status: "signed-out" }
  | { status: "signed-in"; session: Session }
  | { status: "expired"; session: Session };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const KEY = "office.session";
let state: AuthState = load();
const listeners = new Set<() => void>();
let refreshing: Promise<Session> | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function load(): AuthState {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) return { status: "signed-in", session: JSON.parse(raw) as Session };
  } catch {
    /* unreadable storage: signed out */
  }
  return { status: "signed-out" };
}

function set(next: AuthState) {
  state = next;
  if (next.status === "signed-in") localStorage.setItem(KEY, JSON.stringify(next.session));
  else if (next.status === "signed-out") localStorage.removeItem(KEY);
  schedule();
  listeners.forEach((l) => l());
}

// Another tab refreshed (the refresh token rotates) or signed out.
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  const next = load();
  if (next.status === "signed-in" || state.status === "signed-in") {
    state = next;
    schedule();
    listeners.forEach((l) => l());
  }
});

// A margin before expiry: `max`, or a fraction of a short token's lifetime.
function margin(s: Session, max: number) {
  return Math.min(max, (s.lifetimeMs || 900_000) / 5);
}

function schedule() {
  clearTimeout(timer);
  if (state.status !== "signed-in") return;
  // Refresh a minute before expiry (a fifth of the lifetime before, for
  // lifetimes under five minutes).
  const left = state.session.expiresAt - Date.now();
  const at = Math.max(1000, left - margin(state.session, 60_000));
  timer = setTimeout(() => void refresh().catch(() => {}), at);
}
schedule();

export const auth = {
  get: () => state,
  subscribe(l: () => void) {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

async function call(method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "UNREACHABLE", "The server cannot be reached. Check your connection and try again.");
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = "UNKNOWN";
  let message = `The server answered ${res.status}.`;
  try {
    const j = (await res.json()) as { error?: { code: string; message: string } };
    if (j.error) ({ code, message } = j.error);
  } catch {
    /* not JSON */
  }
  const ra = Number(res.headers.get("retry-after"));
  if (res.status === 429) {
    message = `Too many attempts. Try again in ${ra > 0 ? ra : "a few"} seconds.`;
  } else if (res.status === 503) {
    message = "The server is busy. Try again in a moment.";
  }
  return new ApiError(res.status, code, message, ra > 0 ? ra : undefined);
}

interface LoginResponse {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: User;
}

function toSession(r: LoginResponse, tenant: string): Session {
  return {
    accessToken: r.accessToken,
    refreshToken: r.refreshToken,
    expiresAt: Date.now() + r.expiresIn * 1000,
    lifetimeMs: r.expiresIn * 1000,
    user: r.user,
    tenant,
  };
}

export async function signIn(email: string, password: string, tenant: string): Promise<Session> {
  const body: Record<string, string> = { email, password };
  if (tenant) body.tenant = tenant;
  const res = await call("POST", "/api/v1/auth/login", body);
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401) throw new ApiError(401, e.code, "Wrong e-mail, password or organisation.");
    throw e;
  }
  const session = toSession((await res.json()) as LoginResponse, tenant || "default");
  set({ status: "signed-in", session });
  return session;
}

export async function signOut(): Promise<void> {
  const s = state.status === "signed-out" ? null : state.session;
  set({ status: "signed-out" });
  if (s) await call("POST", "/api/v1/auth/logout", { refreshToken: s.refreshToken }).catch(() => {});
}

/// Exchanges the refresh token (one exchange at a time: a refresh token is
/// single-use, and presenting it twice ends the session).
export function refresh(): Promise<Session> {
  if (refreshing) return refreshing;
  if (state.status !== "signed-in") return Promise.reject(new ApiError(401, "UNAUTHENTICATED", "Signed out."));
  const s = state.session;
  refreshing = (async () => {
    const res = await call("POST", "/api/v1/auth/refresh", { refreshToken: s.refreshToken });
    if (res.status === 401 || res.status === 400) {
      // Another tab may have rotated it already.
      const stored = load();
      if (stored.status === "signed-in" && stored.session.refreshToken !== s.refreshToken) {
        set(stored);
        return stored.session;
      }
      set({ status: "expired", session: s });
      throw await errorOf(res);
    }
    if (!res.ok) throw await errorOf(res);
    const next = toSession((await res.json()) as LoginResponse, s.tenant);
    set({ status: "signed-in", session: next });
    return next;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/// A valid access token, refreshed first when it is about to expire.
export async function accessToken(): Promise<string> {
  if (state.status !== "signed-in") throw new ApiError(401, "UNAUTHENTICATED", "Your session has ended.");
  if (state.session.expiresAt - Date.now() < margin(state.session, 15_000)) return (await refresh()).accessToken;
  return state.session.accessToken;
}

export function markExpired() {
  if (state.status === "signed-in") set({ status: "expired", session: state.session });
}

/// An authenticated JSON request; one refresh-and-retry on 401.
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res = await call(method, path, body, await accessToken());
  if (res.status === 401) {
    await refresh();
    res = await call(method, path, body, await accessToken());
    if (res.status === 401) {
      markExpired();
      throw await errorOf(res);
    }
  }
  if (!res.ok) throw await errorOf(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

// ---- typed endpoints ----

export type Role = "owner" | "editor" | "commenter" | "viewer";

export interface DocumentMeta {
  id: string;
  title: string;
  ownerId: string;
  createTime: string;
  updateTime: string;
  version: number;
  size: number;
  trashTime?: string;
  role: Role;
}

export interface Share {
  kind: "user" | "group" | "tenant";
  granteeId?: string;
  role: "viewer" | "commenter" | "editor";
  createTime?: string;
}

export interface VersionInfo {
  version: number;
  authorId: string;
  time: string;
  size: number;
  kind: "create" | "edit" | "delete";
}

export interface Group {
  id: string;
  name: string;
}

const enc = encodeURIComponent;

export const docsApi = {
  list: (q: string, trashed: boolean) =>
    api<{ documents?: DocumentMeta[] }>(
      "GET",
      `/api/v1/docs?pageSize=200${q ? `&q=${enc(q)}` : ""}${trashed ? "&trashed=true" : ""}`,
    ).then((r) => r.documents ?? []),
  get: (id: string) => api<DocumentMeta>("GET", `/api/v1/docs/${enc(id)}`),
  create: (title: string) => api<DocumentMeta>("POST", "/api/v1/docs", { title }),
  rename: (id: string, title: string) => api<DocumentMeta>("PATCH", `/api/v1/docs/${enc(id)}`, { title }),
  trash: (id: string) => api<DocumentMeta>("DELETE", `/api/v1/docs/${enc(id)}`),
  restore: (id: string) => api<DocumentMeta>("POST", `/api/v1/docs/${enc(id)}/restore`),
  shares: (id: string) =>
    api<{ shares?: Share[] }>("GET", `/api/v1/docs/${enc(id)}/shares`).then((r) => r.shares ?? []),
  share: (id: string, s: Share) => api<Share>("POST", `/api/v1/docs/${enc(id)}/shares`, s),
  revoke: (id: string, s: Share) =>
    api<void>("DELETE", `/api/v1/docs/${enc(id)}/shares/${s.kind}/${s.kind === "tenant" ? "-" : enc(s.granteeId ?? "")}`),
  versions: (id: string) =>
    api<{ versions?: VersionInfo[] }>("GET", `/api/v1/docs/${enc(id)}/versions?pageSize=100`).then(
      (r) => r.versions ?? [],
    ),
  version: (id: string, v: number) =>
    api<{ text?: string; version: number; exists?: boolean }>("GET", `/api/v1/docs/${enc(id)}/versions/${v}`),
  restoreVersion: (id: string, v: number) =>
    api<{ version: number }>("POST", `/api/v1/docs/${enc(id)}/versions/${v}/restore`),
};

export const directoryApi = {
  users: () => api<{ users?: User[] }>("GET", "/api/v1/users?pageSize=500").then((r) => r.users ?? []),
  groups: () => api<{ groups?: Group[] }>("GET", "/api/v1/groups?pageSize=500").then((r) => r.groups ?? []),
};

export const displayName = (u: Pick<User, "displayName" | "email">) => u.displayName || u.email;
