// Keeps only slim's own compiled sources (dist/src) in the raw V8 coverage files of a folder, in
// place, one file at a time. Every Node process writes about 20 MB (tfjs, its backends, Node's own
// modules) and c8 holds every file it reads in memory at once: untrimmed, a CI run's 500-odd files
// (11 GB) exhausted its heap. Usage: node .ci/trim-coverage.mjs coverage/tmp
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: node .ci/trim-coverage.mjs RAW_COVERAGE_FOLDER');
const keep = pathToFileURL(path.resolve('dist', 'src')).href + '/';
let before = 0;
let after = 0;
let files = 0;
for (const name of readdirSync(dir)) {
  if (!name.endsWith('.json')) continue;
  const file = path.join(dir, name);
  const text = readFileSync(file, 'utf8');
  before += text.length;
  let raw;
  try {
    raw = JSON.parse(text);
  } catch {
    rmSync(file); // a process killed while writing it: nothing c8 could read either
    continue;
  }
  raw.result = (raw.result ?? []).filter((script) => script.url.startsWith(keep));
  const maps = raw['source-map-cache'];
  if (maps !== undefined) raw['source-map-cache'] = Object.fromEntries(Object.entries(maps).filter(([url]) => url.startsWith(keep)));
  const trimmed = JSON.stringify(raw);
  after += trimmed.length;
  files += 1;
  writeFileSync(file, trimmed);
}
console.log(`coverage: ${files} files trimmed to ${keep}: ${(before / 1e9).toFixed(1)} GB -> ${(after / 1e6).toFixed(0)} MB`);
