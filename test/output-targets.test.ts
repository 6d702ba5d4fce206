/**
 * The output-path check (src/io/out-path.ts checkOutPath) on every bad target a file output can
 * name, in-process: the message names the flag (none for a Keras --out) and the user's path as
 * given, then what is wrong; nothing in the folder changes. The binary meets a few of these per
 * command in test/e2e/output-paths.test.ts; this is where each target's wording is checked for
 * both kinds of label. Also the --out folder targets whose wording test/e2e/out-path.test.ts
 * checked through the binary (the binary's exit 2 and one line for each: the fuzz corpus's out/*).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { checkOutPath } from '../src/io/out-path.js';
import { writeBadTargets } from './helpers/bad-targets.js';

let dir: string;
let work: string;
let model: string;
let closeTargets: () => Promise<void>;
const startCwd = process.cwd();
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-targets-'));
  work = path.join(dir, 'work');
  model = path.join(dir, 'model');
  await mkdir(model);
  await writeFile(path.join(model, 'model.json'), '{}');
  await writeFile(path.join(model, 'weights.bin'), '');
  closeTargets = await writeBadTargets(work);
  // '.', '..' and relative names are the user's, read against the working folder (the CLI's cwd).
  process.chdir(work);
});
after(async () => {
  process.chdir(startCwd);
  await closeTargets();
  await rm(dir, { recursive: true, force: true });
});

/** Bad targets (relative to the working folder) and what follows the label in the message. */
const BAD_TARGETS: Array<[string, RegExp]> = [
  ['.', /: is the current folder or contains it/],
  ['..', /: is the current folder or contains it/],
  ['/', /: is the current folder or contains it/],
  ['a-folder', /: is a folder; give a file name/],
  ['fifo', /: is a FIFO \(named pipe\)/],
  ['socket', /: is a socket/],
  ['link.html', /: is a symlink; give the path it points to/],
];

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

async function refusal(target: string, flag: string | undefined): Promise<string> {
  const inputs = [path.join(model, 'model.json'), path.join(model, 'weights.bin')];
  try {
    await checkOutPath(target, 'file', flag === undefined ? { inputs } : { flag, inputs });
  } catch (error) {
    assert.ok(error instanceof InputError, `${target}: ${String(error)}`);
    return error.message;
  }
  return assert.fail(`${flag ?? '--out'} ${target} was accepted`);
}

for (const flag of ['--html', undefined]) {
  test(`file outputs ${flag ?? '(Keras --out)'}: every bad target refused, naming ${flag === undefined ? 'the path' : 'the flag and the path'}`, async () => {
    for (const [target, pattern] of BAD_TARGETS) {
      const message = await refusal(target, flag);
      assert.match(message, new RegExp(`^${flag === undefined ? '' : `${flag} `}${escaped(target)}${pattern.source}`));
      assert.doesNotMatch(message, /slim-tmp|slim-old/);
    }
    // The command's own inputs, by any name that resolves to them.
    for (const input of [path.join(model, 'model.json'), path.join(model, 'weights.bin'), path.join('..', 'model', 'weights.bin')]) {
      assert.match(await refusal(input, flag), /: is an input of this command/);
    }
    assert.deepEqual((await readdir(work)).sort(), ['a-folder', 'fifo', 'keep.txt', 'link.html', 'socket', 'target.html']);
    assert.equal(await readFile(path.join(work, 'target.html'), 'utf8'), 'not yours\n');
  });
}

/** The message an `--out` folder target is refused with. */
async function folderRefusal(out: string): Promise<string> {
  try {
    await checkOutPath(out, 'folder');
  } catch (error) {
    assert.ok(error instanceof InputError, `${out}: ${String(error)}`);
    return error.message;
  }
  return assert.fail(`--out ${out} was accepted`);
}

// A hang (Node's recursive mkdir on procfs) fails the test through its timeout instead of blocking the suite.
const HANG_GUARD = { timeout: 120_000 };
describe('--out folder targets refused up front', () => {
  test('under /sys', HANG_GUARD, async () => assert.match(await folderRefusal('/sys/x'), /^\/sys\/x: is under \/sys/));
  test('under /proc through a symlink (real path checked)', HANG_GUARD, async () => {
    const link = path.join(dir, 'to-proc');
    await symlink('/proc/self', link);
    assert.match(await folderRefusal(path.join(link, 'out')), /is under \/proc/);
  });
  test('through a regular file', HANG_GUARD, async () => {
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    assert.match(await folderRefusal(path.join(file, 'sub', 'out')), /goes through .*a-file, which is not a folder/);
  });
  test('a dangling symlink', HANG_GUARD, async () => {
    const link = path.join(dir, 'dangling');
    await symlink(path.join(dir, 'nowhere'), link);
    assert.match(await folderRefusal(link), /dangling: .* is a symlink to nothing/);
  });
  test('a name too long for its staging folder', HANG_GUARD, async () => {
    assert.match(await folderRefusal(path.join(dir, 'x'.repeat(250))), /is too long/);
  });
});
