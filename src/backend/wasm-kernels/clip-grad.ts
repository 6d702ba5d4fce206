/**
 * A faster gradient for ClipByValue (ReLU6 in MobileNets: tf.layers.reLU({maxValue: 6})).
 *
 * tfjs-core's gradient is where(logicalAnd(x ≥ min, x ≤ max), dy, zerosLike(dy)): five
 * full-size kernels and four temporaries (~18 % of a MobileNetV2 training step on wasm).
 * slim registers its own gradient (tf.registerGradient is global): on wasm, one JS pass
 * (kernel 'SlimClipByValueGrad'); elsewhere exactly tfjs-core's ops.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, requireFloat32 } from './common.js';

export const CLIP_GRAD_KERNEL = 'SlimClipByValueGrad';

interface ClipAttrs {
  clipValueMin: number;
  clipValueMax: number;
}

/** dx = dy where min ≤ x ≤ max, else 0 (NaN x gives 0, as core's comparisons do). */
function clipByValueGrad(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, CLIP_GRAD_KERNEL);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { clipValueMin, clipValueMax } = args.attrs as unknown as ClipAttrs;
  requireFloat32(CLIP_GRAD_KERNEL, x, dy);
  const out = backend.makeOutput(x.shape, 'float32');
  const dx = heapF32(backend, out);
  const xv = heapF32(backend, x);
  const dyv = heapF32(backend, dy);
  for (let i = 0; i < dx.length; i++) {
    const value = xv[i];
    dx[i] = value >= clipValueMin && value <= clipValueMax ? dyv[i] : 0;
  }
  return out;
}

export const clipByValueGradKernelConfig: tf.KernelConfig = {
  kernelName: CLIP_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: clipByValueGrad,
};

function gradients(dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [x] = saved as [tf.Tensor];
  const { clipValueMin, clipValueMax } = attrs as unknown as ClipAttrs;
  const fast =
    tf.getBackend() === 'wasm' &&
    tf.getKernel(CLIP_GRAD_KERNEL, 'wasm') !== undefined &&
    x.dtype === 'float32' &&
    dy.dtype === 'float32' &&
    tf.util.arraysEqual(x.shape, dy.shape);
  if (fast) {
    return { x: () => tf.engine().runKernel(CLIP_GRAD_KERNEL, { x, dy }, { clipValueMin, clipValueMax }) as tf.Tensor };
  }
  return {
    x: () => tf.where(tf.logicalAnd(tf.greaterEqual(x, clipValueMin), tf.lessEqual(x, clipValueMax)), dy, tf.zerosLike(dy)),
  };
}

export const clipByValueGradConfig: tf.GradConfig = {
  kernelName: 'ClipByValue',
  inputsToSave: ['x'],
  gradFunc: gradients as tf.GradConfig['gradFunc'],
};
