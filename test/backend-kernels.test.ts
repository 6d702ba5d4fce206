/**
 * slim's wasm training kernels against the tfjs cpu backend, through public ops under
 * tf.grads, plus whole-net gradient equivalence and memory stability.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/backend/index.js';
import { CHUNK_ROWS } from '../src/backend/wasm-kernels/conv2d-backprop-filter.js';
import { buildNet, buildNetWithWeights, lossGradients, makeBatch, relativeMaxError, type NetKind } from './helpers/backend-nets.js';

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner in test output

const TOLERANCE = 1e-4;
type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** Seeded values, as a plain array, so both backends see identical inputs. */
function seeded(shape: number[], seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);
}

/** Runs fn on a backend with fresh tensors made from the arrays; returns plain results. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(fn).map((t) => {
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  });
}

function assertClose(actual: Float32Array[], expected: Float32Array[], label: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    const error = relativeMaxError(a, expected[i]);
    assert.ok(error <= TOLERANCE, `${label} output ${i}: relative max error ${error.toExponential(2)}`);
  });
}

before(async () => {
  await selectBackend('wasm');
});

/**
 * A stride-1 3×3 'same' filter gradient whose padded image ((64 + 2)² rows) exceeds CHUNK_ROWS:
 * the kernel gathers one image per chunk, three chunks here. Small channel counts keep the cpu
 * reference (the slow side of the comparison) quick.
 */
const CHUNKED_X: Shape4 = [3, 64, 64, 8];
const CHUNKED_FILTER: Shape4 = [3, 3, 8, 4];

function assertSplitByImage(x: Shape4): void {
  const rowsPerImage = (x[1] + 2) * (x[2] + 2);
  assert.ok(rowsPerImage > CHUNK_ROWS && x[0] > 1, `[${x.join(',')}] fits one chunk of ${CHUNK_ROWS} rows`);
}

/**
 * d/dx and d/dw of sum(conv(x, w) · r) on wasm equal cpu's: seeded x (seed), w (seed + 1) and
 * a seeded random r (seed + 2) over the conv's output, so every output position is weighted.
 */
async function assertConvGradsMatch(
  c: { name: string; x: Shape4; w: Shape4 },
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor,
  seed: number,
): Promise<void> {
  const xData = seeded(c.x, seed);
  const wData = seeded(c.w, seed + 1);
  const outShape = tf.tidy(() => conv(tf.zeros<tf.Rank.R4>(c.x), tf.zeros<tf.Rank.R4>(c.w)).shape);
  const rData = seeded(outShape, seed + 2);
  const run = (): tf.Tensor[] => {
    const r = tf.tensor(rData, outShape);
    const f = (x: tf.Tensor, w: tf.Tensor): tf.Tensor => tf.sum(tf.mul(conv(x as tf.Tensor4D, w as tf.Tensor4D), r));
    return tf.grads(f)([tf.tensor(xData, c.x), tf.tensor(wData, c.w)]);
  };
  assertClose(await on('wasm', run), await on('cpu', run), c.name);
}

