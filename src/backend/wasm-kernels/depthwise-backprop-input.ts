/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (stock tfjs-backend-wasm 4.22 has none).
 *  - Multiplier 1 (every MobileNet): like a dense conv's input gradient, it is a depthwise
 *    convolution of dy (zero-inserted for stride > 1, "full" padding) with the filter rotated
 *    180°, so it runs on the wasm backend's XNNPACK DepthwiseConv2dNative.
 *  - Multiplier > 1: direct loops over the wasm heap (see depthwise-backprop-common.ts).
 */
import * as tf from '#tfjs';
import { type BackendWasm, type Conv2DInfo, disposeInfo, float32Inputs, heapF32, withOutputSizeOf } from './common.js';
import { fullPadding, scatterPaddedDy } from './conv2d-backprop-input.js';
import { type Shape4, depthwiseInfo, tapRanges } from './depthwise-backprop-common.js';

/** filter [fh, fw, C, 1] → rotated 180° spatially, same layout. */
function rotateDepthwiseFilter(w: Float32Array, out: Float32Array, fh: number, fw: number, channels: number): void {
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const src = ((fh - 1 - kh) * fw + (fw - 1 - kw)) * channels;
      out.set(w.subarray(src, src + channels), (kh * fw + kw) * channels);
    }
  }
}

function depthwiseConv(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  dilations: [number, number],
  pad: 'valid' | tf.backend_util.ExplicitPadding,
): tf.TensorInfo {
  const kernel = tf.getKernel('DepthwiseConv2dNative', 'wasm');
  if (kernel === undefined) throw new Error('slim wasm kernels: the wasm backend has no DepthwiseConv2dNative kernel');
  return kernel.kernelFunc({
    inputs: { x, filter },
    backend,
    attrs: { strides: [1, 1], dilations, pad, dataFormat: 'NHWC' },
  }) as tf.TensorInfo;
}

/** Multiplier 1: dx = depthwise(dy', rotated W) on XNNPACK (see the file comment). */
function depthwiseInputViaConv(backend: BackendWasm, dy: tf.TensorInfo, filter: tf.TensorInfo, info: Conv2DInfo): tf.TensorInfo {
  const { filterHeight, filterWidth, inChannels } = info;
  const rotated = backend.makeOutput([filterHeight, filterWidth, inChannels, 1], 'float32');
  rotateDepthwiseFilter(heapF32(backend, filter), heapF32(backend, rotated), filterHeight, filterWidth, inChannels);
  const dilations: [number, number] = [info.dilationHeight, info.dilationWidth];
  const pad = fullPadding(info);
  try {
    if (info.strideHeight === 1 && info.strideWidth === 1 && Math.min(pad.top, pad.bottom, pad.left, pad.right) >= 0) {
      return depthwiseConv(backend, dy, rotated, dilations, [
        [0, 0],
        [pad.top, pad.bottom],
        [pad.left, pad.right],
        [0, 0],
      ]);
    }
    const paddedHeight = info.inHeight + (filterHeight - 1) * info.dilationHeight;
    const paddedWidth = info.inWidth + (filterWidth - 1) * info.dilationWidth;
    const padded = backend.makeOutput([info.batchSize, paddedHeight, paddedWidth, info.outChannels], 'float32');
    try {
      const paddedView = heapF32(backend, padded);
      paddedView.fill(0);
      scatterPaddedDy(heapF32(backend, dy), paddedView, info, pad.top, pad.left);
      return depthwiseConv(backend, padded, rotated, dilations, 'valid');
    } finally {
      disposeInfo(backend, padded);
    }
  } finally {
    disposeInfo(backend, rotated);
  }
}

function depthwiseBackpropInput(args: {
  inputs: tf.DepthwiseConv2dNativeBackpropInputInputs;
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropInputAttrs;
}): tf.TensorInfo {
  const kernelName = 'DepthwiseConv2dNativeBackpropInput';
  const { backend, attrs } = args;
  const { dy, filter } = float32Inputs(kernelName, args.inputs, 'dy', 'filter');
  const info = withOutputSizeOf(dy, depthwiseInfo(attrs.inputShape, filter.shape as Shape4, attrs));
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  if (multiplier === 1) return depthwiseInputViaConv(backend, dy, filter, info);

  const { batchSize, inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const outChannels = info.outChannels;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(attrs.inputShape, 'float32');
  const dx = heapF32(backend, out);
  const dyv = heapF32(backend, dy);
  const wv = heapF32(backend, filter);
  dx.fill(0);
  const rowTaps = tapRanges(outHeight, strideHeight, dilationHeight, top, filterHeight, inHeight);
  const columnTaps = tapRanges(outWidth, strideWidth, dilationWidth, left, filterWidth, inWidth);
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const khFirst = rowTaps.first[oy];
      const khEnd = rowTaps.end[oy];
      for (let ox = 0; ox < outWidth; ox++) {
        const kwFirst = columnTaps.first[ox];
        const kwEnd = columnTaps.end[ox];
        const dyOffset = ((b * outHeight + oy) * outWidth + ox) * outChannels;
        for (let kh = khFirst; kh < khEnd; kh++) {
          const iy = oy * strideHeight + kh * dilationHeight - top;
          for (let kw = kwFirst; kw < kwEnd; kw++) {
            const ix = ox * strideWidth + kw * dilationWidth - left;
            const xOffset = ((b * inHeight + iy) * inWidth + ix) * channels;
            const wOffset = (kh * filterWidth + kw) * outChannels;
            for (let c = 0; c < channels; c++) {
              const base = c * multiplier;
              let sum = 0;
              for (let m = 0; m < multiplier; m++) sum += dyv[dyOffset + base + m] * wv[wOffset + base + m];
              dx[xOffset + c] += sum;
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};
