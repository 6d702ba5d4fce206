/**
 * Inputs too big or too odd to process are refused up front, in one line with exit 2 (issue #9):
 * a built-in model or decoded dataset that cannot fit in memory (named by its config path), a
 * config nested deeper than the parsers' stacks, a single-valued flag given twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { PAPER_VGG } from '../src/model/architectures.js';
import { MAX_TENSOR_ELEMENTS } from '../src/model/validate.js';
import { checkImagesFit, checkVggFits, type VggPlan } from '../src/pipeline/fits.js';
import { describeRun, exists, runSlim, STACK_FRAME, stderrLines, type SlimResult } from './helpers/cli.js';
import { npyDataConfig, writeNpyDataset } from './fuzz/corpus-data.js';

const MACHINE = { maxValues: MAX_TENSOR_ELEMENTS, memoryBytes: 16 * 1024 ** 3 };

function vgg(cfg: VggPlan['cfg'], extra: Partial<VggPlan> = {}): VggPlan {
  return { cfg, head: 'gap', hidden: [], inputShape: [32, 32, 3], numClasses: 10, ...extra };
}

function refusedWith(pattern: RegExp) {
  return (error: unknown) => error instanceof InputError && pattern.test(error.message) && !error.message.includes('\n');
}

describe('size estimates of a built-in model', () => {
  test("the paper's VGG19 and wide legitimate layers fit", () => {
    checkVggFits(vgg([...PAPER_VGG.vgg19, 'A'], { head: 'flatten' }), MACHINE);
    // Wider than any cap on widths alone would allow, yet only 900k kernel values on a gray image.
    checkVggFits(vgg([100_000], { inputShape: [28, 28, 1] }), MACHINE);
  });

  test('a kernel beyond one typed array is refused naming its cfg entry', () => {
    assert.throws(() => checkVggFits(vgg([1e9]), MACHINE), refusedWith(/^config: model\.cfg\[0\]: .*27000000000 values/));
    assert.throws(() => checkVggFits(vgg([2, 'M', 200_000, 200_000]), MACHINE), refusedWith(/^config: model\.cfg\[3\]: /));
  });

  test("one image's layer output beyond one typed array is refused", () => {
    assert.throws(
      () => checkVggFits(vgg([64], { inputShape: [10_000, 10_000, 3] }), MACHINE),
      refusedWith(/^config: model\.cfg\[0\]: .*output for one 10000x10000 image has 6400000000 values/),
    );
  });

  test('a flatten head on a big map, or a huge hidden layer, is refused at the dense layer', () => {
    assert.throws(
      () => checkVggFits(vgg([64], { head: 'flatten', inputShape: [4096, 4096, 1], numClasses: 1000 }), MACHINE),
      refusedWith(/^config: model\.head: a dense layer of 1000 units/),
    );
    assert.throws(
      () => checkVggFits(vgg([64], { head: 'flatten', hidden: [4096, 2e6], inputShape: [8, 8, 1] }), MACHINE),
      refusedWith(/^config: model\.hidden\[1\]: /),
    );
  });

  test('a model whose training state exceeds the memory is refused with both sizes', () => {
    const small = { maxValues: MAX_TENSOR_ELEMENTS, memoryBytes: 1024 ** 3 };
    checkVggFits(vgg([512, 512]), small); // 2.4M parameters: 28 MiB
    assert.throws(
      () => checkVggFits(vgg([8192, 8192, 8192]), small),
      refusedWith(/^config: model\.cfg: the model has \d+ parameters; training them needs [\d.]+ GiB .* this machine's 1\.0 GiB/),
    );
  });
});

describe('size estimates of a decoded split', () => {
  const options = { inMemory: true, bytesPerValue: 1, configPath: 'data.resize', split: 'train' };

  test('a big but holdable split passes', () => {
    checkImagesFit(10_000, { height: 224, width: 224, channels: 3 }, options, MACHINE);
    checkImagesFit(1, { height: 20_000, width: 20_000, channels: 3 }, options, MACHINE);
  });

  test('one image beyond a typed array is refused even when streamed', () => {
    const huge = { height: 100_000, width: 100_000, channels: 1 };
    assert.throws(
      () => checkImagesFit(1, huge, { ...options, inMemory: false }, MACHINE),
      refusedWith(/^config: data\.resize: one 100000x100000x1 image/),
    );
  });

  test('a split beyond a typed array or the memory is refused in memory, accepted streamed', () => {
    const shape = { height: 2048, width: 2048, channels: 3 };
    assert.throws(
      () => checkImagesFit(1000, shape, options, MACHINE),
      refusedWith(/^config: data\.resize: the train split, 1000 images of 2048x2048x3, needs 11\.7 GiB .*data\.stream/),
    );
    assert.throws(
      () => checkImagesFit(100, shape, { ...options, bytesPerValue: 4 }, { ...MACHINE, memoryBytes: 1024 ** 3 }),
      refusedWith(/needs 4\.7 GiB in memory/),
    );
    checkImagesFit(1000, shape, { ...options, inMemory: false }, MACHINE);
  });
});

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
