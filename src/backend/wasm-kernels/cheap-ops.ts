/**
 * Replacements for stock wasm kernels whose cost in a training step is overhead, not maths
 * (found with bench/profile-train.ts --detail <Kernel>):
 *  - Identity: tfjs-core's engine clones every tensor it saves for the backward pass
 *    (engine.clone → Identity kernel); the stock wasm Identity copies the data (~10 full-size
 *    copies per conv layer per step). Tensors are immutable, so the clone can share the
 *    data with a reference count, as the cpu backend and the wasm Reshape kernel do.
 *  - Cast to the dtype the tensor already has (tfjs-core always runs the kernel; tf.layers
 *    casts float32 to float32 in every BatchNormalization and loss): shared the same way.
 *  - Mean / Sum over all axes but the last (BatchNormalization's moments and the gradients of
 *    its broadcasts, NHWC): the stock kernels transpose the whole tensor first; one JS pass
 *    with a per-channel accumulator reads it once. Other reductions go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32 } from './common.js';
import { stockKernel } from './stock.js';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function identity(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, 'Identity');
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return stockKernel('Identity').kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function cast(args: KernelArgs): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, 'Cast');
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
  if (dtype !== x.dtype || x.dtype === 'string')
    return stockKernel('Cast').kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Axes as a sorted list of non-negative indices. */
function normalisedAxes(axis: number | number[], rank: number): number[] {
  const list = Array.isArray(axis) ? axis : [axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** Reduces over every axis but the last, as one pass; undefined when this fast path does not apply. */
function leadingAxesReduction(args: KernelArgs, kernelName: 'Mean' | 'Sum'): tf.TensorInfo | undefined {
  const backend = asWasmBackend(args.backend, kernelName);
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 2) return undefined;
  const axes = normalisedAxes(axis, rank);
  if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return undefined;
  const channels = x.shape[rank - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  if (channels === 0 || rows === 0) return undefined;
  const outShape = keepDims ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
  const out = backend.makeOutput(outShape, 'float32');
  const values = heapF32(backend, x);
  // Blocks of rows, one channel at a time with a register sum (cf. batch-norm-grad.ts); Float64
  // totals across blocks, since the sums run over batch·height·width terms.
  const totals = new Float64Array(channels);
  const block = 128;
  for (let firstRow = 0; firstRow < rows; firstRow += block) {
    const end = Math.min(rows, firstRow + block) * channels;
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let i = firstRow * channels + c; i < end; i += channels) s += values[i];
      totals[c] += s;
    }
  }
  const result = heapF32(backend, out);
  const scale = kernelName === 'Mean' ? 1 / rows : 1;
  for (let c = 0; c < channels; c++) result[c] = totals[c] * scale;
  return out;
}

function mean(args: KernelArgs): tf.TensorInfo {
  return leadingAxesReduction(args, 'Mean') ?? (stockKernel('Mean').kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
}

function sum(args: KernelArgs): tf.TensorInfo {
  return leadingAxesReduction(args, 'Sum') ?? (stockKernel('Sum').kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
}

export const identityConfig: tf.KernelConfig = { kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity };
export const castConfig: tf.KernelConfig = { kernelName: 'Cast', backendName: 'wasm', kernelFunc: cast };
export const meanConfig: tf.KernelConfig = { kernelName: 'Mean', backendName: 'wasm', kernelFunc: mean };
export const sumConfig: tf.KernelConfig = { kernelName: 'Sum', backendName: 'wasm', kernelFunc: sum };
