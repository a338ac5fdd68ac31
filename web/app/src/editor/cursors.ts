// Collaborators' cursors and selections, from sharedb document presence.
// A presence value is {index, length, back, name, color}: index and length
// in code points (text-unicode's unit), `back` when the cursor is at the
// start of the selection.
import { StateEffect, StateField, type Range, type Text } from "@codemirror/state";
import { Decoration, EditorView, WidgetType, type DecorationSet } from "@codemirror/view";
import { toUtf16 } from "./codepoints";

export interface CursorPresence {
  index: number;
  length: number;
  back?: boolean;
  name: string;
  color: string;
}

class CursorWidget extends WidgetType {
  constructor(readonly name: string, readonly color: string) {
    super();
  }
  eq(o: CursorWidget) {
    return o.name === this.name && o.color === this.color;
  }
  toDOM() {
    const el = document.createElement("span");
    el.className = "cm-remote-cursor";
    el.style.borderColor = this.color;
    el.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "cm-remote-cursor-label";
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    el.appendChild(label);
    return el;
  }
  ignoreEvent() {
    return true;
  }
}

export const setCursors = StateEffect.define<CursorPresence[]>();

function build(doc: Text, cursors: CursorPresence[]): DecorationSet {
  const ranges: Range<Decoration>[] = [];
  for (const c of cursors) {
    if (typeof c.index !== "number") continue;
    const from = Math.min(doc.length, toUtf16(doc, c.index));
    const to = Math.min(doc.length, toUtf16(doc, c.index + Math.max(0, c.length || 0)));
    const color = /^#[0-9a-f]{6}$/i.test(c.color) ? c.color : "#888888";
    const name = String(c.name ?? "").slice(0, 60);
    if (to > from)
      ranges.push(Decoration.mark({ attributes: { style: `background-color: ${color}33` } }).range(from, to));
    const at = c.back ? from : to;
    ranges.push(Decoration.widget({ widget: new CursorWidget(name, color), side: 1 }).range(at));
  }
  return Decoration.set(ranges, true);
}

export const remoteCursors = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects) if (e.is(setCursors)) return build(tr.state.doc, e.value);
    return tr.docChanged ? deco.map(tr.changes) : deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/// A colour for a user, stable across sessions, dark enough for the label's
/// white text (contrast at least 5.3:1, WCAG AA asks 4.5:1).
export function colorFor(userId: string): string {
  const palette = ["#b3261e", "#1967d2", "#137333", "#8430ce", "#a04b00", "#006a70", "#b0136f", "#5f6368"];
  let h = 0;
  for (const ch of userId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
}
