/**
 * Shared by the two depthwise gradient kernels (depthwise-backprop-filter.ts,
 * depthwise-backprop-input.ts, both missing from stock tfjs-backend-wasm 4.22).
 *
 * Filter layout [fh, fw, inChannels, multiplier]; output channel c·M + m comes from input
 * channel c. The direct loops run over the wasm heap, channels innermost (contiguous in NHWC),
 * taps outside the image skipped per row and column rather than per element. (A per-tap
 * callback version ran ~10 ns per multiply-add; plain nested loops let V8 keep the typed-array
 * accesses monomorphic and inlined.)
 */
import * as tf from '#tfjs';
import type { Conv2DInfo } from './common.js';

export type Shape4 = [number, number, number, number];

/** The attrs both depthwise gradient kernels share (tfjs-core's, less filterShape / inputShape). */
export type DepthwiseBackpropAttrs = Omit<tf.DepthwiseConv2dNativeBackpropFilterAttrs, 'filterShape'>;

export function depthwiseInfo(inShape: Shape4, filterShape: Shape4, attrs: DepthwiseBackpropAttrs): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
    'channelsLast',
  );
}

/**
 * Per output coordinate o, the taps whose input o·stride + k·dilation − pad lies inside:
 * [first[o], end[o]). Precomputed once per call, so the hot loops test nothing per element.
 */
export function tapRanges(
  outSize: number,
  stride: number,
  dilation: number,
  pad: number,
  taps: number,
  inSize: number,
): { first: Int32Array; end: Int32Array } {
  const first = new Int32Array(outSize);
  const end = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const corner = o * stride - pad;
    let f = 0;
    while (f < taps && corner + f * dilation < 0) f++;
    let e = taps;
    while (e > f && corner + (e - 1) * dilation >= inSize) e--;
    first[o] = f;
    end[o] = e;
  }
  return { first, end };
}
