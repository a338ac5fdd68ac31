// text-unicode counts positions in Unicode code points; CodeMirror counts
// UTF-16 code units. Everything crossing between the two goes through here.
import type { Text } from "@codemirror/state";

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/// Code points in a JS string (a lone surrogate counts as one).
export function cpLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i++;
  }
  return n;
}

/// The UTF-16 offset `cps` code points after UTF-16 offset `from` in `doc`.
export function advance(doc: Text, from: number, cps: number): number {
  let pos = from;
  let left = cps;
  while (left > 0 && pos < doc.length) {
    const chunk = doc.sliceString(pos, Math.min(doc.length, pos + 2 * left + 1));
    let i = 0;
    while (left > 0 && i < chunk.length) {
      if (isHigh(chunk.charCodeAt(i)) && i + 1 < chunk.length && isLow(chunk.charCodeAt(i + 1))) i += 2;
      else i++;
      left--;
    }
    // A surrogate pair cut by the chunk end is finished on the next round.
    pos += i;
  }
  return pos;
}

/// UTF-16 offset -> code point index.
export const toCodePoints = (doc: Text, pos: number) => cpLength(doc.sliceString(0, pos));
/// Code point index -> UTF-16 offset (clamped to the document).
export const toUtf16 = (doc: Text, cp: number) => advance(doc, 0, Math.max(0, cp));
