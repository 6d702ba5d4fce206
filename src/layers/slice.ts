/** Weight slicing along one axis, on plain typed arrays. */
import type { Weight } from './types.js';

/** Keeps `keep` (indices into `axis`) of a row-major tensor; negative axis counts from the end. */
export function sliceAxis(weight: Weight, axis: number, keep: number[]): Weight {
  const rank = weight.shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const outer = weight.shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const inner = weight.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const size = weight.shape[ax];
  const shape = [...weight.shape];
  shape[ax] = keep.length;
  const data = weight.dtype === 'int32' ? new Int32Array(outer * keep.length * inner) : new Float32Array(outer * keep.length * inner);
  let o = 0;
  if (inner === 1) {
    // Slicing the last axis (conv kernels' out-channels): plain loop, no subarray per element.
    const src = weight.data;
    for (let a = 0; a < outer; a++) {
      const base = a * size;
      for (let i = 0; i < keep.length; i++) data[o++] = src[base + keep[i]];
    }
    return { shape, dtype: weight.dtype, data };
  }
  for (let a = 0; a < outer; a++) {
    for (const k of keep) {
      const start = (a * size + k) * inner;
      data.set(weight.data.subarray(start, start + inner), o);
      o += inner;
    }
  }
  return { shape, dtype: weight.dtype, data };
}

/** Slices the listed roles (when present) along `axis`; other roles pass through. */
export function sliceRoles(weights: Map<string, Weight>, roles: Record<string, number>, keep: number[]): Map<string, Weight> {
  const out = new Map(weights);
  for (const [role, axis] of Object.entries(roles)) {
    const w = weights.get(role);
    if (w !== undefined) out.set(role, sliceAxis(w, axis, keep));
  }
  return out;
}
