// Keeps only slim's own compiled sources (dist/src) in the raw V8 coverage files of a folder, in
// place. Every Node process writes about 20 MB (tfjs, its backends, Node's own modules) and c8 holds
// every file it reads in memory at once: untrimmed, a CI run's 500-odd files (11 GB) exhausted its
// heap. Usage: node .ci/trim-coverage.mjs coverage/tmp [workers, default: one per core]
//
// Where the time went: JSON.parse of every whole 20 MB file, ~0.14 s of cpu each, most of the
// coverage step. Nearly all of a file (~19 MB) is its "source-map-cache" (tfjs's source maps);
// the coverage itself ("result", ~1.6 MB) comes before it. Only that part is parsed, and the cache
// is dropped: c8 reads dist/src's source maps from the .js.map files tsc writes beside them (same
// per-file summary as with the cache, checked on a CI run's 651 files), so c8 reads ~6x less too.
// A file without the cache key is parsed whole, as before.
import { closeSync, fstatSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

// A JSON string cannot hold an unescaped quote, so this occurs only as the key itself.
const CACHE_KEY = Buffer.from('"source-map-cache":');

/**
 * The coverage part of a raw file {"result":[…],"timestamp":…,"source-map-cache":{…}} (as Node
 * writes it): read up to the cache key only (the cache, ~19 MB, is never read), or the whole file
 * when it has no cache.
 */
function readCoverage(file) {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, Math.min(CHUNK, size - done), done);
      if (n === 0) break;
      const cacheAt = bytes.subarray(0, done + n).indexOf(CACHE_KEY, Math.max(0, done - CACHE_KEY.length));
      done += n;
      if (cacheAt !== -1) return { text: bytes.toString('utf8', 0, cacheAt), size, cut: true };
    }
    return { text: bytes.toString('utf8', 0, done), size, cut: false };
  } finally {
    closeSync(fd);
  }
}
const CHUNK = 1 << 21;

/**
 * JSON text of the raw file's coverage of `keep`'s scripts only, without the source-map cache.
 * Throws when the coverage part is cut short (a process killed while writing it).
 */
function trimmed({ text, cut }, keep) {
  const raw = JSON.parse(cut ? `${text.trimEnd().replace(/,$/, '')}}` : text);
  raw.result = (raw.result ?? []).filter((script) => script.url.startsWith(keep));
  delete raw['source-map-cache'];
  return JSON.stringify(raw);
}

/** Trims `files` in place; returns the byte counts before and after and the files kept. */
function trimFiles(files, keep) {
  let before = 0;
  let after = 0;
  let kept = 0;
  for (const file of files) {
    const coverage = readCoverage(file);
    before += coverage.size;
    let text;
    try {
      text = trimmed(coverage, keep);
    } catch {
      rmSync(file); // a process killed while writing it: nothing c8 could read either
      continue;
    }
    after += text.length;
    kept += 1;
    writeFileSync(file, text);
  }
  return { before, after, kept };
}

async function main() {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: node .ci/trim-coverage.mjs RAW_COVERAGE_FOLDER [WORKERS]');
  const keep = pathToFileURL(path.resolve('dist', 'src')).href + '/';
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => path.join(dir, name));
  const workers = Math.max(1, Math.min(Number(process.argv[3] ?? os.availableParallelism()), files.length));
  const shares = Array.from({ length: workers }, (_, w) => files.filter((_, i) => i % workers === w));
  const counts = await Promise.all(
    shares.map(
      (share) =>
        new Promise((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), { workerData: { files: share, keep } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  const sum = (key) => counts.reduce((total, c) => total + c[key], 0);
  console.log(
    `coverage: ${sum('kept')} files trimmed to ${keep} (${workers} workers): ` +
      `${(sum('before') / 1e9).toFixed(1)} GB -> ${(sum('after') / 1e6).toFixed(0)} MB`,
  );
}

if (isMainThread) await main();
else parentPort.postMessage(trimFiles(workerData.files, workerData.keep));
