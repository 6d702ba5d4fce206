/**
 * Inputs too big or too odd to process are refused up front, in one line with exit 2 (issue #9):
 * a built-in model or decoded dataset that cannot fit in memory (named by its config path), a
 * config nested deeper than the parsers' stacks, a single-valued flag given twice. The size estimates
 * are checked here in-process; the refusals through the binary in test/e2e/input-limits-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { PAPER_VGG } from '../src/model/architectures.js';
import { MAX_TENSOR_ELEMENTS } from '../src/model/validate.js';
import { checkImagesFit, checkVggFits, type VggPlan } from '../src/pipeline/fits.js';

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
