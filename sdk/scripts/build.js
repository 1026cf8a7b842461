// Bundles src/index.js into the minified ES module that the Python package serves at
// /sdk/seamline.min.js, and prints its size. `--check` builds in memory and fails when the
// committed file differs (or the bundle grew past the size budget).
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(here, "../../src/seamline/web/static/seamline.min.js");
const BUDGET = 10 * 1024; // bytes, minified and gzipped
const check = process.argv.includes("--check");

const result = await build({
  entryPoints: [resolve(here, "../src/index.js")],
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  write: false,
});
const code = result.outputFiles[0].contents;
const gz = gzipSync(code, { level: 9 }).length;
console.log(`seamline.min.js: ${code.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET})`);
let failed = false;
if (gz > BUDGET) {
  console.error(`bundle is over the ${BUDGET}-byte gzip budget`);
  failed = true;
}
if (check) {
  let committed = null;
  try {
    committed = readFileSync(OUT);
  } catch {}
  if (!committed || !committed.equals(Buffer.from(code))) {
    console.error(`${OUT} is stale: run \`npm run build\` in sdk/ and commit the result`);
    failed = true;
  } else console.log(`${OUT} matches the sources`);
} else if (!failed) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, code);
  console.log(`wrote ${OUT}`);
}
process.exit(failed ? 1 : 0);
