/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (stock tfjs-backend-wasm 4.22 has
 * none): direct loops over the wasm heap (see depthwise-backprop-common.ts).
 */
import * as tf from '#tfjs';
import { type BackendWasm, float32Inputs, heapF32, withOutputSizeOf } from './common.js';
import { type Shape4, depthwiseInfo, tapRanges } from './depthwise-backprop-common.js';

function depthwiseBackpropFilter(args: {
  inputs: tf.DepthwiseConv2dNativeBackpropFilterInputs;
  backend: BackendWasm;
  attrs: tf.DepthwiseConv2dNativeBackpropFilterAttrs;
}): tf.TensorInfo {
  const kernelName = 'DepthwiseConv2dNativeBackpropFilter';
  const { backend, attrs } = args;
  const { x, dy } = float32Inputs(kernelName, args.inputs, 'x', 'dy');
  const info = withOutputSizeOf(dy, depthwiseInfo(x.shape as Shape4, attrs.filterShape, attrs));
  const { batchSize, inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const channels = info.inChannels;
  const outChannels = info.outChannels;
  const multiplier = outChannels / channels;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const out = backend.makeOutput(attrs.filterShape, 'float32');
  const dw = heapF32(backend, out);
  const xv = heapF32(backend, x);
  const dyv = heapF32(backend, dy);
  dw.fill(0);
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
            if (multiplier === 1) {
              for (let c = 0; c < channels; c++) dw[wOffset + c] += xv[xOffset + c] * dyv[dyOffset + c];
            } else {
              for (let c = 0; c < channels; c++) {
                const xValue = xv[xOffset + c];
                const base = c * multiplier;
                for (let m = 0; m < multiplier; m++) dw[wOffset + base + m] += xValue * dyv[dyOffset + base + m];
              }
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
