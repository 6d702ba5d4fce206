/**
 * A fused training-mode BatchNormalization for slim's training loop.
 *
 * tfjs-layers' BatchNormalization in training mode runs tf.moments (Mean, SquaredDifference,
 * Mean), then FusedBatchNorm, and autodiff walks back through every one of those ops. Here the
 * forward is one moments computation plus one FusedBatchNorm, and the backward is the closed-form
 * BN gradient with batch statistics (one tape node), so x is read ~3 times forward and ~2 times
 * backward. On wasm both the moments and the gradient are single slim kernels
 * (src/backend/wasm-kernels/batch-moments.ts, batch-norm-training-grad.ts); on any other backend the same maths runs
 * with stock ops.
 */
import * as tf from '#tfjs';
import { BATCH_MOMENTS_KERNEL } from '../backend/wasm-kernels/batch-moments.js';
import { BN_TRAINING_GRAD_KERNEL } from '../backend/wasm-kernels/batch-norm-training-grad.js';

export interface BatchNormTrainingResult {
  /** (x − mean)/√(variance + ε)·γ + β, same shape as x. */
  y: tf.Tensor;
  /** Per-channel batch mean, shape [channels]. Constant to autodiff (no gradient flows through it). */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance (divided by the number of reduced elements), shape [channels]. */
  variance: tf.Tensor1D;
}

function onWasmWith(kernelName: string, x: tf.Tensor): boolean {
  return tf.getBackend() === 'wasm' && x.dtype === 'float32' && tf.getKernel(kernelName, 'wasm') !== undefined;
}

function leadingAxes(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

function batchMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (onWasmWith(BATCH_MOMENTS_KERNEL, x)) {
    const [mean, variance] = tf.engine().runKernel<tf.Tensor1D[]>(BATCH_MOMENTS_KERNEL, { x });
    return { mean: mean, variance: variance };
  }
  const { mean, variance } = tf.moments(x, leadingAxes(x.rank));
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** [dx, dγ, dβ] of y = (x − mean)·r·γ + β where mean and var are x's batch moments, r = 1/√(var + ε). */
function batchNormTrainingGrads(
  x: tf.Tensor,
  dy: tf.Tensor,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  gamma: tf.Tensor1D | undefined,
  epsilon: number,
): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  if (onWasmWith(BN_TRAINING_GRAD_KERNEL, x)) {
    const inputs: tf.NamedTensorMap = gamma ? { x, dy, mean, variance, scale: gamma } : { x, dy, mean, variance };
    const [dx, dGamma, dBeta] = tf.engine().runKernel<tf.Tensor[]>(BN_TRAINING_GRAD_KERNEL, inputs, { varianceEpsilon: epsilon });
    return [dx, dGamma as tf.Tensor1D, dBeta as tf.Tensor1D];
  }
  // dx = γ·r/M·(M·dy − Σdy − x̂·Σ(dy·x̂)),  dγ = Σ(dy·x̂),  dβ = Σdy  (x̂ = (x − mean)·r, M rows).
  return tf.tidy(() => {
    const axes = leadingAxes(x.rank);
    const rows = x.size / x.shape[x.rank - 1];
    const rsqrt = tf.rsqrt(tf.add(variance, epsilon));
    const normalised = tf.mul(tf.sub(x, mean), rsqrt);
    const sumDy = tf.sum<tf.Tensor1D>(dy, axes);
    const sumDyNormalised = tf.sum<tf.Tensor1D>(tf.mul(dy, normalised), axes);
    const gain = gamma ? tf.mul(gamma, rsqrt) : rsqrt;
    const centredDy = tf.sub(tf.sub(dy, tf.div(sumDy, rows)), tf.mul(normalised, tf.div(sumDyNormalised, rows)));
    const dx = tf.mul(centredDy, gain);
    return [dx, sumDyNormalised, sumDy] as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  });
}

/**
 * Batch normalisation with the batch's own statistics (training mode), over every axis but the
 * last: per channel, mean and biased variance of x, y = (x − mean)/√(variance + ε)·γ + β.
 * Differentiable in x, γ and β with the closed-form BN gradient (mean and variance are returned
 * as constants: tf.customGrad has one output). γ / β may be absent (scale / center false).
 * x: float32, rank 2 to 4 (what tf.batchNorm takes), e.g. (N, H, W, C) or (N, C).
 */
export function batchNormTraining(x: tf.Tensor, gamma?: tf.Tensor1D, beta?: tf.Tensor1D, epsilon = 1e-3): BatchNormTrainingResult {
  if (x.rank < 2 || x.rank > 4) throw new Error(`batchNormTraining: x must have rank 2 to 4, got shape [${x.shape.join(', ')}]`);
  const channels = x.shape[x.rank - 1];
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
  ] as const) {
    if (t !== undefined && (t.rank !== 1 || t.shape[0] !== channels)) {
      throw new Error(`batchNormTraining: ${name} must have shape [${channels}], got [${t.shape.join(', ')}]`);
    }
  }
  const { mean, variance } = batchMoments(x);
  // The moments are captured, not inputs: the tape then has one node (x, γ, β → y) whose
  // gradient already accounts for mean and variance depending on x.
  const inputs: tf.Tensor[] = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  const forward = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const y = tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
    // Saved (cloned and kept by the engine) because the caller's tidy may dispose the originals
    // before the backward pass runs.
    save(gamma ? [x, mean, variance, gamma] : [x, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [savedX, savedMean, savedVariance, savedGamma] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D | undefined];
        const [dx, dGamma, dBeta] = batchNormTrainingGrads(savedX, dy, savedMean, savedVariance, savedGamma, epsilon);
        const grads: tf.Tensor[] = [dx];
        if (gamma) grads.push(dGamma);
        else dGamma.dispose();
        if (beta) grads.push(dBeta);
        else dBeta.dispose();
        return grads;
      },
    };
  });
  // A named scope: tf.profile lists the op under this name (the '__op' suffix marks a wrapper of
  // kernels that are listed themselves, as tfjs's own ops are).
  const y = tf.tidy('batchNormTraining__op', () => forward(...inputs));
  return { y, mean, variance };
}

