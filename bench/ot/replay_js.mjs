// Replays editing traces with a JavaScript peer, for bench/ot/compare.mjs.
//   node bench/ot/replay_js.mjs --impl ot-text-unicode|yjs [--repeat N] FILE.json.gz...
// Loading (gunzip + JSON.parse) and building ops happen before the timed
// region; "ms" is the fastest of N runs. Prints one JSON line per file.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../package.json'));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const impl = opt('--impl', 'ot-text-unicode');
const repeat = Number(opt('--repeat', '1'));

const hasSurrogates = (s) => /[\ud800-\udfff]/.test(s);

for (const file of args) {
  const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
  const patches = trace.txns.flatMap((t) => t.patches);
  let best = Infinity;
  let ok = true;
  let finalLen = 0;
  if (impl === 'ot-text-unicode') {
    const { type, insert, remove } = require('ot-text-unicode');
    // Each patch as a text-unicode op, as a ShareDB client would send it.
    const ops = patches.map(([pos, del, ins]) => type.normalize([pos, del > 0 ? { d: del } : 0, ins]));
    for (let r = 0; r < repeat; r++) {
      let doc = type.create(trace.startContent);
      const t0 = process.hrtime.bigint();
      for (const op of ops) doc = type.apply(doc, op);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      best = Math.min(best, ms);
      ok = ok && doc === trace.endContent;
      finalLen = Array.from(doc).length;
    }
    void insert; void remove;
  } else if (impl === 'yjs') {
    const Y = require('yjs');
    // Y.Text indexes UTF-16 units; the traces count code points. When a trace
    // has non-BMP text, convert positions before timing by simulating it.
    let edits = patches;
    if (patches.some((p) => hasSurrogates(p[2])) || hasSurrogates(trace.startContent)) {
      let cps = Array.from(trace.startContent);
      edits = patches.map(([pos, del, ins]) => {
        const u16pos = cps.slice(0, pos).join('').length;
        const u16del = cps.slice(pos, pos + del).join('').length;
        cps.splice(pos, del, ...Array.from(ins));
        return [u16pos, u16del, ins];
      });
    }
    for (let r = 0; r < repeat; r++) {
      const ydoc = new Y.Doc();
      const text = ydoc.getText('t');
      if (trace.startContent) text.insert(0, trace.startContent);
      const t0 = process.hrtime.bigint();
      for (const [pos, del, ins] of edits) {
        if (del > 0) text.delete(pos, del);
        if (ins) text.insert(pos, ins);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      best = Math.min(best, ms);
      const s = text.toString();
      ok = ok && s === trace.endContent;
      finalLen = Array.from(s).length;
    }
  } else {
    console.error(`unknown --impl ${impl}`);
    process.exit(2);
  }
  const name = path.basename(file).replace(/\.gz$/, '').replace(/\.json$/, '');
  const rss = fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/);
  console.log(JSON.stringify({ impl, trace: name, patches: patches.length, ms: best,
    final_len: finalLen, ok, peak_rss_kb: rss ? Number(rss[1]) : null }));
  if (!ok) process.exitCode = 1;
}