describe("Conv2D gradients (Conv2DBackpropFilter is slim's) wasm vs cpu", () => {
  const cases: {
    name: string;
    x: Shape4;
    w: Shape4;
    strides: number | [number, number];
    pad: Pad;
    rounding?: 'floor' | 'round' | 'ceil';
  }[] = [
    { name: 'odd sizes, batch 1, same', x: [1, 7, 9, 3], w: [3, 3, 3, 5], strides: 1, pad: 'same' },
    { name: 'stride 2, same, odd input', x: [2, 9, 11, 4], w: [3, 3, 4, 6], strides: 2, pad: 'same' },
    { name: 'stride [2,1], valid, non-square kernel', x: [3, 10, 7, 2], w: [2, 3, 2, 4], strides: [2, 1], pad: 'valid' },
    {
      name: 'explicit padding',
      x: [2, 6, 5, 3],
      w: [3, 2, 3, 2],
      strides: 1,
      pad: [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    },
    { name: 'pointwise 1x1, 40 input channels', x: [2, 5, 6, 40], w: [1, 1, 40, 7], strides: 1, pad: 'valid' },
    { name: '5x5 kernel larger than padded input edge', x: [1, 4, 4, 2], w: [5, 5, 2, 3], strides: 1, pad: 'same' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await assertConvGradsMatch(c, (x, w) => tf.conv2d(x, w, c.strides, c.pad, 'NHWC', 1, c.rounding), 1);
    });
  }

  // tfjs-core's conv2d gradient drops dimRoundingMode, so the kernel sizes the output from dy.
  // Reference: the same forward written with the explicit padding it amounts to (bottom 2).
  it('numeric pad with dimRoundingMode ceil: filter gradient equals the explicit-padding one', async () => {
    const xShape: Shape4 = [2, 8, 9, 3];
    const wShape: Shape4 = [3, 3, 3, 4];
    const xData = seeded(xShape, 8);
    const wData = seeded(wShape, 9);
    const rData = seeded([2, 5, 5, 4], 10);
    const filterGrad = (pad: Pad, rounding?: 'ceil') => (): tf.Tensor[] => {
      const r = tf.tensor(rData, [2, 5, 5, 4]);
      const f = (w: tf.Tensor): tf.Tensor =>
        tf.sum(tf.mul(tf.conv2d(tf.tensor<tf.Rank.R4>(xData, xShape), w as tf.Tensor4D, 2, pad, 'NHWC', 1, rounding), r));
      return [tf.grad(f)(tf.tensor(wData, wShape))];
    };
    const wasm = await on('wasm', filterGrad(1, 'ceil'));
    const cpu = await on(
      'cpu',
      filterGrad([
        [0, 0],
        [1, 2],
        [1, 1],
        [0, 0],
      ]),
    );
    assertClose(wasm, cpu, 'ceil rounding');
  });

  it('large input takes the chunked path (gather split by image) and still matches', async () => {
    const xShape = CHUNKED_X;
    const filterShape = CHUNKED_FILTER;
    const dyShape: Shape4 = [...CHUNKED_X.slice(0, 3), CHUNKED_FILTER[3]] as Shape4;
    assertSplitByImage(xShape);
    const xData = seeded(xShape, 4);
    const dyData = seeded(dyShape, 5);
    const run = (): tf.Tensor[] => [
      tf.engine().runKernel<tf.Tensor>(
        'Conv2DBackpropFilter',
        { x: tf.tensor(xData, xShape), dy: tf.tensor(dyData, dyShape) },
        {
          strides: 1,
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape,
        },
      ),
    ];
    assertClose(await on('wasm', run), await on('cpu', run), 'chunked');
  });

  it('honours a dilations attr (tfjs core refuses dilated conv gradients, so checked via the zero-inserted filter)', async () => {
    const xShape: Shape4 = [2, 11, 10, 3];
    const dilation = 2;
    const filterShape: Shape4 = [3, 3, 3, 4];
    const effective: Shape4 = [5, 5, 3, 4];
    const outShape = [2, 11, 10, 4];
    const xData = seeded(xShape, 6);
    const dyData = seeded(outShape, 7);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
    const wasm = await on('wasm', () => [
      tf.engine().runKernel<tf.Tensor>(
        'Conv2DBackpropFilter',
        { x: tf.tensor(xData, xShape), dy: tf.tensor(dyData, outShape) },
        {
          ...attrs,
          filterShape,
          dilations: dilation,
        },
      ),
    ]);
    const cpu = await on('cpu', () => {
      const full = tf.engine().runKernel<tf.Tensor4D>(
        'Conv2DBackpropFilter',
        { x: tf.tensor(xData, xShape), dy: tf.tensor(dyData, outShape) },
        {
          ...attrs,
          filterShape: effective,
        },
      );
      return [tf.stridedSlice(full, [0, 0, 0, 0], effective, [dilation, dilation, 1, 1])];
    });
    assertClose(wasm, cpu, 'dilated');
  });

  it('rejects NCHW with one clear line', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
      /Conv2DBackpropFilter: only NHWC \(channelsLast\) is supported, got NCHW/,
    );
    tf.dispose([x, dy]);
  });
});

