// Side by side, in one run, on the same machine and traces: office-suite's
// ot-replay (C++ Document::apply of text-unicode ops) vs the npm package
// ot-text-unicode applying the same ops in Node, vs Yjs 13.6 inserting and
// deleting the same edits into a Y.Text. Prints a table and the ratios.
//
//   node bench/ot/compare.mjs [--ot-replay build/release/cmd/ot-replay/ot-replay]
//        [--repeat N] [--js-repeat N] [TRACE.json.gz ...]
// Defaults: all traces in tests/data/editing-traces, repeat 10 (C++, best
// of), js-repeat 1 (the npm replays of automerge-paper take minutes).
// Each implementation runs in its own process; peak RSS is that process's VmHWM.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const replay = opt('--ot-replay', path.join(root, 'build/release/cmd/ot-replay/ot-replay'));
const repeat = opt('--repeat', '10');
const jsRepeat = opt('--js-repeat', '1');
const traceDir = path.resolve(root, 'tests/data/editing-traces');
const traces = args.length > 0 ? args
  : ['automerge-paper', 'seph-blog1', 'sveltecomponent', 'friendsforever_flat']
    .map((t) => path.join(traceDir, `${t}.json.gz`));

const lines = (out) => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const results = {};
const record = (impl, r) => { (results[r.trace] ??= {})[impl] = r; };

console.log(`machine: ${os.cpus()[0].model} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
  `node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const t of traces) {
  for (const r of lines(execFileSync(replay, [`--repeat=${repeat}`, t], { encoding: 'utf8' }))) {
    record('cpp', r);
  }
  for (const impl of ['ot-text-unicode', 'yjs']) {
    const out = execFileSync(process.execPath,
      [path.join(here, 'replay_js.mjs'), '--impl', impl, '--repeat', jsRepeat, t],
      { encoding: 'utf8', maxBuffer: 1 << 24 });
    for (const r of lines(out)) record(impl, r);
  }
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
let allOk = true;
console.log('trace                 patches   C++ ms  ot-text-unicode ms     yjs ms   x vs otu   x vs yjs   RSS KiB C++/otu/yjs');
for (const [trace, r] of Object.entries(results)) {
  const ok = r.cpp?.ok && r['ot-text-unicode']?.ok && r.yjs?.ok;
  allOk = allOk && ok;
  console.log(`${trace.padEnd(20)} ${String(r.cpp.patches).padStart(8)} ${fmt(r.cpp.ms).padStart(8)} ` +
    `${fmt(r['ot-text-unicode'].ms).padStart(19)} ${fmt(r.yjs.ms).padStart(10)} ` +
    `${fmt(r['ot-text-unicode'].ms / r.cpp.ms).padStart(10)} ${fmt(r.yjs.ms / r.cpp.ms).padStart(10)}   ` +
    `${r.cpp.peak_rss_kb}/${r['ot-text-unicode'].peak_rss_kb}/${r.yjs.peak_rss_kb}${ok ? '' : '  MISMATCH'}`);
}
console.log(JSON.stringify({ results }));
process.exit(allOk ? 0 : 1);
