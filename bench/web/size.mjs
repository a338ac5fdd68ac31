// The JavaScript a page of the web app loads, raw and gzipped (gzip -9, as
// a server or proxy would send it). Starts from index.html's entry script
// and follows static imports; the editor page adds the lazily loaded
// EditorPage chunk and its static imports. Usage:
//   node bench/web/size.mjs build/release/web/app-dist
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const dist = process.argv[2] ?? "build/release/web/app-dist";
const assets = path.join(dist, "assets");
const html = fs.readFileSync(path.join(dist, "index.html"), "utf8");
const entry = /<script[^>]*src="\/assets\/([^"]+)"/.exec(html)[1];

function closure(start) {
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const code = fs.readFileSync(path.join(assets, f), "utf8");
    // static imports only: `import ... from "./x.js"` / `import "./x.js"`
    for (const m of code.matchAll(/(?:^|[;}\s])import\s*(?:[\w$*{},\s]+from\s*)?["']\.\/([^"']+\.js)["']/g)) visit(m[1]);
  };
  start.forEach(visit);
  return seen;
}

const size = (f) => {
  const buf = fs.readFileSync(path.join(assets, f));
  return { raw: buf.length, gz: zlib.gzipSync(buf, { level: 9 }).length };
};
const kb = (n) => (n / 1024).toFixed(1);

function report(name, files) {
  let raw = 0, gz = 0;
  console.log(`${name}:`);
  for (const f of [...files].sort()) {
    const s = size(f);
    raw += s.raw;
    gz += s.gz;
    console.log(`  ${f.padEnd(24)} ${kb(s.raw).padStart(8)} KiB  ${kb(s.gz).padStart(7)} KiB gzipped`);
  }
  console.log(`  ${"total".padEnd(24)} ${kb(raw).padStart(8)} KiB  ${kb(gz).padStart(7)} KiB gzipped`);
}

const first = closure([entry]);
const editorChunk = fs.readdirSync(assets).find((f) => /^EditorPage.*\.js$/.test(f));
const editor = closure([entry, editorChunk]);
report("sign-in and document list (first screen)", first);
report("editor page (/docs/<id>)", editor);
const rest = fs.readdirSync(assets).filter((f) => f.endsWith(".js") && !editor.has(f));
if (rest.length) report("loaded on demand (preview)", new Set(rest));
