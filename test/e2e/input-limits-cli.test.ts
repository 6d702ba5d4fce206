/**
 * Inputs too big or too odd to process, through the built binary (issue #9): exit 2 and one line
 * naming the config path or the flag, nothing written. The size estimates behind these refusals
 * are checked in-process in test/input-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, exists, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { npyDataConfig, writeNpyDataset } from '../fuzz/corpus-data.js';

function assertOneLine(result: SlimResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  // Progress logs may come first; the error is one line and the last.
  const lines = stderrLines(result);
  assert.equal(lines.filter((line) => line.startsWith('error:')).length, 1, describeRun(result));
  assert.match(lines[lines.length - 1], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.doesNotMatch(result.stderr, /internal error/);
  assert.equal(result.stdout, '');
}

describe('through the binary', () => {
  let dir: string;
  let good: Record<string, unknown>;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slim-limits-'));
    const data = path.join(dir, 'npy');
    await writeNpyDataset(data);
    good = {
      seed: 1,
      backend: 'cpu',
      model: { type: 'vgg', cfg: [2] },
      data: {
        ...npyDataConfig(data),
      },
      train: { epochs: 1, batchSize: 16 },
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function train(name: string, text: string): Promise<{ result: SlimResult; out: string }> {
    const config = path.join(dir, `${name}.json`);
    await writeFile(config, text);
    const out = path.join(dir, `${name}-out`);
    return { result: await runSlim(['train', '--config', config, '--out', out]), out };
  }

  test('a layer width or resize that cannot be allocated: exit 2, one line naming the config path, nothing written', async () => {
    const width = await train('width', JSON.stringify({ ...good, model: { type: 'vgg', cfg: [1e9] } }));
    assertOneLine(width.result, 2, /^error: config: model\.cfg\[0\]: the 3x3 conv of 1000000000 filters/);
    assert.equal(await exists(width.out), false);
    const resize = await train('resize', JSON.stringify({ ...good, data: { ...(good.data as object), resize: [100_000, 100_000] } }));
    assertOneLine(resize.result, 2, /^error: config: data\.resize: one 100000x100000x1 image has 10000000000 values/);
  });

  test('a config nested too deep, from a file or stdin: exit 2, one line', async () => {
    const deepArray = await train('deep-array', `{"train": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`);
    assertOneLine(deepArray.result, 2, /^error: .*deep-array\.json: JSON nested deeper than 100 levels/);
    const deepObject = await train('deep-object', `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`);
    assertOneLine(deepObject.result, 2, /^error: .*deep-object\.json: JSON nested deeper than 100 levels/);
    const stdin = await runSlim(['train', '--config', '-', '--out', path.join(dir, 'stdin-out')], {
      input: `{"data": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`,
    });
    assertOneLine(stdin, 2, /^error: stdin: JSON nested deeper than 100 levels/);
  });

  test('a single-valued flag given twice: exit 2, one line naming it, for any command and spelling', async () => {
    const out = path.join(dir, 'twice-out');
    const cases: [string[], string][] = [
      [['prune', '--model', dir, '--model', dir, '--ratio', '0.5', '--out', out], '--model'],
      [['prune', '--model', dir, '--ratio', '0.5', '--out', out, '--out', `${out}2`], '--out'],
      [['prune', '--model', dir, '--ratio=0.5', '--ratio', '0.4', '--out', out], '--ratio'],
      [['train', '--config', '-', '--batch-size', '8', '--batchSize', '16', '--out', out], '--batch-size'],
      [['report', '--model', dir, '--model', dir], '--model'],
    ];
    for (const [args, flag] of cases) {
      assertOneLine(await runSlim(args), 2, new RegExp(`^error: ${flag} given twice; give it once`));
    }
    assert.equal(await exists(out), false);
  });
});
