/**
 * Conv2DBackpropFilter for the wasm backend (stock tfjs-backend-wasm 4.22 has none).
 *
 * dW[kh,kw,ci,co] = Σ_{b,y,x} x[b, y·sh + kh·dh − top, x·sw + kw·dw − left, ci] · dy[b,y,x,co]
 * as the matrix product colsᵀ · dy ([kh][kw][ci] rows × output positions, times dy's rows),
 * run by the wasm BatchMatMul (XNNPACK) without transpose flags, per chunk of images.
 *
 * x is first laid out once, transposed, on its zero-padded grid: one row per channel holding
 * the padded images one after the other. On that grid no tap needs bounds checks, and colsᵀ
 * is built in one of two ways:
 *  - "shifted" (stride 1): for tap (kh, kw) the patch values of every grid position are the
 *    channel row shifted by kh·dh·gridWidth + kw·dw, so each row of colsᵀ is ONE contiguous
 *    copy; dy is placed on the same grid (zeros where there is no output), which costs the
 *    padding ring in extra, zero, matmul rows;
 *  - "runs" (any stride): for each output row, a unit-stride (or stride-sw) run is copied in
 *    JS: no extra matmul rows, more JS work.
 * The cheaper is picked from the ring's share of the grid and dy's channel count.
 * The product is split into chunks of ~CHUNK_ROWS rows and summed: XNNPACK's GEMM does not
 * block its reduction axis, so with 65 536 rows both operands would stream from memory once
 * per 8 output columns; chunks keep them in cache (measured ~1.5–2× on the matmul alone).
 */
import * as tf from '#tfjs';
import {
  type BackendWasm,
  type Conv2DInfo,
  MAX_GATHER_ELEMENTS,
  convGradientInfo,
  disposeInfo,
  float32Inputs,
  heapF32,
  matMul,
  requireChannelsLast,
} from './common.js';

const KERNEL = 'Conv2DBackpropFilter';

/** Target rows (output positions, the matmul's reduction axis) per chunk of images. */
export const CHUNK_ROWS = 4096;

/** The zero-padded input grid, one row per channel (see the file comment). */
interface PaddedGrid {
  height: number;
  width: number;
  /** Per channel row: batch · height · width, plus a zero tail the largest shift may read. */
  rowLength: number;
}

export type FilterGatherPath = 'shifted' | 'runs';

function paddedGrid(info: Conv2DInfo): PaddedGrid {
  const { strideHeight, strideWidth, padInfo } = info;
  const effectiveHeight = (info.filterHeight - 1) * info.dilationHeight + 1;
  const effectiveWidth = (info.filterWidth - 1) * info.dilationWidth + 1;
  // Big enough for every input pixel and for every tap of every output position.
  const height = Math.max(info.inHeight + padInfo.top, (info.outHeight - 1) * strideHeight + effectiveHeight);
  const width = Math.max(info.inWidth + padInfo.left, (info.outWidth - 1) * strideWidth + effectiveWidth);
  const maxShift = (effectiveHeight - 1) * width + effectiveWidth - 1;
  return { height, width, rowLength: info.batchSize * height * width + maxShift };
}

/**
 * 'shifted' when stride is 1 and the matmul work the padding ring adds (grows with dy's
 * channels) costs less than copying element by element. A wasted matmul row costs 2·co
 * flops; a JS element copy was worth ~16 flops of XNNPACK time in (noisy) measurements on
 * 7×7 … 32×32 layers with 32 … 128 channels: 'shifted' won on 32×32 with 32 channels,
 * 'runs' on 16×16 and smaller with 64 or more.
 */
export function filterGatherPath(info: Conv2DInfo, grid: PaddedGrid = paddedGrid(info)): FilterGatherPath {
  if (info.strideHeight !== 1 || info.strideWidth !== 1) return 'runs';
  const outputs = info.outHeight * info.outWidth;
  const ring = grid.height * grid.width - outputs;
  return ring * 2 * info.outChannels < outputs * COPY_COST_IN_FLOPS ? 'shifted' : 'runs';
}
const COPY_COST_IN_FLOPS = 16;

/**
 * x [B, H, W, Ci] → xGridT [Ci, rowLength]: channel c's row holds the zero-padded images
 * one after the other (pixel (y, x) of image b at b·G + (y + top)·gridWidth + x + left).
 */
function layOutTransposedGrid(x: Float32Array, xGridT: Float32Array, info: Conv2DInfo, grid: PaddedGrid): void {
  const { batchSize, inHeight, inWidth, inChannels } = info;
  const imageSize = grid.height * grid.width;
  xGridT.fill(0);
  for (let b = 0; b < batchSize; b++) {
    for (let y = 0; y < inHeight; y++) {
      // One image row (inWidth · inChannels floats) stays in L1 while each channel's run is written.
      const source = (b * inHeight + y) * inWidth * inChannels;
      const target = b * imageSize + (y + info.padInfo.top) * grid.width + info.padInfo.left;
      for (let c = 0; c < inChannels; c++) {
        const rowStart = c * grid.rowLength + target;
        for (let i = 0, from = source + c; i < inWidth; i++, from += inChannels) xGridT[rowStart + i] = x[from]!;
      }
    }
  }
}

