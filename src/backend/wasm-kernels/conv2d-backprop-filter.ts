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

/** Output positions per block of the transposed gather: the block's source pixels stay in L1. */
const GATHER_BLOCK = 128;

/**
 * Writes the patches of images [firstImage, firstImage + imageCount) into `colsT`, transposed:
 * one row per filter tap and input channel ([kh][kw][ci], the filter layout), one column per
 * output position. Transposed because the wasm BatchMatMul then packs only dy (its right
 * operand, repacked on every call since dy is new each step), not the 9× larger patches.
 * Cache-blocked: per tap, a block of positions is read once per channel from L1 and written
 * as contiguous runs of each row.
 */
export function im2colTransposedNHWC(x: Float32Array, colsT: Float32Array, info: Conv2DInfo, firstImage: number, imageCount: number): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const imageStride = inHeight * inWidth * inChannels;
  const columns = imageCount * outHeight * outWidth;
  // Per output position: top-left input corner and image offset.
  const cornerY = new Int32Array(columns);
  const cornerX = new Int32Array(columns);
  const imageAt = new Int32Array(columns);
  let column = 0;
  for (let b = firstImage; b < firstImage + imageCount; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, column++) {
        cornerY[column] = oy * strideHeight - info.padInfo.top;
        cornerX[column] = ox * strideWidth - info.padInfo.left;
        imageAt[column] = b * imageStride;
      }
    }
  }
  const sourceAt = new Int32Array(GATHER_BLOCK); // −1: the tap falls in the padding
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const firstRow = (kh * filterWidth + kw) * inChannels;
      for (let blockStart = 0; blockStart < columns; blockStart += GATHER_BLOCK) {
        const blockLength = Math.min(GATHER_BLOCK, columns - blockStart);
        for (let j = 0; j < blockLength; j++) {
          const iy = cornerY[blockStart + j]! + kh * dilationHeight;
          const ix = cornerX[blockStart + j]! + kw * dilationWidth;
          const inside = iy >= 0 && iy < inHeight && ix >= 0 && ix < inWidth;
          sourceAt[j] = inside ? imageAt[blockStart + j]! + (iy * inWidth + ix) * inChannels : -1;
        }
        for (let c = 0; c < inChannels; c++) {
          const dst = (firstRow + c) * columns + blockStart;
          for (let j = 0; j < blockLength; j++) {
            const src = sourceAt[j]!;
            colsT[dst + j] = src < 0 ? 0 : x[src + c]!;
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
  // dW [patch, co] = im2colᵀ · dy, summed over chunks of images.
  let accumulated: tf.TensorInfo | null = null;
  try {
    for (let first = 0; first < batchSize; first += imagesPerChunk) {
      const count = Math.min(imagesPerChunk, batchSize - first);
      const product = gatherAndMultiply(backend, x, dy, info, first, count);
      if (accumulated === null) {
        accumulated = product;
      } else {
        const sum = heapF32(backend, accumulated);
        const partial = heapF32(backend, product);
        for (let i = 0; i < sum.length; i++) sum[i] += partial[i]!;
        disposeInfo(backend, product);
      }
    }
  } catch (error) {
    if (accumulated !== null) disposeInfo(backend, accumulated);
    throw error;
  }
  if (accumulated === null) throw new Error(`slim wasm kernel ${KERNEL}: empty batch`);
  return { dataId: accumulated.dataId, shape: attrs.filterShape, dtype: 'float32' };
}

/** im2colᵀ of a run of images times the matching rows of dy: [1, patch, co]. Caller disposes. */
function gatherAndMultiply(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: Conv2DInfo,
  firstImage: number,
  imageCount: number,
): tf.TensorInfo {
  const rows = imageCount * info.outHeight * info.outWidth;
  const patchSize = info.filterHeight * info.filterWidth * info.inChannels;
  const wholeBatch = firstImage === 0 && imageCount === info.batchSize;
  const colsT = backend.makeOutput([1, patchSize, rows], 'float32');
  const dyRows = wholeBatch ? null : backend.makeOutput([1, rows, info.outChannels], 'float32');
  // Views only after the allocations above (they may grow and detach the heap).
  im2colTransposedNHWC(heapF32(backend, x), heapF32(backend, colsT), info, firstImage, imageCount);
  let dyInfo: tf.TensorInfo = { dataId: dy.dataId, shape: [1, rows, info.outChannels], dtype: 'float32' };
  if (dyRows !== null) {
    const rowLength = info.outHeight * info.outWidth * info.outChannels;
    heapF32(backend, dyRows).set(heapF32(backend, dy).subarray(firstImage * rowLength, (firstImage + imageCount) * rowLength));
    dyInfo = dyRows;
  }
  try {
    // No transpose flags: the wasm BatchMatMul's fast (XNNPACK) path.
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
