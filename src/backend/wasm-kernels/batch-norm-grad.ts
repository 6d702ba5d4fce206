/**
 * A faster gradient for FusedBatchNorm (y = (x − mean)·rsqrt(var + ε)·scale + offset).
 *
 * tfjs-core's gradient tiles rsqrt(var + ε) to x's full shape (the stock wasm Tile kernel
 * took a third of a training step) and makes ~9 full-size temporaries plus 4 reductions.
 * slim registers its own gradient (tf.registerGradient is global: every backend uses it):
 *  - on wasm, with per-channel statistics (mean rank 1 over the last axis, the only form
 *    tfjs-layers' BatchNormalization produces for NHWC), one JS pass over the heap computes
 *    dx and the two per-channel sums every other gradient is made of (kernel
 *    'SlimFusedBatchNormGrad');
 *  - elsewhere, the same maths as tfjs-core's, with broadcasting instead of tile.
 * Per channel, with r = rsqrt(var + ε), S1 = Σ dy, S2 = Σ dy·(x − mean):
 *   dx = dy·scale·r,  dmean = −r·scale·S1,  dvar = −½·r³·scale·S2,  dscale = r·S2,  doffset = S1.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, requireFloat32, type BackendWasm } from './common.js';

export const FUSED_BN_GRAD_KERNEL = 'SlimFusedBatchNormGrad';

/** Rows (pixels) per block of the single pass. */
const BN_ROW_BLOCK = 128;

interface FusedBatchNormAttrs {
  varianceEpsilon: number;
}

/** The inputs every BatchNorm gradient kernel takes: x, dy, mean, variance[, scale] (float32) and ε. */
export interface BatchNormGradInputs {
  x: tf.TensorInfo;
  dy: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  scale?: tf.TensorInfo;
  varianceEpsilon: number;
}

export function batchNormGradInputs(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap },
  kernelName: string,
): BatchNormGradInputs {
  const { x, dy, mean, variance, scale } = args.inputs as Record<string, tf.TensorInfo | undefined> as Omit<
    BatchNormGradInputs,
    'varianceEpsilon'
  >;
  const { varianceEpsilon } = args.attrs as unknown as FusedBatchNormAttrs;
  requireFloat32(kernelName, x, dy, mean, variance, ...(scale ? [scale] : []));
  return { x, dy, mean, variance, scale, varianceEpsilon };
}

/** Heap views of those inputs. Take them only after every makeOutput: the heap may grow and detach earlier views. */
export function batchNormGradViews(backend: BackendWasm, inputs: BatchNormGradInputs) {
  return {
    xv: heapF32(backend, inputs.x),
    dyv: heapF32(backend, inputs.dy),
    meanv: heapF32(backend, inputs.mean),
    varv: heapF32(backend, inputs.variance),
    scalev: inputs.scale ? heapF32(backend, inputs.scale) : null,
  };
}