describe("DepthwiseConv2D gradients (both backprop kernels are slim's) wasm vs cpu", () => {
  const cases: { name: string; x: Shape4; w: Shape4; strides: number; pad: Pad; rounding?: 'floor' | 'round' | 'ceil' }[] = [
    { name: 'multiplier 1, same, batch 1, odd sizes', x: [1, 9, 7, 5], w: [3, 3, 5, 1], strides: 1, pad: 'same' },
    { name: 'multiplier 2, stride 2, valid', x: [2, 11, 9, 3], w: [3, 3, 3, 2], strides: 2, pad: 'valid' },
    { name: 'multiplier 2, stride 2, same', x: [3, 8, 10, 4], w: [5, 3, 4, 2], strides: 2, pad: 'same' },
    {
      name: 'explicit padding',
      x: [2, 6, 7, 3],
      w: [3, 3, 3, 1],
      strides: 1,
      pad: [
        [0, 0],
        [2, 0],
        [1, 1],
        [0, 0],
      ],
    },
    {
      name: 'numeric pad with dimRoundingMode round, multiplier 3',
      x: [2, 9, 9, 2],
      w: [3, 3, 2, 3],
      strides: 2,
      pad: 1,
      rounding: 'round',
    },
    // Multiplier 1 with stride 2: the input gradient runs on XNNPACK via a zero-inserted dy.
    {
      name: 'multiplier 1, stride 2, same, odd input (XNNPACK input gradient)',
      x: [2, 9, 11, 6],
      w: [3, 3, 6, 1],
      strides: 2,
      pad: 'same',
    },
    { name: 'multiplier 1, stride 2, valid, batch 1', x: [1, 10, 7, 5], w: [3, 3, 5, 1], strides: 2, pad: 'valid' },
    { name: 'multiplier 1, 5x5 kernel larger than the padded edge', x: [2, 4, 4, 3], w: [5, 5, 3, 1], strides: 1, pad: 'same' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await assertConvGradsMatch(c, (x, w) => tf.depthwiseConv2d(x, w, c.strides, c.pad, 'NHWC', 1, c.rounding), 11);
    });
  }

  // tfjs core refuses dilated depthwise gradients and the cpu backprop kernels ignore
  // dilations, so the reference is an undilated run with the zero-inserted filter.
  for (const multiplier of [1, 2])
    it(`dilation 2, multiplier ${multiplier} (both kernels), checked via the zero-inserted filter`, async () => {
      const xShape: Shape4 = [2, 10, 9, 3];
      const filterShape: Shape4 = [3, 3, 3, multiplier];
      const effective: Shape4 = [5, 5, 3, multiplier];
      const outShape = [2, 10, 9, 3 * multiplier];
      const xData = seeded(xShape, 14);
      const wData = seeded(filterShape, 15);
      const dyData = seeded(outShape, 16);
      const zeroInserted = new Float32Array(5 * 5 * 3 * multiplier);
      for (let kh = 0; kh < 3; kh++)
        for (let kw = 0; kw < 3; kw++)
          for (let i = 0; i < 3 * multiplier; i++)
            zeroInserted[(kh * 2 * 5 + kw * 2) * 3 * multiplier + i] = wData[(kh * 3 + kw) * 3 * multiplier + i]!;
      const attrs = { strides: 1, pad: 'same' };
      const wasm = await on('wasm', () => [
        tf.engine().runKernel<tf.Tensor>(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(xData, xShape), dy: tf.tensor(dyData, outShape) },
          {
            ...attrs,
            dilations: 2,
            filterShape,
          },
        ),
        tf.engine().runKernel<tf.Tensor>(
          'DepthwiseConv2dNativeBackpropInput',
          { dy: tf.tensor(dyData, outShape), filter: tf.tensor(wData, filterShape) },
          {
            ...attrs,
            dilations: 2,
            inputShape: xShape,
          },
        ),
      ]);
      const cpu = await on('cpu', () => {
        const fullFilterGrad = tf.engine().runKernel<tf.Tensor4D>(
          'DepthwiseConv2dNativeBackpropFilter',
          { x: tf.tensor(xData, xShape), dy: tf.tensor(dyData, outShape) },
          {
            ...attrs,
            dilations: 1,
            filterShape: effective,
          },
        );
        return [
          tf.stridedSlice(fullFilterGrad, [0, 0, 0, 0], effective, [2, 2, 1, 1]),
          tf.engine().runKernel<tf.Tensor>(
            'DepthwiseConv2dNativeBackpropInput',
            { dy: tf.tensor(dyData, outShape), filter: tf.tensor(zeroInserted, effective) },
            {
              ...attrs,
              dilations: 1,
              inputShape: xShape,
            },
          ),
        ];
      });
      assertClose(wasm, cpu, 'dilated depthwise');
    });
});