function conv2DBackpropFilter(args: {
  inputs: tf.Conv2DBackpropFilterInputs;
  backend: BackendWasm;
  attrs: tf.Conv2DBackpropFilterAttrs;
}): tf.TensorInfo {
  const { backend, attrs } = args;
  const { x, dy } = float32Inputs(KERNEL, args.inputs, 'x', 'dy');
  requireChannelsLast(KERNEL, attrs.dataFormat);

  const info = convGradientInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs, dy);
  const { batchSize, outHeight, outWidth, outChannels, inChannels, filterHeight, filterWidth } = info;
  const patchSize = filterHeight * filterWidth * inChannels;
  const grid = paddedGrid(info);
  const path = filterGatherPath(info, grid);
  const rowsPerImage = path === 'shifted' ? grid.height * grid.width : outHeight * outWidth;
  const imagesPerChunk = Math.max(
    1,
    Math.min(Math.floor(CHUNK_ROWS / rowsPerImage), Math.floor(MAX_GATHER_ELEMENTS / Math.max(1, rowsPerImage * patchSize))),
  );

  const xGridT = backend.makeOutput([inChannels, grid.rowLength], 'float32');
  const sum = new Float32Array(patchSize * outChannels);
  try {
    layOutTransposedGrid(heapF32(backend, x), heapF32(backend, xGridT), info, grid);
    for (let first = 0; first < batchSize; first += imagesPerChunk) {
      const count = Math.min(imagesPerChunk, batchSize - first);
      const product = gatherAndMultiply(backend, xGridT, dy, info, grid, path, first, count);
      const partial = heapF32(backend, product);
      for (let i = 0; i < sum.length; i++) sum[i] += partial[i];
      disposeInfo(backend, product);
    }
  } finally {
    disposeInfo(backend, xGridT);
  }
  const out = backend.makeOutput(attrs.filterShape, 'float32');
  heapF32(backend, out).set(sum);
  return out;
}

/** colsᵀ of images [firstImage, firstImage + imageCount) times their dy rows: [1, patch, co]. Caller disposes. */
function gatherAndMultiply(
  backend: BackendWasm,
  xGridT: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: Conv2DInfo,
  grid: PaddedGrid,
  path: FilterGatherPath,
  firstImage: number,
  imageCount: number,
): tf.TensorInfo {
  const { inChannels, outChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const imageSize = grid.height * grid.width;
  const rowsPerImage = path === 'shifted' ? imageSize : outHeight * outWidth;
  const rows = imageCount * rowsPerImage;
  const patchSize = filterHeight * filterWidth * inChannels;
  const colsT = backend.makeOutput([1, patchSize, rows], 'float32');
  const dyRows = backend.makeOutput([1, rows, outChannels], 'float32');
  try {
    // Views only after the allocations above (they may grow and detach the heap).
    const source = heapF32(backend, xGridT);
    const cols = heapF32(backend, colsT);
    const dyv = heapF32(backend, dy);
    const target = heapF32(backend, dyRows);
    const chunkStart = firstImage * imageSize;
    const dyRun = outWidth * outChannels;
    if (path === 'shifted') {
      for (let kh = 0; kh < filterHeight; kh++) {
        for (let kw = 0; kw < filterWidth; kw++) {
          const shift = kh * dilationHeight * grid.width + kw * dilationWidth;
          const firstRow = (kh * filterWidth + kw) * inChannels;
          for (let c = 0; c < inChannels; c++) {
            const from = c * grid.rowLength + chunkStart + shift;
            cols.set(source.subarray(from, from + rows), (firstRow + c) * rows);
          }
        }
      }
      // dy on the grid: output (y, x) at grid position y·gridWidth + x, zeros elsewhere.
      target.fill(0);
      for (let b = 0; b < imageCount; b++) {
        for (let y = 0; y < outHeight; y++) {
          const from = ((firstImage + b) * outHeight + y) * dyRun;
          target.set(dyv.subarray(from, from + dyRun), (b * imageSize + y * grid.width) * outChannels);
        }
      }
    } else {
      let at = 0;
      for (let kh = 0; kh < filterHeight; kh++) {
        for (let kw = 0; kw < filterWidth; kw++) {
          const tapShift = kh * dilationHeight * grid.width + kw * dilationWidth;
          for (let c = 0; c < inChannels; c++) {
            const channelStart = c * grid.rowLength + chunkStart + tapShift;
            for (let b = 0; b < imageCount; b++) {
              for (let y = 0; y < outHeight; y++) {
                const rowStart = channelStart + b * imageSize + y * strideHeight * grid.width;
                if (strideWidth === 1) {
                  for (let ox = 0; ox < outWidth; ox++) cols[at++] = source[rowStart + ox]!;
                } else {
                  for (let ox = 0, from = rowStart; ox < outWidth; ox++, from += strideWidth) cols[at++] = source[from]!;
                }
              }
            }
          }
        }
      }
      const from = firstImage * outHeight * dyRun;
      target.set(dyv.subarray(from, from + rows * outChannels));
    }
    return matMul(backend, colsT, dyRows);
  } finally {
    disposeInfo(backend, colsT);
    disposeInfo(backend, dyRows);
  }
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: KERNEL,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
