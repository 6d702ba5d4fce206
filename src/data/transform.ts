/**
 * Load-time reshaping of in-memory images to what the model takes: bilinear resize to [h, w] and
 * grayscale↔RGB. Runs once on the stored pixels (uint8 stays uint8, rounded), not per batch.
 */
import { allocPixels, type ImageArray } from './dataset.js';

/** ITU-R BT.601 luma weights (what most image libraries use for RGB → gray). */
const LUMA = [0.299, 0.587, 0.114] as const;

export interface TargetShape {
  height: number;
  width: number;
  channels: number;
}

/** Images converted to `target` (same array back when nothing changes). */
export function toShape(images: ImageArray, target: TargetShape): ImageArray {
  // Work on the fewer channels: RGB → gray converts before resizing, gray → RGB after.
  let out = images;
  if (target.channels < out.channels) out = convertChannels(out, target.channels);
  if (out.height !== target.height || out.width !== target.width) out = resizeBilinear(out, target.height, target.width);
  if (target.channels !== out.channels) out = convertChannels(out, target.channels);
  return out;
}

/** 1 → 3 repeats gray; 3 → 1 takes BT.601 luma. Other counts are not images slim converts. */
export function convertChannels(images: ImageArray, channels: number): ImageArray {
  const { count, height, width, channels: from, data } = images;
  if (from === channels) return images;
  if (!((from === 1 && channels === 3) || (from === 3 && channels === 1))) {
    throw new RangeError(`cannot convert ${from}-channel images to ${channels} channels (only 1 <-> 3)`);
  }
  const n = count * height * width;
  const out = allocPixels(data, n * channels);
  const round = !(data instanceof Float32Array);
  if (from === 1) {
    for (let p = 0; p < n; p++) {
      const v = data[p];
      out[3 * p] = v;
      out[3 * p + 1] = v;
      out[3 * p + 2] = v;
    }
  } else {
    for (let p = 0; p < n; p++) {
      const v = LUMA[0] * data[3 * p] + LUMA[1] * data[3 * p + 1] + LUMA[2] * data[3 * p + 2];
      out[p] = round ? Math.round(v) : v;
    }
  }
  return { count, height, width, channels, data: out };
}

/**
 * Bilinear resize with half-pixel centres (align_corners = false, as tf.image.resizeBilinear and
 * PIL for upscaling). Downscaling by large factors aliases; image folders use sharp instead.
 */
export function resizeBilinear(images: ImageArray, height: number, width: number): ImageArray {
  const { count, height: h0, width: w0, channels: c, data } = images;
  const out = allocPixels(data, count * height * width * c);
  const round = !(data instanceof Float32Array);
  const sy = h0 / height;
  const sx = w0 / width;
  // Per output column: the two source columns and the weight of the right one (same for every row).
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const fxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const src = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w0 - 1);
    x0s[x] = Math.floor(src);
    x1s[x] = Math.min(x0s[x] + 1, w0 - 1);
    fxs[x] = src - x0s[x];
  }
  for (let n = 0; n < count; n++) {
    const base = n * h0 * w0 * c;
    const outBase = n * height * width * c;
    for (let y = 0; y < height; y++) {
      const srcY = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h0 - 1);
      const y0 = Math.floor(srcY);
      const y1 = Math.min(y0 + 1, h0 - 1);
      const fy = srcY - y0;
      for (let x = 0; x < width; x++) {
        const fx = fxs[x];
        const a = base + (y0 * w0 + x0s[x]) * c;
        const b = base + (y0 * w0 + x1s[x]) * c;
        const d = base + (y1 * w0 + x0s[x]) * c;
        const e = base + (y1 * w0 + x1s[x]) * c;
        const o = outBase + (y * width + x) * c;
        for (let ch = 0; ch < c; ch++) {
          const top = data[a + ch] + (data[b + ch] - data[a + ch]) * fx;
          const bottom = data[d + ch] + (data[e + ch] - data[d + ch]) * fx;
          const v = top + (bottom - top) * fy;
          out[o + ch] = round ? Math.round(v) : v;
        }
      }
    }
  }
  return { count, height, width, channels: c, data: out };
}
