import { useCallback, useEffect, useRef, useState, useSyncExternalStore, lazy, Suspense } from "react";
import { EditorState, Compartment } from "@codemirror/state";
import { EditorView, keymap, drawSelection, highlightActiveLine } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { markdown } from "./markdown";
import { syntaxHighlighting, defaultHighlightStyle } from "@codemirror/language";
import type { Doc, DocPresence, LocalPresence } from "sharedb/lib/client/index.js";
import { ApiError, auth, displayName, docsApi, type DocumentMeta } from "../api";
import { linkClick } from "../router";
import { ShareDialog } from "../ShareDialog";
import { sharedbBinding } from "./binding";
import { toCodePoints } from "./codepoints";
import { colorFor, remoteCursors, setCursors, type CursorPresence } from "./cursors";
import { HistoryPanel } from "./HistoryPanel";
import { Realtime } from "./realtime";

const Preview = lazy(() => import("./Preview"));

type Load =
  | { state: "loading" }
  | { state: "error"; message: string }
  | { state: "ready"; meta: DocumentMeta };

function messageFor(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 404) return "This document does not exist, was moved to the trash, or is not shared with you.";
    if (e.status === 403) return "You do not have permission to open this document.";
    return e.message;
  }
  const code = (e as { code?: string })?.code;
  if (code === "ERR_DOC_DOES_NOT_EXIST")
    return "This document was moved to the trash or deleted, or your access to it was removed.";
  if (code === "ERR_PERMISSION_DENIED") return "You do not have permission to open this document.";
  return (e as { message?: string })?.message ?? String(e);
}

export default function EditorPage({ id }: { id: string }) {
  const [load, setLoad] = useState<Load>({ state: "loading" });
  useEffect(() => {
    let live = true;
    docsApi.get(id).then(
      (meta) => live && setLoad({ state: "ready", meta }),
      (e) => live && setLoad({ state: "error", message: messageFor(e) }),
    );
    return () => {
      live = false;
    };
  }, [id]);
  if (load.state === "loading") return <p className="notice">Opening the document…</p>;
  if (load.state === "error") return <ErrorNotice message={load.message} />;
  if (load.meta.trashTime) return <ErrorNotice message="This document is in the trash. Restore it from the Trash to edit it." />;
  return <Editor meta={load.meta} />;
}

function ErrorNotice({ message }: { message: string }) {
  return (
    <main className="notice error" role="alert">
      <h1>Cannot open the document</h1>
      <p>{message}</p>
      <p><a href="/docs" onClick={linkClick}>Back to documents</a></p>
    </main>
  );
}

