// A small history-API router. The server serves index.html at each of these
// paths (register_static_assets in src/app/app.cpp): keep the two in step.
import { useSyncExternalStore } from "react";

export type Route =
  | { name: "docs" }
  | { name: "trash" }
  | { name: "people" }
  | { name: "doc"; id: string }
  | { name: "not-found" };

export function parse(path: string): Route {
  if (path === "/" || path === "/docs" || path === "/signin") return { name: "docs" };
  if (path === "/trash") return { name: "trash" };
  if (path === "/people") return { name: "people" };
  const m = /^\/docs\/([A-Za-z0-9._~-]{1,128})$/.exec(path);
  if (m) return { name: "doc", id: m[1] };
  return { name: "not-found" };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

export function navigate(path: string) {
  if (path === location.pathname) return;
  history.pushState(null, "", path);
  listeners.forEach((l) => l());
}

export function usePath(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => location.pathname,
  );
}

/// Click handler for in-app links: plain clicks navigate without a reload.
export function linkClick(e: React.MouseEvent<HTMLAnchorElement>) {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(e.currentTarget.getAttribute("href") ?? "/");
}
