import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, directoryApi, displayName, docsApi, type DocumentMeta, type Group, type Share, type User } from "./api";

/// Who has access to a document, and sharing it with a user, a group or the
/// whole organisation (owners only: the server refuses anyone else).
export function ShareDialog({ doc, onClose }: { doc: DocumentMeta; onClose: () => void }) {
  const [shares, setShares] = useState<Share[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [groups, setGroups] = useState<Group[]>([]);
  const [kind, setKind] = useState<Share["kind"]>("user");
  const [grantee, setGrantee] = useState("");
  const [role, setRole] = useState<Share["role"]>("editor");
  const [error, setError] = useState("");
  const ref = useRef<HTMLDialogElement>(null);

  const reload = () => docsApi.shares(doc.id).then(setShares, (e: ApiError) => setError(e.message));
  useEffect(() => {
    ref.current?.showModal();
    void reload();
    directoryApi.users().then(setUsers, () => {});
    directoryApi.groups().then(setGroups, () => {});
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc.id]);

  const nameOf = (s: Share) =>
    s.kind === "tenant"
      ? "Everyone in the organisation"
      : s.kind === "group"
        ? `Group ${groups.find((g) => g.id === s.granteeId)?.name ?? s.granteeId}`
        : (() => {
            const u = users.find((x) => x.id === s.granteeId);
            return u ? `${displayName(u)} (${u.email})` : s.granteeId;
          })();

  async function add(e: FormEvent) {
    e.preventDefault();
    setError("");
    try {
      await docsApi.share(doc.id, { kind, role, ...(kind === "tenant" ? {} : { granteeId: grantee }) });
      await reload();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  async function revoke(s: Share) {
    try {
      await docsApi.revoke(doc.id, s);
      await reload();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  return (
    <dialog ref={ref} className="dialog" aria-labelledby="share-title" onClose={onClose}>
      <h2 id="share-title">Share “{doc.title}”</h2>
      <h3>Who has access</h3>
      <ul className="shares">
        <li>You (owner)</li>
        {shares.map((s) => (
          <li key={`${s.kind}:${s.granteeId ?? ""}`}>
            <span>{nameOf(s)}</span> <span className="role">{s.role}</span>{" "}
            <button type="button" onClick={() => void revoke(s)} aria-label={`Remove access for ${nameOf(s)}`}>Remove</button>
          </li>
        ))}
      </ul>
      <form onSubmit={add} className="share-form">
        <label>
          Share with
          <select value={kind} onChange={(e) => { setKind(e.target.value as Share["kind"]); setGrantee(""); }}>
            <option value="user">a person</option>
            <option value="group">a group</option>
            <option value="tenant">everyone in the organisation</option>
          </select>
        </label>
        {kind !== "tenant" && (
          <label>
            {kind === "user" ? "Person" : "Group"}
            <select name="grantee" required value={grantee} onChange={(e) => setGrantee(e.target.value)}>
              <option value="">Choose…</option>
              {kind === "user"
                ? users.map((u) => <option key={u.id} value={u.id}>{displayName(u)} ({u.email})</option>)
                : groups.map((g) => <option key={g.id} value={g.id}>{g.name}</option>)}
            </select>
          </label>
        )}
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Share["role"])}>
            <option value="editor">can edit</option>
            <option value="commenter">can comment (read-only here)</option>
            <option value="viewer">can view</option>
          </select>
        </label>
        <button type="submit">Share</button>
      </form>
      {error && <p role="alert" className="error-text">{error}</p>}
      <button type="button" onClick={() => ref.current?.close()}>Close</button>
    </dialog>
  );
}
