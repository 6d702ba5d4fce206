/**
 * MaxPoolGrad for the wasm backend, replacing the stock C++ one (per input element it
 * revisits every window that covers it). Here each output position scans its window once,
 * all channels together, and routes dy to the arg-max: the first strictly greatest input in
 * row-major window order, as tfjs's cpu backend does (this decides ties, e.g. ReLU zeros).
 * Windows are clipped to the image (padding never wins).
 */
import * as tf from '#tfjs';
import { type BackendWasm, float32Inputs, heapF32, withOutputSizeOf } from './common.js';

const KERNEL = 'MaxPoolGrad';

function maxPoolGrad(args: { inputs: tf.MaxPoolGradInputs; backend: BackendWasm; attrs: tf.MaxPoolGradAttrs }): tf.TensorInfo {
  const { backend, attrs } = args;
  // 'output' (the forward result) is not needed: the arg-max is found again from 'input'.
  const { dy, input } = float32Inputs(KERNEL, args.inputs, 'dy', 'input');
  const computed = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const info = withOutputSizeOf(dy, computed);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight, effectiveFilterWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const out = backend.makeOutput(input.shape, 'float32');
  const dx = heapF32(backend, out);
  const x = heapF32(backend, input);
  const dyv = heapF32(backend, dy);
  dx.fill(0);
  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const rowCorner = oy * strideHeight - top;
      let rowStart = rowCorner;
      while (rowStart < 0) rowStart += dilationHeight;
      const rowEnd = Math.min(inHeight, rowCorner + effectiveFilterHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const columnCorner = ox * strideWidth - left;
        let columnStart = columnCorner;
        while (columnStart < 0) columnStart += dilationWidth;
        const columnEnd = Math.min(inWidth, columnCorner + effectiveFilterWidth);
        best.fill(Number.NEGATIVE_INFINITY);
        bestAt.fill(-1);
        for (let iy = rowStart; iy < rowEnd; iy += dilationHeight) {
          for (let ix = columnStart; ix < columnEnd; ix += dilationWidth) {
            const base = ((b * inHeight + iy) * inWidth + ix) * channels;
            for (let c = 0; c < channels; c++) {
              const value = x[base + c];
              if (value > best[c]) {
                best[c] = value;
                bestAt[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((b * outHeight + oy) * outWidth + ox) * channels;
        for (let c = 0; c < channels; c++) {
          const at = bestAt[c];
          if (at >= 0) dx[at] += dyv[dyBase + c];
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: KERNEL,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
