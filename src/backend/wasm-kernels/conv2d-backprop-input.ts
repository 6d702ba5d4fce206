/**
 * Conv2DBackpropInput for the wasm backend, replacing the stock one (a naive C++ loop that
 * took half of a training step). The input gradient of a convolution is itself a
 * convolution: dx = dy' ⋆ W', where
 *  - W'[kh, kw, co, ci] = W[fh−1−kh, fw−1−kw, ci, co] (rotated 180°, in/out swapped), and
 *  - dy' is dy with (stride−1) zeros between entries and "full" padding
 *    top' = (fh−1)·dh − top, left' = (fw−1)·dw − left around it,
 * so it runs on the wasm backend's XNNPACK Conv2D kernel. Stride 1 with non-negative
 * padding passes dy straight to Conv2D with explicit padding; every other case first builds
 * the zero-inserted, padded dy' in JS and runs a 'valid' convolution.
 */
import * as tf from '#tfjs';
import {
  type BackendWasm,
  type Conv2DInfo,
  convGradientInfo,
  conv2d,
  disposeInfo,
  float32Inputs,
  heapF32,
  requireChannelsLast,
} from './common.js';

const KERNEL = 'Conv2DBackpropInput';

/** W [fh, fw, ci, co] → W' [fh, fw, co, ci], rotated 180° spatially. */
function rotateAndSwapFilter(w: Float32Array, out: Float32Array, fh: number, fw: number, ci: number, co: number): void {
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const src = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * ci * co;
      const dst = (kh * fw + kw) * co * ci;
      for (let i = 0; i < ci; i++) {
        const srcRow = src + i * co;
        for (let o = 0; o < co; o++) out[dst + o * ci + i] = w[srcRow + o]!;
      }
    }
  }
}

/** Padding of the equivalent forward convolution on dy (may be negative). */
export function fullPadding(info: Conv2DInfo): { top: number; bottom: number; left: number; right: number } {
  const effectiveHeight = (info.filterHeight - 1) * info.dilationHeight + 1;
  const effectiveWidth = (info.filterWidth - 1) * info.dilationWidth + 1;
  const zeroInsertedHeight = (info.outHeight - 1) * info.strideHeight + 1;
  const zeroInsertedWidth = (info.outWidth - 1) * info.strideWidth + 1;
  const top = effectiveHeight - 1 - info.padInfo.top;
  const left = effectiveWidth - 1 - info.padInfo.left;
  // Chosen so the convolution's output is exactly inHeight × inWidth.
  const bottom = info.inHeight - zeroInsertedHeight - top + effectiveHeight - 1;
  const right = info.inWidth - zeroInsertedWidth - left + effectiveWidth - 1;
  return { top, bottom, left, right };
}

/**
 * Writes dy into `padded` ([B, inH + effFh − 1, inW + effFw − 1, Co], pre-zeroed) at
 * row top' + oy·sh, column left' + ox·sw; entries that land outside touch no dx and are dropped.
 */
export function scatterPaddedDy(dy: Float32Array, padded: Float32Array, info: Conv2DInfo, top: number, left: number): void {
  const { batchSize, outHeight, outWidth, outChannels, strideHeight, strideWidth } = info;
  const paddedHeight = info.inHeight + (info.filterHeight - 1) * info.dilationHeight;
  const paddedWidth = info.inWidth + (info.filterWidth - 1) * info.dilationWidth;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const row = top + oy * strideHeight;
      if (row < 0 || row >= paddedHeight) continue;
      for (let ox = 0; ox < outWidth; ox++) {
        const column = left + ox * strideWidth;
        if (column < 0 || column >= paddedWidth) continue;
        const src = ((b * outHeight + oy) * outWidth + ox) * outChannels;
        const dst = ((b * paddedHeight + row) * paddedWidth + column) * outChannels;
        padded.set(dy.subarray(src, src + outChannels), dst);
      }
    }
  }
}

function conv2DBackpropInput(args: {
  inputs: tf.Conv2DBackpropInputInputs;
  backend: BackendWasm;
  attrs: tf.Conv2DBackpropInputAttrs;
}): tf.TensorInfo {
  const { backend, attrs } = args;
  const { dy, filter } = float32Inputs(KERNEL, args.inputs, 'dy', 'filter');
  requireChannelsLast(KERNEL, attrs.dataFormat);
  const info = convGradientInfo(attrs.inputShape, filter.shape as [number, number, number, number], attrs, dy);
  const { filterHeight, filterWidth, inChannels, outChannels } = info;

  const rotated = backend.makeOutput([filterHeight, filterWidth, outChannels, inChannels], 'float32');
  rotateAndSwapFilter(heapF32(backend, filter), heapF32(backend, rotated), filterHeight, filterWidth, inChannels, outChannels);
  const dilations: [number, number] = [info.dilationHeight, info.dilationWidth];
  const pad = fullPadding(info);
  try {
    const direct = info.strideHeight === 1 && info.strideWidth === 1 && Math.min(pad.top, pad.bottom, pad.left, pad.right) >= 0;
    if (direct) {
      const explicit: tf.backend_util.ExplicitPadding = [
        [0, 0],
        [pad.top, pad.bottom],
        [pad.left, pad.right],
        [0, 0],
      ];
      return conv2d(backend, dy, rotated, { strides: [1, 1], dilations, pad: explicit });
    }
    return viaPaddedDy(backend, dy, rotated, info, pad, dilations);
  } finally {
    disposeInfo(backend, rotated);
  }
}

function viaPaddedDy(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  rotated: tf.TensorInfo,
  info: Conv2DInfo,
  pad: { top: number; left: number },
  dilations: [number, number],
): tf.TensorInfo {
  const paddedHeight = info.inHeight + (info.filterHeight - 1) * info.dilationHeight;
  const paddedWidth = info.inWidth + (info.filterWidth - 1) * info.dilationWidth;
  const padded = backend.makeOutput([info.batchSize, paddedHeight, paddedWidth, info.outChannels], 'float32');
  try {
    const paddedView = heapF32(backend, padded);
    paddedView.fill(0);
    scatterPaddedDy(heapF32(backend, dy), paddedView, info, pad.top, pad.left);
    return conv2d(backend, padded, rotated, { strides: [1, 1], dilations, pad: 'valid' });
  } finally {
    disposeInfo(backend, padded);
  }
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: KERNEL,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
