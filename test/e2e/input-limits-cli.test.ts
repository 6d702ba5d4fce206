/**
 * Inputs too big or too odd to process, through the built binary (issue #9): exit 2 and one line
 * naming the config path or the flag, nothing written. The size estimates behind these refusals
 * are checked in-process in test/input-limits.test.ts. In each test one case of each kind goes
 * through the binary (an allocation refused, stdin nested too deep, a flag given twice under its
 * other spelling); the others are parsed and run in-process by the same buildCli, their error
 * mapped by main()'s describeFailure (test/helpers/cli-in-process.ts): same line, exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, exists, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
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

/** assertOneLine's checks in-process: main() prints the error line, so the command printed none (and nothing on stdout). */
async function assertOneLineInProcess(args: string[], code: number, pattern: RegExp): Promise<void> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal).slice(0, 2000)}`;
  assert.equal(refusal.exitCode, code, why);
  assert.match(`error: ${refusal.line}`, pattern, why);
  assert.ok(!refusal.stderr.split('\n').some((line) => line.startsWith('error:')), why);
  assert.doesNotMatch(refusal.stderr, STACK_FRAME, why);
  assert.doesNotMatch(refusal.line, /internal error/, why);
  assert.equal(refusal.stdout, '', why);
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
  /** The same train, refused in-process; its argv and output folder. */
  async function trainInProcess(name: string, text: string, pattern: RegExp): Promise<string> {
    const config = path.join(dir, `${name}.json`);
    await writeFile(config, text);
    const out = path.join(dir, `${name}-out`);
    await assertOneLineInProcess(['train', '--config', config, '--out', out], 2, pattern);
    return out;
  }

  test('a layer width or resize that cannot be allocated: exit 2, one line naming the config path, nothing written', async () => {
    const width = await train('width', JSON.stringify({ ...good, model: { type: 'vgg', cfg: [1e9] } }));
    assertOneLine(width.result, 2, /^error: config: model\.cfg\[0\]: the 3x3 conv of 1000000000 filters/);
    assert.equal(await exists(width.out), false);
    const resize = await trainInProcess(
      'resize',
      JSON.stringify({ ...good, data: { ...(good.data as object), resize: [100_000, 100_000] } }),
      /^error: config: data\.resize: one 100000x100000x1 image has 10000000000 values/,
    );
    assert.equal(await exists(resize), false);
  });

  test('a config nested too deep, from a file or stdin: exit 2, one line', async () => {
    await trainInProcess(
      'deep-array',
      `{"train": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`,
      /^error: .*deep-array\.json: JSON nested deeper than 100 levels/,
    );
    await trainInProcess(
      'deep-object',
      `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`,
      /^error: .*deep-object\.json: JSON nested deeper than 100 levels/,
    );
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
      const pattern = new RegExp(`^error: ${flag} given twice; give it once`);
      // The train case reads stdin ('-'), which main() resolves: through the binary.
      if (args.includes('-')) assertOneLine(await runSlim(args), 2, pattern);
      else await assertOneLineInProcess(args, 2, pattern);
    }
    assert.equal(await exists(out), false);
  });
});