function Editor({ meta }: { meta: DocumentMeta }) {
  const host = useRef<HTMLDivElement>(null);
  // One connection per open editor, made in an effect so that React's
  // development double-mount closes the first one rather than leaking it.
  const [rt, setRt] = useState<Realtime | null>(null);
  useEffect(() => {
    const r = new Realtime();
    setRt(r);
    return () => r.close();
  }, []);
  const subscribe = useCallback((l: () => void) => (rt ? rt.subscribe(l) : () => {}), [rt]);
  const link = useSyncExternalStore(subscribe, () => rt?.state ?? "connecting");
  const [pending, setPending] = useState(0);
  const [error, setError] = useState("");
  const [text, setText] = useState<string | null>(null);
  const [panel, setPanel] = useState<"none" | "history" | "preview">("none");
  const [sharing, setSharing] = useState(false);
  const readOnly = meta.role === "viewer" || meta.role === "commenter";
  const canRestore = meta.role === "owner" || meta.role === "editor";
  const viewRef = useRef<EditorView | null>(null);

  useEffect(() => {
    if (!rt) return;
    const doc: Doc = rt.connection.get("docs", meta.id);
    const presence: DocPresence = rt.connection.getDocPresence("docs", meta.id);
    const a = auth.get();
    const me = a.status === "signed-out" ? null : a.session.user;
    const name = me ? displayName(me) : "Someone";
    const color = colorFor(me?.id ?? "");
    let local: LocalPresence | null = null;
    let view: EditorView | null = null;
    let unsent = 0;
    let disposed = false;

    const refreshCursors = () => {
      if (!view) return;
      const list = Object.values(presence.remotePresences).filter(Boolean) as CursorPresence[];
      view.dispatch({ effects: setCursors.of(list) });
    };
    let scheduled = false;
    const scheduleCursors = () => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        if (!disposed) refreshCursors();
      });
    };
    const sendPresence = () => {
      if (!view || !local) return;
      const sel = view.state.selection.main;
      const from = toCodePoints(view.state.doc, sel.from);
      const to = sel.empty ? from : from + toCodePoints(view.state.doc, sel.to) - toCodePoints(view.state.doc, sel.from);
      local.submit({ index: from, length: to - from, back: sel.head < sel.anchor, name, color } satisfies CursorPresence, () => {});
    };

    doc.on("error", (e) => setError(messageFor(e)));
    doc.on("nothing pending", () => {
      unsent = 0;
      setPending(0);
    });
    presence.on("receive", scheduleCursors);
    presence.on("error", () => {});
    doc.subscribe((err) => {
      if (disposed) return;
      if (err) {
        setError(messageFor(err));
        return;
      }
      if (!doc.type) {
        setError("This document does not exist.");
        return;
      }
      const readOnlyCompartment = new Compartment();
      view = new EditorView({
        parent: host.current!,
        state: EditorState.create({
          doc: doc.data,
          extensions: [
            // Only "\n" breaks lines: CodeMirror would otherwise turn a "\r\n"
            // from another client into one character and shift every position.
            EditorState.lineSeparator.of("\n"),
            history(),
            drawSelection(),
            highlightActiveLine(),
            keymap.of([...defaultKeymap, ...historyKeymap]),
            markdown(),
            syntaxHighlighting(defaultHighlightStyle),
            EditorView.lineWrapping,
            readOnlyCompartment.of([EditorView.editable.of(!readOnly), EditorState.readOnly.of(readOnly)]),
            EditorView.contentAttributes.of({ "aria-label": `Text of ${meta.title}`, "aria-multiline": "true" }),
            remoteCursors,
            sharedbBinding(doc, {
              onChange: (isLocal) => {
                if (isLocal) setPending(++unsent);
                scheduleCursors();
                setText(doc.data);
              },
            }),
            EditorView.updateListener.of((u) => {
              if (u.selectionSet || u.docChanged || u.focusChanged) sendPresence();
            }),
          ],
        }),
      });
      viewRef.current = view;
      setText(doc.data);
      presence.subscribe(() => {
        if (disposed) return;
        local = presence.create();
        sendPresence();
        scheduleCursors();
      });
    });

    return () => {
      disposed = true;
      local?.destroy();
      presence.destroy();
      view?.destroy();
      viewRef.current = null;
      doc.destroy();
    };
  }, [rt, meta.id, meta.title, readOnly]);

  const status =
    link === "connected"
      ? pending
        ? { cls: "connected", text: "Saving…" }
        : { cls: "connected", text: "Connected, all changes saved" }
      : link === "offline"
        ? { cls: "offline", text: `Offline, ${pending} pending change${pending === 1 ? "" : "s"}` }
        : link === "signed-out"
          ? { cls: "offline", text: `Signed out, ${pending} unsent change${pending === 1 ? "" : "s"}` }
          : { cls: "reconnecting", text: pending ? `Reconnecting, ${pending} unsent` : "Reconnecting…" };

  return (
    <main className="editor-page">
      <div className="editor-head">
        <h1 className="doc-title">{meta.title}</h1>
        <span className={`link ${status.cls}`} role="status" data-state={status.cls} data-pending={pending}>
          <span className="dot" aria-hidden="true" /> {status.text}
        </span>
        {readOnly && <span className="badge">Read-only ({meta.role})</span>}
        <div className="editor-actions">
          <button type="button" aria-pressed={panel === "preview"} onClick={() => setPanel(panel === "preview" ? "none" : "preview")}>Preview</button>
          <button type="button" aria-pressed={panel === "history"} onClick={() => setPanel(panel === "history" ? "none" : "history")}>History</button>
          {meta.role === "owner" && <button type="button" onClick={() => setSharing(true)}>Share</button>}
        </div>
      </div>
      {error && <p role="alert" className="notice error">{error} <a href="/docs" onClick={linkClick}>Back to documents</a></p>}
      <div className={`editor-body ${panel !== "none" ? "with-panel" : ""}`}>
        <div className="editor-host" ref={host} />
        {panel === "preview" && (
          <aside className="panel" aria-label="Preview">
            <Suspense fallback={<p>Loading the preview…</p>}>
              <Preview text={text ?? ""} />
            </Suspense>
          </aside>
        )}
        {panel === "history" && (
          <aside className="panel" aria-label="History">
            <HistoryPanel docId={meta.id} canRestore={canRestore} />
          </aside>
        )}
      </div>
      {sharing && <ShareDialog doc={meta} onClose={() => setSharing(false)} />}
    </main>
  );
}
