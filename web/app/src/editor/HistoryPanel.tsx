import { useCallback, useEffect, useState } from "react";
import { ApiError, directoryApi, displayName, docsApi, type User, type VersionInfo } from "../api";

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

/// The document's versions (newest first) with author and time; view the text
/// of one, and restore it (a new edit that reaches every collaborator live).
export function HistoryPanel({ docId, canRestore }: { docId: string; canRestore: boolean }) {
  const [versions, setVersions] = useState<VersionInfo[] | null>(null);
  const [users, setUsers] = useState<Map<string, User>>(new Map());
  const [viewing, setViewing] = useState<{ version: number; text: string } | null>(null);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");

  const reload = useCallback(
    () => docsApi.versions(docId).then(setVersions, (e: ApiError) => setError(e.message)),
    [docId],
  );
  useEffect(() => {
    void reload();
    directoryApi.users().then((list) => setUsers(new Map(list.map((u) => [u.id, u]))), () => {});
  }, [reload]);

  async function view(v: number) {
    try {
      const s = await docsApi.version(docId, v);
      setViewing({ version: v, text: s.text ?? "" });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  async function restore(v: number) {
    try {
      await docsApi.restoreVersion(docId, v);
      setStatus(`Version ${v} restored.`);
      setViewing(null);
      await reload();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  const author = (id: string) => {
    const u = users.get(id);
    return u ? displayName(u) : id ? "a former member" : "the system";
  };

  return (
    <div className="history">
      <h2>History</h2>
      <button type="button" onClick={() => void reload()}>Refresh</button>
      {error && <p role="alert" className="error-text">{error}</p>}
      <p role="status" className="status-text">{status}</p>
      {viewing && (
        <section aria-label={`Version ${viewing.version}`} className="version-view">
          <h3>Version {viewing.version}</h3>
          <pre className="version-text">{viewing.text}</pre>
          {canRestore && (
            <button type="button" onClick={() => void restore(viewing.version)}>Restore version {viewing.version}</button>
          )}
          <button type="button" onClick={() => setViewing(null)}>Close</button>
        </section>
      )}
      {versions === null && !error && <p>Loading…</p>}
      <ol className="versions">
        {/* An op applied at version v makes version v + 1: list the versions it makes. */}
        {versions?.map((v) => (
          <li key={v.version} data-version={v.version + 1}>
            <button type="button" className="linklike" onClick={() => void view(v.version + 1)}
              aria-label={`View version ${v.version + 1}`}>
              v{v.version + 1}
            </button>{" "}
            <span>{v.kind}</span> by <span className="author">{author(v.authorId)}</span>,{" "}
            <time dateTime={v.time}>{fmt.format(new Date(v.time))}</time>, {v.size} characters
          </li>
        ))}
      </ol>
    </div>
  );
}
