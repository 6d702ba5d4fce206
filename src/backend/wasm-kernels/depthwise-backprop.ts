/**
 * DepthwiseConv2dNativeBackpropFilter / BackpropInput for the wasm backend
 * (stock tfjs-backend-wasm 4.22 has neither).
 *
 * Filter layout [fh, fw, inChannels, multiplier]; output channel c·M + m comes from input
 * channel c. Work per call is B·OH·OW·FH·FW·C·M multiply-adds, small next to a dense conv,
 * so a direct loop over the wasm heap is used; it is the piece a faster path would replace.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type Conv2DInfo,
  type PadArg,
  type RoundingMode,
  asWasmBackend,
  heapF32,
  requireFloat32,
  withOutputSizeOf,
} from './common.js';

interface DepthwiseBackpropAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: PadArg;
  dimRoundingMode?: RoundingMode;
}

type Shape4 = [number, number, number, number];
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function depthwiseInfo(inShape: Shape4, filterShape: Shape4, attrs: DepthwiseBackpropAttrs): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape, filterShape, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast',
  );
}

/**
 * Calls visit(xOffset, dyOffset, wOffset) for every (image, output position, filter tap)
 * whose input position lies inside the image. Offsets point at channel 0.
 */
function forEachTap(info: Conv2DInfo, visit: (xOffset: number, dyOffset: number, wOffset: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const dyOffset = ((b * outHeight + oy) * outWidth + ox) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const iy = oy * strideHeight + kh * dilationHeight - top;
          if (iy < 0 || iy >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const ix = ox * strideWidth + kw * dilationWidth - left;
            if (ix < 0 || ix >= inWidth) continue;
            visit(((b * inHeight + iy) * inWidth + ix) * inChannels, dyOffset, (kh * filterWidth + kw) * outChannels);
          }
        }
      }
    }
  }
}

function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const kernelName = 'DepthwiseConv2dNativeBackpropFilter';
  const backend = asWasmBackend(args.backend, kernelName);
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseBackpropAttrs & { filterShape: Shape4 };
  requireFloat32(kernelName, x, dy);
  const info = withOutputSizeOf(dy, depthwiseInfo(x.shape as Shape4, attrs.filterShape, attrs));
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;

  const out = backend.makeOutput(attrs.filterShape, 'float32');
  const dw = heapF32(backend, out);
  const xv = heapF32(backend, x);
  const dyv = heapF32(backend, dy);
  dw.fill(0);
  if (multiplier === 1) {
    forEachTap(info, (xo, dyo, wo) => {
      for (let c = 0; c < channels; c++) dw[wo + c] += xv[xo + c] * dyv[dyo + c];
    });
  } else {
    forEachTap(info, (xo, dyo, wo) => {
      for (let c = 0; c < channels; c++) {
        const xValue = xv[xo + c];
        const base = c * multiplier;
        for (let m = 0; m < multiplier; m++) dw[wo + base + m] += xValue * dyv[dyo + base + m];
      }
    });
  }
  return out;
}

function depthwiseBackpropInput(args: KernelArgs): tf.TensorInfo {
  const kernelName = 'DepthwiseConv2dNativeBackpropInput';
  const backend = asWasmBackend(args.backend, kernelName);
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseBackpropAttrs & { inputShape: Shape4 };
  requireFloat32(kernelName, dy, filter);
  const info = withOutputSizeOf(dy, depthwiseInfo(attrs.inputShape, filter.shape as Shape4, attrs));
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;

  const out = backend.makeOutput(attrs.inputShape, 'float32');
  const dx = heapF32(backend, out);
  const dyv = heapF32(backend, dy);
  const wv = heapF32(backend, filter);
  dx.fill(0);
  if (multiplier === 1) {
    forEachTap(info, (xo, dyo, wo) => {
      for (let c = 0; c < channels; c++) dx[xo + c] += dyv[dyo + c] * wv[wo + c];
    });
  } else {
    forEachTap(info, (xo, dyo, wo) => {
      for (let c = 0; c < channels; c++) {
        const base = c * multiplier;
        let sum = 0;
        for (let m = 0; m < multiplier; m++) sum += dyv[dyo + base + m] * wv[wo + base + m];
        dx[xo + c] += sum;
      }
    });
  }
  return out;
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as tf.KernelFunc,
};

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as tf.KernelFunc,
};
