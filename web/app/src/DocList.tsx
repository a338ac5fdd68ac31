import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, docsApi, type DocumentMeta } from "./api";
import { linkClick, navigate } from "./router";
import { ShareDialog } from "./ShareDialog";

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/// The document list (recent first, search by title) or the trash.
export function DocList({ trashed }: { trashed: boolean }) {
  const [query, setQuery] = useState("");
  const [docs, setDocs] = useState<DocumentMeta[] | null>(null);
  const [error, setError] = useState("");
  const [renaming, setRenaming] = useState<string | null>(null);
  const [sharing, setSharing] = useState<DocumentMeta | null>(null);
  const [status, setStatus] = useState("");

  const load = useCallback(
    (q: string) =>
      docsApi.list(q, trashed).then(
        (d) => {
          setDocs(d);
          setError("");
        },
        (e: ApiError) => setError(e.message),
      ),
    [trashed],
  );

  useEffect(() => {
    const t = setTimeout(() => void load(query), query ? 250 : 0);
    return () => clearTimeout(t);
  }, [query, load]);

  async function act(what: () => Promise<unknown>, done: string) {
    try {
      await what();
      setStatus(done);
      await load(query);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  async function create() {
    try {
      const d = await docsApi.create("Untitled");
      navigate(`/docs/${d.id}`);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  return (
    <main className="doclist">
      <div className="toolbar">
        <h1>{trashed ? "Trash" : "Documents"}</h1>
        {!trashed && <button type="button" onClick={() => void create()}>New document</button>}
        <label className="search">
          <span className="visually-hidden">Search by title</span>
          <input type="search" placeholder="Search by title" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
      </div>
      {error && <p role="alert" className="notice error">{error}</p>}
      <p className="visually-hidden" role="status">{status}</p>
      {docs === null && !error && <p className="notice">Loading…</p>}
      {docs && docs.length === 0 && (
        <p className="notice">{query ? "No document matches." : trashed ? "The trash is empty." : "No documents yet: create one."}</p>
      )}
      {docs && docs.length > 0 && (
        <ul className="docs" aria-label={trashed ? "Trashed documents" : "Documents"}>
          {docs.map((d) => (
            <li key={d.id} className="doc-row">
              {renaming === d.id ? (
                <RenameForm doc={d} onDone={(title) => {
                  setRenaming(null);
                  if (title !== null && title !== d.title) void act(() => docsApi.rename(d.id, title), `Renamed to ${title}`);
                }} />
              ) : trashed ? (
                <span className="title">{d.title}</span>
              ) : (
                <a className="title" href={`/docs/${d.id}`} onClick={linkClick}>{d.title}</a>
              )}
              <span className="meta">
                <time dateTime={d.updateTime}>{fmt.format(new Date(d.updateTime))}</time>
                <span className="role">{d.role}</span>
              </span>
              <span className="actions">
                {!trashed && (d.role === "owner" || d.role === "editor") && renaming !== d.id && (
                  <button type="button" onClick={() => setRenaming(d.id)} aria-label={`Rename ${d.title}`}>Rename</button>
                )}
                {!trashed && d.role === "owner" && (
                  <button type="button" onClick={() => setSharing(d)} aria-label={`Share ${d.title}`}>Share</button>
                )}
                {!trashed && d.role === "owner" && (
                  <button type="button" onClick={() => void act(() => docsApi.trash(d.id), `${d.title} moved to the trash`)}
                    aria-label={`Move ${d.title} to the trash`}>Trash</button>
                )}
                {trashed && (
                  <button type="button" onClick={() => void act(() => docsApi.restore(d.id), `${d.title} restored`)}
                    aria-label={`Restore ${d.title}`}>Restore</button>
                )}
              </span>
            </li>
          ))}
        </ul>
      )}
      {sharing && <ShareDialog doc={sharing} onClose={() => setSharing(null)} />}
    </main>
  );
}

function RenameForm({ doc, onDone }: { doc: DocumentMeta; onDone: (title: string | null) => void }) {
  const [title, setTitle] = useState(doc.title);
  function submit(e: FormEvent) {
    e.preventDefault();
    onDone(title.trim());
  }
  return (
    <form className="rename" onSubmit={submit}>
      <label>
        <span className="visually-hidden">New title</span>
        <input name="title" value={title} maxLength={200} autoFocus onChange={(e) => setTitle(e.target.value)}
          onKeyDown={(e) => e.key === "Escape" && onDone(null)} />
      </label>
      <button type="submit">Save</button>
      <button type="button" onClick={() => onDone(null)}>Cancel</button>
    </form>
  );
}