describe('Conv2DBackpropInput (slim replaces the stock wasm kernel) wasm vs cpu', () => {
  const cases: { name: string; x: Shape4; w: Shape4; strides: number | [number, number]; pad: Pad; dilations?: number }[] = [
    { name: 'stride 1 same, batch 1, odd sizes (direct XNNPACK path)', x: [1, 9, 7, 3], w: [3, 3, 3, 5], strides: 1, pad: 'same' },
    { name: 'stride 2 same, even input (zero-inserted path)', x: [2, 8, 10, 4], w: [3, 3, 4, 6], strides: 2, pad: 'same' },
    { name: 'stride 2 valid, odd input, last row unused', x: [2, 10, 9, 3], w: [3, 3, 3, 4], strides: 2, pad: 'valid' },
    { name: 'stride [1,2], 5x3 kernel, same', x: [3, 7, 9, 2], w: [5, 3, 2, 3], strides: [1, 2], pad: 'same' },
    {
      name: 'padding wider than the kernel (negative full padding)',
      x: [2, 5, 6, 3],
      w: [3, 3, 3, 2],
      strides: 1,
      pad: [
        [0, 0],
        [3, 1],
        [0, 4],
        [0, 0],
      ],
    },
    { name: 'single output channel, 1x1', x: [2, 5, 5, 7], w: [1, 1, 7, 1], strides: 1, pad: 'valid' },
    { name: 'dilation 2, same', x: [2, 9, 8, 3], w: [3, 3, 3, 4], strides: 1, pad: 'same', dilations: 2 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const wData = seeded(c.w, 31);
      const dilations = c.dilations ?? 1;
      const outShape = tf.tidy(
        () => tf.conv2d(tf.zeros<tf.Rank.R4>(c.x), tf.zeros<tf.Rank.R4>(c.w), c.strides, c.pad, 'NHWC', dilations).shape,
      );
      const dyData = seeded(outShape, 32);
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
      const wasm = await on('wasm', () => [
        tf
          .engine()
          .runKernel<tf.Tensor>(
            'Conv2DBackpropInput',
            { dy: tf.tensor(dyData, outShape), filter: tf.tensor(wData, c.w) },
            { ...attrs, dilations },
          ),
      ]);
      // The cpu kernel ignores dilations; its reference is the zero-inserted filter.
      const cpu = await on('cpu', () => {
        let filter = tf.tensor<tf.Rank.R4>(wData, c.w);
        if (dilations > 1) {
          const [fh, fw, ci, co] = c.w;
          const spread = tf.buffer([(fh - 1) * dilations + 1, (fw - 1) * dilations + 1, ci, co]);
          const values = filter.bufferSync();
          for (let kh = 0; kh < fh; kh++)
            for (let kw = 0; kw < fw; kw++)
              for (let i = 0; i < ci; i++)
                for (let o = 0; o < co; o++) spread.set(values.get(kh, kw, i, o), kh * dilations, kw * dilations, i, o);
          filter = spread.toTensor() as tf.Tensor4D;
        }
        return [tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy: tf.tensor(dyData, outShape), filter }, attrs)];
      });
      assertClose(wasm, cpu, c.name);
    });
  }
});