/**
 * Whether train() fuses BatchNorm when not told: on wasm (where it was measured, with its own
 * kernels) and cpu (same code path, keeps both single-threaded backends alike). Not on
 * 'tensorflow' (tfjs-node/-gpu): there slim leaves tfjs-layers' BatchNorm to TensorFlow's ops, as
 * on a GPU a layer patch of stock ops is unmeasured and one more thing that could differ.
 */
export function fusedBatchNormByDefault(backendName: string): boolean {
  return backendName === 'wasm' || backendName === 'cpu';
}

/** The BatchNormalization fields the fused call reads (private in tfjs-layers' typings). */
interface BatchNormFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: tf.LayerVariable;
  beta?: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type LayerCall = tf.layers.Layer['call'];
type CallKwargs = Parameters<LayerCall>[1];

/** Marks layers whose `call` is currently overridden, so a second install skips them. */
const installed = new WeakSet<tf.layers.Layer>();

function batchNormLayers(model: tf.LayersModel, found: Set<tf.layers.Layer> = new Set()): Set<tf.layers.Layer> {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) batchNormLayers(layer, found);
    else if (layer.getClassName() === 'BatchNormalization') found.add(layer);
  }
  return found;
}

/** The stock moving-average update, op for op: moving ← moving − (moving − batch)·(1 − momentum). */
function updateMovingAverage(variable: tf.LayerVariable, batchValue: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const decay = 1 - momentum;
    const original = variable.read();
    variable.write(tf.sub(original, tf.mul(tf.sub(original, batchValue), decay)));
  });
}

/**
 * Makes every BatchNormalization layer of `model` (nested models included) compute its
 * training-mode forward with batchNormTraining; returns the function that puts the stock
 * `call` back. Matches tfjs-layers 4.22 (layers/normalization.js): batch mean and biased
 * variance over all axes but the last, then moving_mean / moving_variance are updated at every
 * training-mode call with moving − (moving − batch)·(1 − momentum), the biased batch variance
 * included (no Bessel correction, as tfjs-layers does).
 * Inference-mode calls, and layers the fused path does not cover (axis not last, rank outside
 * 2–4, non-float32 input), run the stock `call`. With scale or center false the fused path
 * applies too (it simply has no γ or β), where stock tfjs 4.22 fails in training mode.
 *
 * Why overriding `call` on each layer instance: it is the one method tfjs-layers routes every
 * invocation through (Layer.apply and a functional model's internal graph both call
 * `layer.call`), so nothing else about the layer changes (weights, config, serialisation), and
 * an own property is undone exactly by deleting it. Patching the prototype would change every
 * BatchNormalization in the process, including models that are not being trained (replica
 * workers, evaluation copies), and could not be scoped to one `train()` run.
 */
export function useFusedBatchNorm(model: tf.LayersModel): () => void {
  const restorers: (() => void)[] = [];
  for (const layer of batchNormLayers(model)) {
    if (installed.has(layer)) continue;
    const fields = layer as unknown as BatchNormFields; // private in the typings; see BatchNormFields
    const hadOwnCall = Object.prototype.hasOwnProperty.call(layer, 'call');
    // eslint-disable-next-line @typescript-eslint/unbound-method -- re-invoked only via .call(this) and restored as-is
    const previousCall = layer.call;
    const fusedCall: LayerCall = function (this: tf.layers.Layer, inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs) {
      const training = kwargs['training'] == null ? false : Boolean(kwargs['training']);
      const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
      const axis = fields.axis >= 0 ? fields.axis : fields.axis + (input?.rank ?? 0);
      const covered =
        training &&
        input !== undefined &&
        input.dtype === 'float32' &&
        input.rank >= 2 &&
        input.rank <= 4 &&
        axis === input.rank - 1 &&
        (!fields.scale || fields.gamma !== undefined) &&
        (!fields.center || fields.beta !== undefined);
      if (!covered) return previousCall.call(this, inputs, kwargs);
      return tf.tidy(() => {
        const gamma = fields.scale ? (fields.gamma!.read() as tf.Tensor1D) : undefined;
        const beta = fields.center ? (fields.beta!.read() as tf.Tensor1D) : undefined;
        const { y, mean, variance } = batchNormTraining(input, gamma, beta, fields.epsilon);
        updateMovingAverage(fields.movingMean, mean, fields.momentum);
        updateMovingAverage(fields.movingVariance, variance, fields.momentum);
        return y;
      });
    };
    layer.call = fusedCall;
    installed.add(layer);
    restorers.push(() => {
      if (hadOwnCall) layer.call = previousCall;
      else delete (layer as Partial<Pick<tf.layers.Layer, 'call'>>).call;
      installed.delete(layer);
    });
  }
  let uninstalled = false;
  return () => {
    if (uninstalled) return;
    uninstalled = true;
    for (const restore of restorers) restore();
  };
}
