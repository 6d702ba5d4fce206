/**
 * The output lock's file, in-process (the CLI turns locking on; three real slims racing for one
 * --out are in test/e2e/cli-outputs-small.test.ts): a lock is never seen empty while it is being
 * taken, and an empty one (left by a slim killed between creating and writing it) does not block
 * the output forever.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { checkOutPath, lockOutputsUntilExit, lockPath } from '../src/io/out-path.js';

let dir: string;
before(async () => {
  dir = await realpath(await mkdtemp(path.join(tmpdir(), 'slim-lock-test-')));
  lockOutputsUntilExit();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the lock names this process, and taking it leaves nothing of ours beside it in the temp folder', async () => {
  const out = path.join(dir, 'taken');
  await checkOutPath(out, 'folder');
  const lock = lockPath(out);
  assert.match(await readFile(lock, 'utf8'), new RegExp(`^[0-9a-f]{8}-${process.pid}-\\d+$`));
  const strays = (await readdir(path.dirname(lock))).filter((name) => name.startsWith(`${path.basename(lock)}.`));
  assert.deepEqual(strays, []);
});

test('an empty lock (its writer killed before writing it) is taken over, not read as a live owner', async () => {
  const out = path.join(dir, 'empty-lock');
  const lock = lockPath(out);
  await writeFile(lock, '');
  await checkOutPath(out, 'folder');
  assert.match(await readFile(lock, 'utf8'), new RegExp(`^[0-9a-f]{8}-${process.pid}-\\d+$`));
});