/** Inputs x, dy, mean, variance[, scale]; outputs [dx, dmean, dvariance, dscale, doffset]. */
function fusedBatchNormGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, FUSED_BN_GRAD_KERNEL);
  const inputs = batchNormGradInputs(args, FUSED_BN_GRAD_KERNEL);
  const { x, mean, varianceEpsilon } = inputs;
  const channels = mean.shape[0];
  const size = tf.util.sizeFromShape(x.shape);

  const dxInfo = backend.makeOutput(x.shape, 'float32');
  const outputs = [0, 1, 2, 3].map(() => backend.makeOutput([channels], 'float32'));
  const dx = heapF32(backend, dxInfo);
  const { xv, dyv, meanv, varv, scalev } = batchNormGradViews(backend, inputs);

  const rsqrt = new Float32Array(channels);
  const dxFactor = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    rsqrt[c] = 1 / Math.sqrt(varv[c] + varianceEpsilon);
    dxFactor[c] = rsqrt[c] * (scalev ? scalev[c] : 1);
  }
  // Blocks of rows, one channel at a time: the sums stay in registers (a per-element
  // read-modify-write of a per-channel array was ~40% slower) and a block stays in cache.
  // Float64 totals: the sums run over batch·height·width terms.
  const sumDy = new Float64Array(channels);
  const sumDyCentered = new Float64Array(channels);
  const rows = size / channels;
  for (let firstRow = 0; firstRow < rows; firstRow += BN_ROW_BLOCK) {
    const end = Math.min(rows, firstRow + BN_ROW_BLOCK) * channels;
    for (let c = 0; c < channels; c++) {
      const m = meanv[c];
      const factor = dxFactor[c];
      let s1 = 0;
      let s2 = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) {
        const g = dyv[i];
        s1 += g;
        s2 += g * (xv[i] - m);
        dx[i] = g * factor;
      }
      sumDy[c] += s1;
      sumDyCentered[c] += s2;
    }
  }
  const [dMean, dVariance, dScale, dOffset] = outputs.map((o) => heapF32(backend, o)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  for (let c = 0; c < channels; c++) {
    const r = rsqrt[c];
    const s = scalev ? scalev[c] : 1;
    dMean[c] = -r * s * sumDy[c];
    dVariance[c] = -0.5 * r * r * r * s * sumDyCentered[c];
    dScale[c] = r * sumDyCentered[c];
    dOffset[c] = sumDy[c]!;
  }
  return [dxInfo, ...outputs];
}

export const fusedBatchNormGradKernelConfig: tf.KernelConfig = {
  kernelName: FUSED_BN_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: fusedBatchNormGrad,
};

type Grads = Record<string, () => tf.Tensor>;

/** The single-pass wasm kernel applies: per-channel stats over the last axis, float32. */
function kernelApplies(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor | undefined): boolean {
  const channels = x.shape[x.rank - 1];
  const perChannel = (t: tf.Tensor | undefined): boolean => t === undefined || (t.rank === 1 && t.shape[0] === channels);
  return (
    tf.getBackend() === 'wasm' &&
    tf.getKernel(FUSED_BN_GRAD_KERNEL, 'wasm') !== undefined &&
    x.dtype === 'float32' &&
    perChannel(mean) &&
    perChannel(variance) &&
    perChannel(scale)
  );
}

function gradients(dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): Grads {
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];

  if (kernelApplies(x, mean, variance, scale ?? undefined)) {
    // One kernel run serves every input's gradient. Run now, not inside the closures: the
    // tape calls each closure in its own tidy, which would dispose the shared results. The
    // ones the tape does not consume are disposed by the tidy around the whole backward pass.
    const results = tf.engine().runKernel(FUSED_BN_GRAD_KERNEL, scale ? { x, dy, mean, variance, scale } : { x, dy, mean, variance }, {
      varianceEpsilon,
    }) as tf.Tensor[];
    const get = (index: number) => (): tf.Tensor => results[index];
    return { x: get(0), mean: get(1), variance: get(2), scale: get(3), offset: get(4) };
  }

  // Generic path (any backend): tfjs-core's maths, broadcasting instead of tile.
  const scaleValue = scale ?? tf.scalar(1);
  const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
  const reduce = (t: tf.Tensor): tf.Tensor => tf.reshape(reductionAxes.length > 0 ? tf.sum(t, reductionAxes) : t, mean.shape);
  const rsqrt = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
  const centered = (): tf.Tensor => tf.sub(x, mean);
  const dyScaled = (): tf.Tensor => tf.mul(dy, scaleValue);
  return {
    x: () => tf.reshape(tf.mul(dy, tf.mul(rsqrt, scaleValue)), x.shape),
    mean: () => reduce(tf.mul(tf.neg(rsqrt), dyScaled())),
    variance: () => reduce(tf.mul(tf.mul(tf.mul(tf.mul(rsqrt, rsqrt), tf.mul(rsqrt, -0.5)), centered()), dyScaled())),
    scale: () => reduce(tf.mul(dy, tf.mul(centered(), rsqrt))),
    offset: () => reduce(dy),
  };
}

export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: gradients as tf.GradConfig['gradFunc'],
};
