// Differential test: office-suite's ot-tool against the npm package
// ot-text-unicode (the oracle). Random documents (ASCII, CJK, emoji,
// combining marks) and random ops from a seeded PRNG; every request goes to
// one ot-tool child process (JSON lines on stdin/stdout) and to the oracle;
// the JSON results (or error messages) must be identical.
//
//   node tests/ot/differential.mjs --tool build/dev/cmd/ot-tool/ot-tool [--cases N] [--seed S]
//   OT_DIFF_CASES=200000 node tests/ot/differential.mjs --tool ...     (long run)
//
// Prints "N passed, M failed" and exits 1 on any mismatch.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../package.json'));
let type;
try {
  ({ type } = require('ot-text-unicode'));
} catch (e) {
  // Fail loudly: a missing oracle must never turn into a skipped proof.
  console.error(`differential: cannot load the npm oracle ot-text-unicode (${e.message}); run scripts/setup.sh`);
  process.exit(1);
}

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const tool = arg('--tool');
const cases = Number(process.env.OT_DIFF_CASES || arg('--cases', '2000'));
const seed = Number(process.env.OT_DIFF_SEED || arg('--seed', '1'));
if (!tool) {
  console.error('usage: differential.mjs --tool PATH [--cases N] [--seed S]');
  process.exit(2);
}

// mulberry32
let state = seed >>> 0;
const rand = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const below = (n) => Math.floor(rand() * n);

const PIECES = ['a', 'b', 'c', 'x', ' ', '\n', 'Z', '中', '文', '字', '😀', '🎉', '𝄞',
  '\u0301', 'é', 'ß', '"', '\\', '\t', '\u2028', '\u007f'];
const randomText = (n) => {
  let s = '';
  for (let i = 0; i < n; i++) s += PIECES[below(PIECES.length)];
  return s;
};
const cps = (s) => Array.from(s);
const uniSlice = (s, a, b) => cps(s).slice(a, b).join('');

// An op for `doc`; not normalized when raw is true (may then hold adjacent
// components of one kind, empty components and a trailing skip).
const randomOp = (doc, { raw = false, textDeletes = true } = {}) => {
  const len = cps(doc).length;
  const op = [];
  let pos = 0;
  const parts = 1 + below(raw ? 6 : 4);
  for (let i = 0; i < parts; i++) {
    const left = len - pos;
    const k = below(raw ? 4 : 3);
    if (k === 0 && left > 0) {
      const n = 1 + below(left);
      op.push(n);
      pos += n;
    } else if (k === 1) {
      op.push(randomText(1 + below(4)));
    } else if (k === 2 && left > 0) {
      const n = 1 + below(Math.min(left, 5));
      op.push(textDeletes && below(2) === 0 ? { d: uniSlice(doc, pos, pos + n) } : { d: n });
      pos += n;
    } else if (k === 3) {
      op.push([0, '', { d: 0 }, { d: '' }][below(4)]);
    }
  }
  return raw ? op : type.normalize(op);
};

const INVALID = [
  [3], [1, 2, 'a'], [0, 'a'], [''], [{ d: 0 }], [{ d: '' }], ['a', 4],
];

const clone = (x) => JSON.parse(JSON.stringify(x));
const oracle = (fn) => {
  try {
    return { result: fn() };
  } catch (e) {
    return { error: e.message };
  }
};

const requests = [];
const expected = [];
const add = (req, fn) => {
  requests.push(JSON.stringify(req));
  expected.push(JSON.stringify(oracle(fn)));
};

