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
import * as tf from '#tfjs';
import { FUSED_BN_GRAD_KERNEL } from './fused-batch-norm-grad-kernel.js';

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
  const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
  const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];

  if (kernelApplies(x, mean, variance, scale ?? undefined)) {
    // One kernel run serves every input's gradient. Run now, not inside the closures: the
    // tape calls each closure in its own tidy, which would dispose the shared results. The
    // ones the tape does not consume are disposed by the tidy around the whole backward pass.
    const results = tf
      .engine()
      .runKernel<tf.Tensor[]>(FUSED_BN_GRAD_KERNEL, scale ? { x, dy, mean, variance, scale } : { x, dy, mean, variance }, {
        varianceEpsilon,
      });
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
