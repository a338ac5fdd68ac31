import { useState, type FormEvent } from "react";
import { ApiError, signIn } from "./api";

/// The sign-in form; also shown over the page when a session has expired
/// (`expiredEmail`), so nothing underneath is lost.
export function SignIn({ expiredEmail, expiredTenant }: { expiredEmail?: string; expiredTenant?: string }) {
  const [email, setEmail] = useState(expiredEmail ?? "");
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState(expiredTenant && expiredTenant !== "default" ? expiredTenant : "");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await signIn(email.trim(), password, tenant.trim());
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  }

  return (
    <main className={expiredEmail ? "signin overlay" : "signin"}>
      <form onSubmit={submit} aria-labelledby="signin-title" className="card">
        <h1 id="signin-title">{expiredEmail ? "Your session has ended" : "Sign in to office-suite"}</h1>
        {expiredEmail && <p>Sign in again to carry on. Your unsaved changes are kept and will be sent.</p>}
        <label>
          E-mail
          <input name="email" type="email" autoComplete="username" required value={email}
            onChange={(e) => setEmail(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password}
            onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          Organisation <span className="hint">(leave empty for the default one)</span>
          <input name="tenant" type="text" autoComplete="organization" value={tenant}
            onChange={(e) => setTenant(e.target.value)} />
        </label>
        {error && <p role="alert" className="error-text">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </main>
  );
}
