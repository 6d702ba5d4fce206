/**
 * A faster gradient for ClipByValue (ReLU6 in MobileNets: tf.layers.reLU({maxValue: 6})).
 *
 * tfjs-core's gradient is where(logicalAnd(x ≥ min, x ≤ max), dy, zerosLike(dy)): five
 * full-size kernels and four temporaries (~18 % of a MobileNetV2 training step on wasm).
 * slim registers its own gradient (tf.registerGradient is global): on wasm, one JS pass
 * (kernel 'SlimClipByValueGrad'); elsewhere exactly tfjs-core's ops.
 */
import * as tf from '#tfjs';
import { CLIP_GRAD_KERNEL } from './clip-by-value-grad-kernel.js';

function gradients(dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [x] = saved as [tf.Tensor];
  const { clipValueMin, clipValueMax } = attrs as unknown as tf.ClipByValueAttrs;
  const fast =
    tf.getBackend() === 'wasm' &&
    tf.getKernel(CLIP_GRAD_KERNEL, 'wasm') !== undefined &&
    x.dtype === 'float32' &&
    dy.dtype === 'float32' &&
    tf.util.arraysEqual(x.shape, dy.shape);
  if (fast) {
    return { x: () => tf.engine().runKernel<tf.Tensor>(CLIP_GRAD_KERNEL, { x, dy }, { clipValueMin, clipValueMax }) };
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
