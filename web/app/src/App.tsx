import { lazy, Suspense, useSyncExternalStore } from "react";
import { auth, displayName, signOut } from "./api";
import { ErrorBoundary } from "./ErrorBoundary";
import { DocList } from "./DocList";
import { People } from "./People";
import { linkClick, parse, usePath } from "./router";
import { SignIn } from "./SignIn";

const EditorPage = lazy(() => import("./editor/EditorPage"));

// Modules that have no view yet stay out of the navigation (enabled: false).
const NAV = [
  { href: "/docs", label: "Documents", enabled: true },
  { href: "/chat", label: "Chat", enabled: false },
  { href: "/calendar", label: "Calendar", enabled: false },
  { href: "/approvals", label: "Approvals", enabled: false },
  { href: "/notifications", label: "Notifications", enabled: false },
];

const PLAN: Record<string, string> = { free_tier: "Free", premium: "Premium" };

export function App() {
  const state = useSyncExternalStore(auth.subscribe, auth.get);
  const path = usePath();
  if (state.status === "signed-out") return <SignIn />;
  const { user, tenant } = state.session;
  const route = parse(path);
  const section = route.name === "trash" ? "/trash" : route.name === "people" ? "/people" : "/docs";

  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <a href="/docs" onClick={linkClick} className="brand">office-suite</a>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.enabled).map((n) => (
              <li key={n.href}>
                <a href={n.href} onClick={linkClick} aria-current={section === n.href ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
            <li>
              <a href="/trash" onClick={linkClick} aria-current={section === "/trash" ? "page" : undefined}>
                Trash
              </a>
            </li>
            {user.role === "admin" && (
              <li>
                <a href="/people" onClick={linkClick} aria-current={section === "/people" ? "page" : undefined}>
                  People
                </a>
              </li>
            )}
          </ul>
        </nav>
        <div className="who">
          <span className="user-name">{displayName(user)}</span>
          <span className="tenant" title="Organisation">{tenant}</span>
          <span className="plan">{PLAN[user.plan ?? "free_tier"] ?? user.plan}</span>
          <button type="button" onClick={() => void signOut()}>Sign out</button>
        </div>
      </header>
      <div id="main" className="content">
        <ErrorBoundary key={path}>
          {route.name === "docs" && <DocList trashed={false} />}
          {route.name === "trash" && <DocList trashed={true} />}
          {route.name === "people" && <People />}
          {route.name === "doc" && (
            <Suspense fallback={<p className="notice">Loading the editor…</p>}>
              <EditorPage id={route.id} />
            </Suspense>
          )}
          {route.name === "not-found" && (
            <main className="notice">
              <h1>Page not found</h1>
              <p><a href="/docs" onClick={linkClick}>Go to your documents</a></p>
            </main>
          )}
        </ErrorBoundary>
      </div>
      {state.status === "expired" && (
        <div className="modal-backdrop" role="dialog" aria-modal="true" aria-labelledby="signin-title">
          <SignIn expiredEmail={user.email} expiredTenant={tenant} />
        </div>
      )}
    </div>
  );
}
