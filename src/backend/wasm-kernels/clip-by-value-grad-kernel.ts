/**
 * 'SlimClipByValueGrad': the one-pass wasm kernel behind slim's ClipByValue gradient
 * (clip-by-value-gradient.ts).
 */
import * as tf from '#tfjs';
import { type BackendWasm, float32Inputs, heapF32 } from './common.js';

export const CLIP_GRAD_KERNEL = 'SlimClipByValueGrad';

/** The kernel's inputs: the forward op's x and the incoming gradient dy (same shape, float32). */
export type ClipByValueGradInputs = Pick<tf.NamedTensorInfoMap, 'x' | 'dy'>;

/** dx = dy where min ≤ x ≤ max, else 0 (NaN x gives 0, as core's comparisons do). */
function clipByValueGrad(args: { inputs: ClipByValueGradInputs; backend: BackendWasm; attrs: tf.ClipByValueAttrs }): tf.TensorInfo {
  const { backend } = args;
  const { x, dy } = float32Inputs(CLIP_GRAD_KERNEL, args.inputs, 'x', 'dy');
  const { clipValueMin, clipValueMax } = args.attrs;
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
  kernelFunc: clipByValueGrad as unknown as tf.KernelFunc,
};
