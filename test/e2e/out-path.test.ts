/**
 * Output paths (README "Output folders"): refused up front with one line and exit 2 when they
 * cannot or must not be written; dead writers' staging folders removed or restored on the next
 * start; outputs get the umask's permissions. Through the built binary where it matters.
 * The wording for /sys, a symlink into /proc, a path through a file, a dangling symlink and a name
 * too long is checked in-process (test/output-targets.test.ts); the binary's exit 2 and one line
 * for every --out target of prune, export, train and run, and SIGKILL at random points of
 * `prune --overwrite` followed by a clean run, are fuzz corpus cases (out/*, kill/*).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { recoverStaging, stagingPath } from '../../src/io/out-path.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { assertRefusedInProcess } from '../helpers/cli-in-process.js';
import { npyDataConfig, writeNpyDataset } from '../fuzz/corpus-data.js';
import { sequentialModel, writeRawModel } from '../fuzz/fixtures.js';

let dir: string;
let model: string;
/** A tiny npy train/run config (40 images, one epoch per stage), written on first use. */
let trainConfig: string | undefined;
async function tinyTrainConfig(): Promise<string> {
  if (trainConfig !== undefined) return trainConfig;
  const data = path.join(dir, 'npy');
  await writeNpyDataset(data);
  const config = path.join(dir, 'train.json');
  await writeFile(
    config,
    JSON.stringify({
      seed: 1,
      backend: 'cpu',
      model: { type: 'vgg', cfg: [2] },
      data: {
        ...npyDataConfig(data),
      },
      train: { epochs: 1, batchSize: 16 },
      prune: { ratio: 0.5 },
      finetune: { epochs: 1, batchSize: 16 },
    }),
  );
  trainConfig = config;
  return config;
}
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-out-'));
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  model = await writeRawModel(path.join(dir, 'model'), await sequentialModel());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function assertOneErrorLine(result: SlimResult, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '');
  const lines = stderrLines(result);
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
}

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid;
}

/** A staging path for `target` as a dead process would have named it. */
function deadStagingPath(target: string, kind: 'tmp' | 'old'): string {
  const mine = stagingPath(target, kind);
  return mine.replace(`-${process.pid}-`, `-${deadPid()}-`);
}

async function listing(folder: string): Promise<string[]> {
  return (await readdir(folder)).sort();
}

// A hang (Node's recursive mkdir on procfs) fails the test through its timeout instead of blocking the suite.
const HANG_GUARD = { timeout: 120_000 };
describe('--out refused up front (exit 2, one line)', () => {
  const prune = (out: string, cwd?: string) =>
    runSlim(['prune', '--model', model, '--ratio', '0.5', '--out', out], cwd === undefined ? {} : { cwd });

  test('under /proc: no hang', HANG_GUARD, async () => assertOneErrorLine(await prune('/proc/x/y'), /\/proc\/x\/y: is under \/proc/));
  test('empty', HANG_GUARD, async () => assertOneErrorLine(await prune(''), /--out: the value is empty/));
  test('the current folder and its parent', HANG_GUARD, async () => {
    const cwd = path.join(dir, 'cwd');
    await mkdir(cwd);
    await writeFile(path.join(cwd, 'keep.txt'), 'mine');
    assertOneErrorLine(await prune('.', cwd), /^error: \.: is the current folder or contains it/);
    await assertRefusedInProcess(
      ['prune', '--model', model, '--ratio', '0.5', '--out', '..'],
      /^error: \.\.: is the current folder or contains it/,
      cwd,
    );
    assert.deepEqual(await listing(cwd), ['keep.txt']);
  });
  test('a parent nobody may write to', HANG_GUARD, async (t) => {
    // Root ignores permission bits, so there the check is shown with sysfs (read-only for root too)
    // only through the /sys rule above; as another user a 0555 folder is refused.
    if (process.getuid?.() === 0) {
      t.skip('running as root: permission bits do not apply (and a read-only bind mount needs privileges a test should not use)');
      return;
    }
    const locked = path.join(dir, 'locked');
    await mkdir(locked, { mode: 0o555 });
    assertOneErrorLine(await prune(path.join(locked, 'out')), /cannot write in .*locked/);
  });
  test('train and run refuse a bad --out before loading data or training', HANG_GUARD, async () => {
    const config = await tinyTrainConfig();
    const train = await runSlim(['train', '--config', config, '--out', '/proc/x/y']);
    assertOneErrorLine(train, /is under \/proc/);
    assert.doesNotMatch(train.stderr, /epoch/);
    const busy = path.join(dir, 'busy-run');
    await mkdir(busy);
    await writeFile(path.join(busy, 'notes.txt'), 'mine');
    // In-process (nothing printed before the refusal); the same refusal of run goes through the binary in the re-run test below.
    await assertRefusedInProcess(
      ['run', '--config', config, '--out', busy],
      /busy-run: folder holds files other than a slim run's output \(e\.g\. notes\.txt\); --overwrite/,
    );
    assert.deepEqual(await listing(busy), ['notes.txt']);
  });
  test('missing parents are created one level at a time', HANG_GUARD, async () => {
    const out = path.join(dir, 'new', 'deeper', 'out');
    const result = await prune(out);
    assert.equal(result.code, 0, describeRun(result));
    assert.deepEqual(await listing(out), ['model.json', 'prune-plan.json', 'weights.bin']);
  });
});