for (let c = 0; c < cases; c++) {
  const doc = randomText(below(c % 10 === 0 ? 60 : 16));
  const len = cps(doc).length;
  const a = randomOp(doc);
  const b = randomOp(doc);
  add({ fn: 'apply', doc, op: a }, () => type.apply(doc, clone(a)));
  add({ fn: 'transform', op: a, other: b, side: 'left' },
    () => type.transform(clone(a), clone(b), 'left'));
  add({ fn: 'transform', op: a, other: b, side: 'right' },
    () => type.transform(clone(a), clone(b), 'right'));
  const d1 = type.apply(doc, clone(a));
  const next = randomOp(d1);
  add({ fn: 'compose', a, b: next }, () => type.compose(clone(a), clone(next)));
  const pos = below(len + 3);
  add({ fn: 'transformPosition', pos, op: a }, () => type.transformPosition(pos, clone(a)));
  const sel = [below(len + 1), below(len + 1)];
  add({ fn: 'transformSelection', sel, op: b }, () => type.transformSelection(clone(sel), clone(b)));
  if (c % 4 === 0) {
    const raw = randomOp(doc, { raw: true });
    add({ fn: 'normalize', op: raw }, () => type.normalize(clone(raw)));
    add({ fn: 'checkOp', op: raw }, () => (type.checkOp(clone(raw)), true));
    const inv = type.makeInvertible(randomOp(doc, { textDeletes: false }), doc);
    const plain = randomOp(doc, { textDeletes: false });
    add({ fn: 'makeInvertible', op: plain, doc }, () => type.makeInvertible(clone(plain), doc));
    add({ fn: 'invert', op: inv }, () => type.invert(clone(inv)));
    add({ fn: 'invert', op: plain }, () => type.invert(clone(plain)));
    add({ fn: 'stripInvertible', op: a }, () => type.stripInvertible(clone(a)));
    add({ fn: 'isNoop', op: a }, () => type.isNoop(clone(a)));
  }
  if (c % 8 === 0) {
    const bad = INVALID[below(INVALID.length)];
    add({ fn: 'transform', op: bad, other: a, side: 'left' },
      () => type.transform(clone(bad), clone(a), 'left'));
    add({ fn: 'compose', a, b: bad }, () => type.compose(clone(a), clone(bad)));
    add({ fn: 'apply', doc, op: bad }, () => type.apply(doc, clone(bad)));
    // Skips past the end fail; deletes past the end are clamped.
    const tooLong = [len + 1 + below(3), 'q'];
    add({ fn: 'apply', doc, op: tooLong }, () => type.apply(doc, clone(tooLong)));
    const longDelete = len > 0 ? [{ d: len + 1 + below(3) }, 'q'] : ['q'];
    add({ fn: 'apply', doc, op: longDelete }, () => type.apply(doc, clone(longDelete)));
  }
}

// The shared transform vectors go to both sides too (legacy {"i":s} inserts
// mapped to s, then normalized, as in src/ot/vectors_test.cpp).
const vectorsPath = arg('--vectors',
  path.join(here, '../data/ot-vectors/text-unicode-transform-tests.json'));
if (!fs.existsSync(vectorsPath)) {
  console.error(`differential: transform vectors not found at ${vectorsPath}`);
  process.exit(1);
}
{
  const fix = (op) => type.normalize(op.map((x) => (x && typeof x === 'object' && 'i' in x ? x.i : x)));
  const lines = fs.readFileSync(vectorsPath, 'utf8').split('\n').filter((l) => l.length > 0);
  for (let i = 0; i + 3 < lines.length; i += 4) {
    const [op, other, side, want] = [fix(JSON.parse(lines[i])), fix(JSON.parse(lines[i + 1])),
      lines[i + 2], fix(JSON.parse(lines[i + 3]))];
    add({ fn: 'transform', op, other, side }, () => type.transform(clone(op), clone(other), side));
    if (expected[expected.length - 1] !== JSON.stringify({ result: want })) {
      console.log(`oracle disagrees with vector ${i / 4}`);
      process.exitCode = 1;
    }
  }
}

const child = spawn(tool, [], { stdio: ['pipe', 'pipe', 'inherit'] });
let out = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (d) => { out += d; });
child.stdin.end(requests.join('\n') + '\n');
const code = await new Promise((resolve) => child.on('close', resolve));
const lines = out.split('\n').filter((l) => l.length > 0);

let passed = 0;
let failed = 0;
for (let i = 0; i < requests.length; i++) {
  let got;
  try {
    got = JSON.stringify(JSON.parse(lines[i]));
  } catch {
    got = `<unparsable: ${lines[i]}>`;
  }
  if (got === expected[i]) {
    passed++;
  } else {
    failed++;
    if (failed <= 20) {
      console.log(`MISMATCH #${i}\n  request: ${requests[i]}\n  oracle:  ${expected[i]}\n  ot-tool: ${got}`);
    }
  }
}
if (code !== 0) {
  console.log(`ot-tool exited with ${code}`);
  failed++;
}
console.log(`${passed} passed, ${failed} failed (${cases} cases, seed ${seed})`);
process.exit(failed === 0 && !process.exitCode ? 0 : 1);
