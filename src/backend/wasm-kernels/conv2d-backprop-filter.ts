/**
 * Conv2DBackpropFilter for the wasm backend (stock tfjs-backend-wasm 4.22 has none).
 *
 * dW[kh,kw,ci,co] = Σ_{b,y,x} x[b, y·sh + kh·dh − top, x·sw + kw·dw − left, ci] · dy[b,y,x,co]
 * computed as im2colᵀ(x) · dy: the gather runs in JS, the product in wasm BatchMatMul.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type BackendWasm,
  type Conv2DInfo,
  type PadArg,
  type RoundingMode,
  MAX_GATHER_ELEMENTS,
  asWasmBackend,
  disposeInfo,
  heapF32,
  matMul,
  requireChannelsLast,
  requireFloat32,
  withOutputSizeOf,
} from './common.js';

const KERNEL = 'Conv2DBackpropFilter';

interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: PadArg;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: RoundingMode;
  filterShape: [number, number, number, number];
  /** Not part of tfjs's attrs today (core refuses dilated conv gradients); honoured if present. */
  dilations?: [number, number] | number;
}

/**
 * Writes the patches of images [firstImage, firstImage + imageCount) into `colsT`, transposed:
 * one row per filter tap and input channel ([kh][kw][ci] order, the filter layout), one column
 * per output position. Transposed because the wasm BatchMatMul is ~10× faster without
 * transpose flags (XNNPACK path). This is the inner loop a faster path would replace.
 */
export function im2colTransposedNHWC(x: Float32Array, colsT: Float32Array, info: Conv2DInfo, firstImage: number, imageCount: number): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const imageStride = inHeight * inWidth * inChannels;
  const rowStride = inWidth * inChannels;
  const columns = imageCount * outHeight * outWidth;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const firstRow = (kh * filterWidth + kw) * inChannels;
      let column = 0;
      for (let b = firstImage; b < firstImage + imageCount; b++) {
        for (let oy = 0; oy < outHeight; oy++) {
          const iy = oy * strideHeight + kh * dilationHeight - top;
          const rowInside = iy >= 0 && iy < inHeight;
          const rowBase = b * imageStride + iy * rowStride;
          for (let ox = 0; ox < outWidth; ox++, column++) {
            const ix = ox * strideWidth + kw * dilationWidth - left;
            let dst = firstRow * columns + column;
            if (!rowInside || ix < 0 || ix >= inWidth) {
              for (let c = 0; c < inChannels; c++, dst += columns) colsT[dst] = 0;
            } else {
              const src = rowBase + ix * inChannels;
              for (let c = 0; c < inChannels; c++, dst += columns) colsT[dst] = x[src + c]!;
            }
          }
        }
      }
    }
  }
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, KERNEL);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  requireFloat32(KERNEL, x, dy);
  requireChannelsLast(KERNEL, attrs.dataFormat);

  const computed = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  // tfjs-core's conv2d gradient drops dimRoundingMode, so the info above can be one row or
  // column short of the dy the forward pass produced; dy's own shape is the truth.
  const info = withOutputSizeOf(dy, computed);
  const { batchSize, outHeight, outWidth, outChannels, inChannels, filterHeight, filterWidth } = info;
  const patchSize = filterHeight * filterWidth * inChannels;
  const rowsPerImage = outHeight * outWidth;

  const imagesPerChunk = Math.max(1, Math.floor(MAX_GATHER_ELEMENTS / Math.max(1, rowsPerImage * patchSize)));
  if (imagesPerChunk >= batchSize) {
    const product = gatherAndMultiply(backend, x, dy, info, 0, batchSize, false);
    return { dataId: product.dataId, shape: attrs.filterShape, dtype: 'float32' };
  }

  // Large inputs: bound the gather buffer, accumulate the partial products in JS.
  const accumulated = new Float32Array(patchSize * outChannels);
  for (let first = 0; first < batchSize; first += imagesPerChunk) {
    const count = Math.min(imagesPerChunk, batchSize - first);
    const product = gatherAndMultiply(backend, x, dy, info, first, count, true);
    const partial = heapF32(backend, product);
    for (let i = 0; i < accumulated.length; i++) accumulated[i] += partial[i];
    disposeInfo(backend, product);
  }
  return backend.makeOutput(attrs.filterShape, 'float32', undefined, accumulated);
}

/** im2col of a run of images, times the matching rows of dy. Caller disposes the result. */
function gatherAndMultiply(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: Conv2DInfo,
  firstImage: number,
  imageCount: number,
  copyDyRows: boolean,
): tf.TensorInfo {
  const rows = imageCount * info.outHeight * info.outWidth;
  const patchSize = info.filterHeight * info.filterWidth * info.inChannels;
  const colsT = backend.makeOutput([1, patchSize, rows], 'float32');
  const dyRows = copyDyRows ? backend.makeOutput([1, rows, info.outChannels], 'float32') : null;
  // Views only after the allocations above (they may grow and detach the heap).
  im2colTransposedNHWC(heapF32(backend, x), heapF32(backend, colsT), info, firstImage, imageCount);
  let dyInfo: tf.TensorInfo = { dataId: dy.dataId, shape: [1, rows, info.outChannels], dtype: 'float32' };
  if (dyRows !== null) {
    const rowLength = info.outHeight * info.outWidth * info.outChannels;
    heapF32(backend, dyRows).set(heapF32(backend, dy).subarray(firstImage * rowLength, (firstImage + imageCount) * rowLength));
    dyInfo = dyRows;
  }
  try {
    return matMul(backend, colsT, dyInfo);
  } finally {
    disposeInfo(backend, colsT);
    if (dyRows !== null) disposeInfo(backend, dyRows);
  }
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: KERNEL,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as tf.KernelFunc,
};