test("run --out: a re-run over a previous run's output is accepted; another file needs --overwrite", { timeout: 300_000 }, async () => {
  const trainConfig = await tinyTrainConfig();
  const out = path.join(dir, 'rerun');
  for (let i = 0; i < 2; i++) {
    const result = await runSlim(['run', '--config', trainConfig, '--out', out]);
    assert.equal(result.code, 0, describeRun(result));
  }
  await writeFile(path.join(out, 'notes.txt'), 'mine');
  assertOneErrorLine(
    await runSlim(['run', '--config', trainConfig, '--out', out]),
    /rerun: folder holds files other than a slim run's output \(e\.g\. notes\.txt\)/,
  );
  const overwritten = await runSlim(['run', '--config', trainConfig, '--out', out, '--overwrite']);
  assert.equal(overwritten.code, 0, describeRun(overwritten));
  assert.equal(await readFile(path.join(out, 'notes.txt'), 'utf8'), 'mine');
  assert.ok((await listing(out)).every((name) => !name.includes('.slim-')));
});
describe('staging folders of dead writers', () => {
  test("a dead process's temp folder is removed on start; a live one's stays", async () => {
    const target = path.join(dir, 'stale', 'out');
    await mkdir(path.dirname(target), { recursive: true });
    const dead = deadStagingPath(target, 'tmp');
    const live = stagingPath(target, 'tmp');
    await mkdir(dead);
    await writeFile(path.join(dead, 'weights.bin'), 'half');
    await mkdir(live);
    await recoverStaging(target);
    assert.deepEqual(await listing(path.dirname(target)), [path.basename(live)]);
  });

  test('an aside copy is renamed back when the target is missing, removed when both exist', async () => {
    const target = path.join(dir, 'aside', 'out');
    await mkdir(path.dirname(target), { recursive: true });
    const aside = deadStagingPath(target, 'old');
    await mkdir(aside);
    await writeFile(path.join(aside, 'model.json'), 'old');
    await recoverStaging(target);
    assert.deepEqual(await listing(path.dirname(target)), ['out']);
    assert.equal(await readFile(path.join(target, 'model.json'), 'utf8'), 'old');

    const second = deadStagingPath(target, 'old');
    await mkdir(second);
    await recoverStaging(target);
    assert.deepEqual(await listing(path.dirname(target)), ['out']);
    assert.equal(await readFile(path.join(target, 'model.json'), 'utf8'), 'old');
  });

  test('prune --overwrite after a kill between the two renames: the old model is back, then replaced', async () => {
    const parent = path.join(dir, 'between');
    const target = path.join(parent, 'out');
    await mkdir(parent);
    // The state a kill leaves between the renames: old model aside, new one complete in temp.
    await cp(path.dirname(model), deadStagingPath(target, 'old'), { recursive: true });
    await cp(path.dirname(model), deadStagingPath(target, 'tmp'), { recursive: true });
    const result = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--out', target, '--overwrite']);
    assert.equal(result.code, 0, describeRun(result));
    assert.deepEqual(await listing(parent), ['out']);
    const written = await listing(target);
    assert.ok(written.includes('model.json') && written.includes('weights.bin'), written.join(', '));
  });
});

describe('outputs get the permissions the umask gives', () => {
  for (const mask of [0o022, 0o027]) {
    test(`umask ${mask.toString(8)}`, async () => {
      const out = path.join(dir, `umask-${mask.toString(8)}`);
      const previous = process.umask(mask); // inherited by the child
      let result: SlimResult;
      try {
        result = await runSlim(['prune', '--model', model, '--ratio', '0.5', '--out', out]);
      } finally {
        process.umask(previous);
      }
      assert.equal(result.code, 0, describeRun(result));
      assert.equal((await stat(out)).mode & 0o777, 0o777 & ~mask);
      for (const file of await readdir(out)) assert.equal((await stat(path.join(out, file))).mode & 0o777, 0o666 & ~mask, file);
    });
  }
});