describe('MaxPoolGrad (slim replaces the stock wasm kernel) wasm vs cpu', () => {
  const cases: { name: string; x: Shape4; size: number | [number, number]; strides: number; pad: Pad; relu?: boolean }[] = [
    { name: '2x2 stride 2 valid, odd sizes, batch 1', x: [1, 9, 7, 5], size: 2, strides: 2, pad: 'valid' },
    { name: '3x3 stride 2 same (windows clipped at the edge)', x: [2, 8, 9, 3], size: 3, strides: 2, pad: 'same' },
    { name: 'overlapping 3x2 windows, stride 1, valid', x: [2, 6, 7, 4], size: [3, 2], strides: 1, pad: 'valid' },
    { name: 'ties after ReLU go to the first maximum, as on cpu', x: [3, 8, 8, 6], size: 2, strides: 2, pad: 'valid', relu: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const xData = seeded(c.x, 41);
      const outShape = tf.tidy(() => tf.maxPool(tf.zeros<tf.Rank.R4>(c.x), c.size, c.strides, c.pad as 'same').shape);
      const rData = seeded(outShape, 42);
      const run = (): tf.Tensor[] => {
        const r = tf.tensor(rData, outShape);
        const f = (x: tf.Tensor): tf.Tensor => {
          const input = (c.relu ? tf.relu(tf.sub(x, 0.8)) : x) as tf.Tensor4D;
          return tf.sum(tf.mul(tf.maxPool(input, c.size, c.strides, c.pad as 'same'), r));
        };
        return [tf.grad(f)(tf.tensor(xData, c.x))];
      };
      assertClose(await on('wasm', run), await on('cpu', run), c.name);
    });
  }
});

describe("slim's FusedBatchNorm gradient (wasm single-pass kernel, generic elsewhere)", () => {
  // Independent reference: the same normalisation written with elementary ops on cpu,
  // so no FusedBatchNorm gradient is involved.
  const manual = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor | null): tf.Tensor => {
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-3)));
    return tf.add(scale ? tf.mul(normed, scale) : normed, offset);
  };
  // Only with scale: tfjs-core cannot record batchNorm without one for gradients at all
  // (the tape saves the missing input and fails, with or without slim's gradient).
  for (const withScale of [true]) {
    it(`gradients wrt x, mean, variance, offset${withScale ? ', scale' : ' (no scale)'} match the elementary-op formula, odd shapes`, async () => {
      const xShape = [3, 5, 7, 6];
      const xData = seeded(xShape, 51);
      const meanData = seeded([6], 52);
      const varianceData = tf.tidy(() => tf.abs(tf.randomNormal([6], 1, 0.3, 'float32', 53)).dataSync() as Float32Array);
      const offsetData = seeded([6], 54);
      const scaleData = seeded([6], 55);
      const rData = seeded(xShape, 56);
      const run = (fused: boolean) => (): tf.Tensor[] => {
        const r = tf.tensor(rData, xShape);
        const args = [
          tf.tensor(xData, xShape),
          tf.tensor(meanData, [6]),
          tf.tensor(varianceData, [6]),
          tf.tensor(offsetData, [6]),
          ...(withScale ? [tf.tensor(scaleData, [6])] : []),
        ];
        const f = (...t: tf.Tensor[]): tf.Tensor => {
          const [x, mean, variance, offset, scale] = t as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D | undefined];
          const y = fused ? tf.batchNorm(x, mean, variance, offset, scale, 1e-3) : manual(x, mean, variance, offset, scale ?? null);
          return tf.sum(tf.mul(y, r));
        };
        return tf.grads(f)(args);
      };
      const reference = await on('cpu', run(false));
      assertClose(await on('wasm', run(true)), reference, 'wasm kernel');
      assertClose(await on('cpu', run(true)), reference, 'generic path on cpu');
    });
  }

  it('training-mode BN (moments + batchNorm, as tfjs-layers does it) matches on wasm vs the manual cpu formula', async () => {
    const xShape = [4, 6, 5, 8];
    const xData = seeded(xShape, 61);
    const rData = seeded(xShape, 62);
    const gammaData = seeded([8], 63);
    const run = (fused: boolean) => (): tf.Tensor[] => {
      const r = tf.tensor(rData, xShape);
      const f = (x: tf.Tensor, gamma: tf.Tensor): tf.Tensor => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        const beta = tf.zeros([8]);
        const y = fused
          ? tf.batchNorm(x as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3)
          : manual(x, mean, variance, beta, gamma);
        return tf.sum(tf.mul(y, r));
      };
      return tf.grads(f)([tf.tensor(xData, xShape), tf.tensor(gammaData, [8])]);
    };
    assertClose(await on('wasm', run(true)), await on('cpu', run(false)), 'training BN');
  });
});

