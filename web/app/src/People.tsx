import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, ApiError, directoryApi, displayName, type User } from "./api";

/// The organisation's people (admins): the directory and adding a person.
/// The server's password policy decides; its answer (too short, too common,
/// contains the e-mail's name) is shown as it comes.
export function People() {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState("");
  const [formError, setFormError] = useState("");
  const [status, setStatus] = useState("");
  const [form, setForm] = useState({ email: "", displayName: "", password: "", role: "member", plan: "free_tier" });

  const load = useCallback(() => directoryApi.users().then(setUsers, (e: ApiError) => setError(e.message)), []);
  useEffect(() => {
    void load();
  }, [load]);

  async function add(e: FormEvent) {
    e.preventDefault();
    setFormError("");
    try {
      const u = await api<User>("POST", "/api/v1/users", form);
      setStatus(`${displayName(u)} can now sign in.`);
      setForm({ email: "", displayName: "", password: "", role: "member", plan: "free_tier" });
      await load();
    } catch (err) {
      setFormError(err instanceof ApiError ? err.message : String(err));
    }
  }

  const field = (k: keyof typeof form) => ({
    value: form[k],
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [k]: e.target.value }),
  });

  return (
    <main className="doclist">
      <div className="toolbar"><h1>People</h1></div>
      {error && <p role="alert" className="notice error">{error}</p>}
      <ul className="docs" aria-label="People">
        {users?.map((u) => (
          <li key={u.id} className="doc-row">
            <span className="title">{displayName(u)}</span>
            <span className="meta">
              <span>{u.email}</span>
              <span className="role">{u.role}</span>
              <span className="role">{u.plan === "premium" ? "Premium" : "Free"}</span>
            </span>
          </li>
        ))}
      </ul>
      <form className="card add-person" onSubmit={add} aria-labelledby="add-person">
        <h2 id="add-person">Add a person</h2>
        <label>E-mail<input name="new-email" type="email" required autoComplete="off" {...field("email")} /></label>
        <label>Name<input name="new-name" type="text" {...field("displayName")} /></label>
        <label>
          Password
          <input name="new-password" type="password" required autoComplete="new-password" {...field("password")} />
        </label>
        <label>
          Role
          <select name="new-role" {...field("role")}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Plan
          <select name="new-plan" {...field("plan")}>
            <option value="free_tier">Free</option>
            <option value="premium">Premium</option>
          </select>
        </label>
        {formError && <p role="alert" className="error-text">{formError}</p>}
        <p role="status">{status}</p>
        <button type="submit">Add</button>
      </form>
    </main>
  );
}
