// Binds a CodeMirror 6 view to a sharedb text-unicode document: local
// changes become text-unicode ops, remote ops become editor changes (which
// CodeMirror maps the local selection through, and which stay out of the
// undo history so undo only ever undoes your own edits).
import { Annotation, ChangeSet, Transaction, type ChangeSpec, type Text } from "@codemirror/state";
import { ViewPlugin } from "@codemirror/view";
// A namespace import: the package is CommonJS marked __esModule, which has
// no default export under Vite's dev server (only under its build).
import * as otText from "ot-text-unicode";
import type { Doc } from "sharedb/lib/client/index.js";
import { advance, cpLength } from "./codepoints";

export type TextOp = Array<number | string | { d: number | string }>;

/// Marks the transactions that carry remote (or reloaded) text.
export const remote = Annotation.define<boolean>();
const LOCAL = { local: true };

/// A CodeMirror change set (against `doc`) as one text-unicode op.
export function changesToOp(doc: Text, changes: ChangeSet): TextOp {
  const op: TextOp = [];
  let pos = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    const skip = cpLength(doc.sliceString(pos, fromA));
    if (skip) op.push(skip);
    const del = cpLength(doc.sliceString(fromA, toA));
    if (del) op.push({ d: del });
    const ins = inserted.toString();
    if (ins) op.push(ins);
    pos = toA;
  });
  return otText.type.normalize(op) as TextOp;
}

/// A text-unicode op as CodeMirror changes against `doc`.
export function opToChanges(doc: Text, op: TextOp): ChangeSpec[] {
  const changes: ChangeSpec[] = [];
  let pos = 0;
  for (const c of op) {
    if (typeof c === "number") {
      pos = advance(doc, pos, c);
    } else if (typeof c === "string") {
      changes.push({ from: pos, insert: c });
    } else {
      const end = advance(doc, pos, typeof c.d === "string" ? cpLength(c.d) : c.d);
      changes.push({ from: pos, to: end });
      pos = end;
    }
  }
  return changes;
}

export interface BindingHooks {
  /// Called after every op, local or remote (cursors, preview, counters).
  onChange?: (local: boolean) => void;
}

/// The extension that sends local edits; remote ones are applied by the
/// listener it installs on the doc. The view must start with doc.data.
export function sharedbBinding(doc: Doc, hooks: BindingHooks = {}) {
  return ViewPlugin.define((view) => {
    const onOp = (op: unknown, source: unknown) => {
      if (source) return; // ours: already in the editor
      view.dispatch({
        changes: opToChanges(view.state.doc, op as TextOp),
        annotations: [remote.of(true), Transaction.addToHistory.of(false)],
      });
      hooks.onChange?.(false);
    };
    // A hard rollback or a resubscribe reloads the whole text.
    const onLoad = () => {
      if (view.state.doc.toString() === doc.data) return;
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: doc.data ?? "" },
        annotations: [remote.of(true), Transaction.addToHistory.of(false)],
      });
      hooks.onChange?.(false);
    };
    doc.on("op", onOp);
    doc.on("load", onLoad);
    return {
      update(update) {
        if (!update.docChanged) return;
        for (const tr of update.transactions) {
          if (!tr.docChanged || tr.annotation(remote)) continue;
          const op = changesToOp(tr.startState.doc, tr.changes);
          if (op.length) doc.submitOp(op, { source: LOCAL });
        }
        hooks.onChange?.(true);
      },
      destroy() {
        doc.removeListener("op", onOp);
        doc.removeListener("load", onLoad);
      },
    };
  });
}