describe('cheap-op replacements (Identity shares data; Mean/Sum over leading axes; ReLU6 gradient) wasm vs cpu', () => {
  const reductions: { name: string; shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
    { name: 'NHWC moments axes [0,1,2]', shape: [3, 5, 7, 6], axis: [0, 1, 2], keepDims: false },
    { name: 'keepDims', shape: [2, 3, 4, 5], axis: [0, 1, 2], keepDims: true },
    { name: 'rank 2, axis 0', shape: [9, 4], axis: 0, keepDims: false },
    { name: 'negative, unsorted axes', shape: [2, 3, 5], axis: [-2, 0], keepDims: false },
    { name: 'not the leading axes (stock kernel)', shape: [3, 4, 5], axis: [1, 2], keepDims: true },
    { name: 'all axes (stock kernel)', shape: [3, 4, 5], axis: [0, 1, 2], keepDims: false },
  ];
  for (const c of reductions) {
    it(`Mean and Sum: ${c.name}`, async () => {
      const data = seeded(c.shape, 41);
      const run = (): tf.Tensor[] => {
        const x = tf.tensor(data, c.shape);
        return [tf.mean(x, c.axis, c.keepDims), tf.sum(x, c.axis, c.keepDims)];
      };
      const wasm = await on('wasm', run);
      const cpu = await on('cpu', run);
      assertClose(wasm, cpu, c.name);
      await tf.setBackend('wasm');
      const shape = tf.tidy(() => tf.mean(tf.zeros(c.shape), c.axis, c.keepDims).shape);
      await tf.setBackend('cpu');
      assert.deepEqual(
        shape,
        tf.tidy(() => tf.mean(tf.zeros(c.shape), c.axis, c.keepDims).shape),
      );
    });
  }

  it('ReLU6 (clipByValue) gradient, values on both boundaries, odd size', async () => {
    const values = Array.from(seeded([5, 7, 3], 42), (v) => v * 5);
    values[0] = 0;
    values[1] = 6;
    values[2] = -1e-7;
    values[3] = 6.0001;
    const dyData = seeded([5, 7, 3], 43);
    const run = (): tf.Tensor[] => {
      const f = (x: tf.Tensor): tf.Tensor => tf.sum(tf.mul(tf.clipByValue(x, 0, 6), tf.tensor(dyData, [5, 7, 3])));
      return [tf.grad(f)(tf.tensor(values, [5, 7, 3]))];
    };
    assertClose(await on('wasm', run), await on('cpu', run), 'clip grad');
  });

  it('Identity (tf.clone) shares the data; the memory goes when the last holder is disposed', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const x = tf.tensor([1, 2, 3]);
    const ids = backend.numDataIds();
    const copy = tf.clone(x);
    assert.equal(backend.numDataIds(), ids);
    x.dispose();
    assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3]);
    copy.dispose();
    assert.equal(backend.numDataIds(), ids - 1);
  });

  it('Cast to the same dtype shares the data; to another dtype it converts', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const x = tf.tensor([1.5, -2.5, 3]);
    const ids = backend.numDataIds();
    const same = tf.cast(x, 'float32');
    assert.equal(backend.numDataIds(), ids);
    const ints = tf.cast(x, 'int32');
    assert.equal(ints.dtype, 'int32');
    assert.deepEqual(Array.from(ints.dataSync()), [1, -2, 3]);
    tf.dispose([x, same, ints]);
    assert.equal(backend.numDataIds(), ids - 1);
  });
});

