// Rewrites every `import … from '@tensorflow/tfjs'` in src/ to `from '#tfjs'` (package.json
// "imports": require()-loaded tfjs under Node, the package itself in the browser bundle).
// Only import statements change; safe to re-run (e.g. after merging branches that add files).
// Usage: node scripts/rewrite-tfjs-imports.mjs
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const srcDir = fileURLToPath(new URL('../src/', import.meta.url));
// The '#tfjs' target itself must load the real package.
const skip = new Set([path.join(srcDir, 'tfjs-node.ts')]);
const importFromTfjs = /^(import\s+(?:type\s+)?[^;'"]*?\s+from\s+)'@tensorflow\/tfjs';$/gm;

let files = 0;
let statements = 0;
for (const entry of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
  const file = path.join(entry.parentPath ?? entry.path, entry.name);
  if (skip.has(file)) continue;
  const before = readFileSync(file, 'utf8');
  let count = 0;
  const after = before.replace(importFromTfjs, (_, head) => {
    count++;
    return `${head}'#tfjs';`;
  });
  if (count === 0) continue;
  writeFileSync(file, after);
  files++;
  statements += count;
}
console.log(`rewrote ${statements} import(s) of @tensorflow/tfjs to #tfjs in ${files} file(s) under src/`);
