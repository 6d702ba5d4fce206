/**
 * Shared plumbing for slim's wasm training kernels.
 *
 * The kernels read their inputs straight from the wasm heap, gather data in JS and hand
 * the heavy matrix product to the wasm backend's own BatchMatMul kernel (XNNPACK / C++).
 * Rules that every kernel here follows:
 *  - allocate first, then take heap views: any allocation may grow the wasm memory and
 *    detach earlier views of the heap;
 *  - every intermediate TensorInfo made with `backend.makeOutput` is released with
 *    `backend.disposeData` before the kernel returns (tests check numBytes stays flat).
 */
import * as tf from '#tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };
export type Conv2DInfo = tf.backend_util.Conv2DInfo;
export type PadArg = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
export type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/**
 * Conv2DInfo for a conv gradient kernel. tfjs-core's conv2d gradient drops dimRoundingMode, so the
 * computed output size can be one row or column short of the dy the forward pass produced; dy's
 * own shape is the truth.
 */
export function convGradientInfo(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvGradientAttrs,
  dy: tf.TensorInfo,
): Conv2DInfo {
  const computed = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  return withOutputSizeOf(dy, computed);
}

/**
 * The attrs tfjs passes to both conv gradient kernels (NHWC; slim refuses NCHW), plus dilations:
 * not part of tfjs's conv2d gradient attrs today (core refuses dilated conv gradients); honoured if present.
 */
export type ConvGradientAttrs = Pick<tf.Conv2DBackpropFilterAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'> & {
  dilations?: [number, number] | number;
};

/** Upper bound (in float32 elements) of one im2col buffer; larger jobs are split by image. */
export const MAX_GATHER_ELEMENTS = 1 << 23; // 32 MiB of float32

/**
 * The named inputs, checked present and float32. tfjs-core types every named input as possibly
 * undefined (NamedTensorInfoMap); the engine passes what the op gave.
 */
export function float32Inputs<Name extends string>(
  kernelName: string,
  inputs: { [name in Name]?: tf.TensorInfo | undefined },
  ...names: Name[]
): Record<Name, tf.TensorInfo> {
  const present = {} as Record<Name, tf.TensorInfo>;
  for (const name of names) {
    const info = inputs[name];
    if (info === undefined) throw new Error(`slim wasm kernel ${kernelName}: missing input '${name}'`);
    present[name] = info;
  }
  requireFloat32(kernelName, ...Object.values<tf.TensorInfo>(present));
  return present;
}

/** A new TensorInfo sharing x's data (tensors are immutable), reference-counted as the cpu backend does. */
export function shareData(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Current float32 view of a tensor's data on the wasm heap (valid until the next allocation). */
export function heapF32(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function requireFloat32(kernelName: string, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') {
      throw new Error(`slim wasm kernel ${kernelName}: only float32 is supported, got ${info.dtype}`);
    }
  }
}

export function requireChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`slim wasm kernel ${kernelName}: only NHWC (channelsLast) is supported, got ${dataFormat}`);
  }
}

/**
 * out = a·b for a:[1, m, k] and b:[1, k, n] (row-major), run by the wasm BatchMatMul kernel.
 * No transpose flags: that is the kernel's fast (XNNPACK) path. The caller owns (and must
 * dispose) the returned [1, m, n] TensorInfo.
 */
export function matMul(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const kernel = tf.getKernel('BatchMatMul', 'wasm');
  if (kernel === undefined) throw new Error('slim wasm kernels: the wasm backend has no BatchMatMul kernel');
  const result = kernel.kernelFunc({
    inputs: { a, b },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
  // BatchMatMul returns a single TensorInfo.
  return result as tf.TensorInfo;
}

export function disposeInfo(backend: BackendWasm, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId);
}

/** The conv info with outHeight/outWidth taken from dy (NHWC), the shape the forward pass made. */
export function withOutputSizeOf(dy: tf.TensorInfo, info: Conv2DInfo): Conv2DInfo {
  const [, outHeight, outWidth] = dy.shape;
  if (outHeight === info.outHeight && outWidth === info.outWidth) return info;
  if (outHeight === undefined || outWidth === undefined)
    throw new Error(`slim wasm kernels: dy must be rank 4, got [${dy.shape.join(', ')}]`);
  return { ...info, outHeight, outWidth };
}

/**
 * out = conv2d(x, filter) (NHWC, filter [fh, fw, in, out]) run by the wasm backend's own
 * Conv2D kernel (XNNPACK). The caller owns (and must dispose) the returned TensorInfo.
 */
export function conv2d(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: { strides: [number, number]; dilations: [number, number]; pad: 'valid' | tf.backend_util.ExplicitPadding },
): tf.TensorInfo {
  const kernel = tf.getKernel('Conv2D', 'wasm');
  if (kernel === undefined) throw new Error('slim wasm kernels: the wasm backend has no Conv2D kernel');
  return kernel.kernelFunc({ inputs: { x, filter }, backend, attrs: { ...attrs, dataFormat: 'NHWC' } }) as tf.TensorInfo;
}