describe('whole-net gradients wasm vs cpu (training mode)', () => {
  const nets: { kind: NetKind; batch: number }[] = [
    { kind: 'vgg', batch: 6 },
    { kind: 'vgg-variants', batch: 5 },
    { kind: 'mobilenet-block', batch: 4 },
  ];
  for (const { kind, batch } of nets) {
    it(`${kind}: every trainable weight's gradient and the loss match`, async () => {
      await tf.setBackend('cpu');
      const reference = buildNet(kind);
      const weights = reference.getWeights().map((w) => w.dataSync() as Float32Array);
      const { x, y } = makeBatch(reference, batch, 21);
      const cpu = lossGradients(reference, x, y, batch);
      reference.dispose();
      await tf.setBackend('wasm');
      const model = buildNetWithWeights(kind, weights);
      const wasm = lossGradients(model, x, y, batch);
      model.dispose();
      assert.ok(Math.abs(wasm.loss - cpu.loss) <= TOLERANCE * Math.max(1, Math.abs(cpu.loss)), `loss ${wasm.loss} vs ${cpu.loss}`);
      assertClose(wasm.grads, cpu.grads, kind);
    });
  }
});

describe('memory', () => {
  it('tensors, bytes and wasm heap allocations stay flat across repeated gradient steps', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const models = (['vgg', 'mobilenet-block'] as const).map((kind) => {
      const model = buildNet(kind);
      return { model, batch: makeBatch(model, 3, 31) };
    });
    const step = (): void => {
      for (const { model, batch } of models) lossGradients(model, batch.x, batch.y, 3);
    };
    step(); // first step creates lazily-built state (BN moving stats, cached kernels)
    const after1 = { ...tf.memory(), heapIds: backend.numDataIds() };
    for (let i = 0; i < 4; i++) step();
    const after5 = { ...tf.memory(), heapIds: backend.numDataIds() };
    assert.equal(after5.numTensors, after1.numTensors);
    assert.equal(after5.numBytes, after1.numBytes);
    assert.equal(after5.heapIds, after1.heapIds);
    for (const { model } of models) model.dispose();
  });

  it('Conv2DBackpropInput (both paths), MaxPoolGrad and the BN gradient kernel free their buffers', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const dy = tf.randomNormal([2, 4, 5, 6]);
    const filter = tf.randomNormal([3, 3, 3, 6]);
    const x = tf.randomNormal([2, 8, 10, 3]);
    const stats = [tf.randomNormal([3]), tf.randomUniform([3], 0.5, 1), tf.randomNormal([3])];
    const run = (): void => {
      const results = [
        tf
          .engine()
          .runKernel<tf.Tensor>(
            'Conv2DBackpropInput',
            { dy, filter },
            { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 10, 3] },
          ),
        tf
          .engine()
          .runKernel<tf.Tensor>(
            'Conv2DBackpropInput',
            { dy: x, filter: tf.randomNormal([3, 3, 6, 3]) },
            { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 10, 6] },
          ),
        tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x),
        ...tf
          .engine()
          .runKernel<tf.Tensor[]>(
            'SlimFusedBatchNormGrad',
            { x, dy: x, mean: stats[0], variance: stats[1], scale: stats[2] },
            { varianceEpsilon: 1e-3 },
          ),
      ];
      tf.dispose(results);
    };
    run();
    const before = { ...tf.memory(), heapIds: backend.numDataIds() };
    run();
    run();
    // The random filter made inside run() is a leak of the test itself, not of a kernel.
    const after = { ...tf.memory(), heapIds: backend.numDataIds() };
    assert.equal(after.heapIds - before.heapIds, 2);
    assert.equal(after.numTensors - before.numTensors, 2);
    tf.dispose([dy, filter, x, ...stats]);
  });

  it('the chunked Conv2DBackpropFilter path frees its buffers', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    assertSplitByImage(CHUNKED_X);
    const x = tf.randomNormal(CHUNKED_X);
    const dy = tf.randomNormal([...CHUNKED_X.slice(0, 3), CHUNKED_FILTER[3]]);
    const run = (): void => {
      const dw = tf
        .engine()
        .runKernel<tf.Tensor>(
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: CHUNKED_FILTER },
        );
      dw.dispose();
    };
    run();
    const before = { ...tf.memory(), heapIds: backend.numDataIds() };
    run();
    run();
    assert.deepEqual({ ...tf.memory(), heapIds: backend.numDataIds() }, before);
    tf.dispose([x, dy]);
  });
});
