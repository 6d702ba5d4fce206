/**
 * Channel layouts: which channel of which channel space sits at each row (last-axis index) of a tensor.
 *
 * A layout is a list of blocks laid side by side on the last axis (Concatenate appends blocks or
 * segments). A block repeats its segments `outer` times (Flatten: once per position, channels
 * fastest). A segment holds `channels` channels of one channel space, each on `inner` consecutive
 * rows (DepthwiseConv2D with depth_multiplier m: output row c·m+j comes from input channel c).
 *   row = blockOffset + p·blockWidth + segmentOffset + c·inner + k
 * Channel spaces are joined by union-find (Add ties its inputs), so a "group" is a root space.
 */

export interface Segment {
  /** Union-find element: the channel space these channels belong to. */
  space: number;
  channels: number;
  inner: number;
}

export interface Block {
  outer: number;
  segments: Segment[];
}

export type Layout = Block[];

export function plainLayout(space: number, channels: number): Layout {
  return [{ outer: 1, segments: [{ space, channels, inner: 1 }] }];
}

function segmentsWidth(segments: Segment[]): number {
  return segments.reduce((a, s) => a + s.channels * s.inner, 0);
}

export function layoutWidth(layout: Layout): number {
  return layout.reduce((a, b) => a + b.outer * segmentsWidth(b.segments), 0);
}

export function spacesOf(layout: Layout): number[] {
  return layout.flatMap((b) => b.segments.map((s) => s.space));
}

/** Side by side on the last axis; neighbouring unrepeated blocks merge into one. */
export function concatLayouts(layouts: Layout[]): Layout {
  const out: Layout = [];
  for (const block of layouts.flat()) {
    const last = out[out.length - 1];
    if (last !== undefined && last.outer === 1 && block.outer === 1) last.segments = [...last.segments, ...block.segments];
    else out.push({ outer: block.outer, segments: [...block.segments] });
  }
  return out;
}

/** Flatten over `positions` positions, or null when the layout is already spread over positions. */
export function expandLayout(layout: Layout, positions: number): Layout | null {
  if (positions === 1) return layout;
  if (layout.some((b) => b.outer !== 1)) return null;
  return [{ outer: positions, segments: layout.flatMap((b) => b.segments) }];
}

/** Every row followed by m rows of its own (row r → r·m … r·m+m−1). */
export function multiplyLayout(layout: Layout, m: number): Layout {
  if (m === 1) return layout;
  return layout.map((b) => ({ outer: b.outer, segments: b.segments.map((s) => ({ ...s, inner: s.inner * m })) }));
}

/** Calls `visit(row, space, channel)` for every row, in row order. */
export function forEachRow(layout: Layout, visit: (row: number, space: number, channel: number) => void): void {
  let row = 0;
  for (const block of layout) {
    for (let p = 0; p < block.outer; p++) {
      for (const s of block.segments) {
        for (let c = 0; c < s.channels; c++) {
          for (let k = 0; k < s.inner; k++) visit(row++, s.space, c);
        }
      }
    }
  }
}

/**
 * Rows kept when each space keeps `keepOf(space)` (sorted channel indices; null = all),
 * in ascending order. Also reports whether anything was removed.
 */
export function keptRows(layout: Layout, keepOf: (space: number) => number[] | null): { rows: number[]; changed: boolean } {
  const rows: number[] = [];
  let changed = false;
  let base = 0;
  for (const block of layout) {
    const width = segmentsWidth(block.segments);
    const keeps = block.segments.map((s) => keepOf(s.space));
    for (let p = 0; p < block.outer; p++) {
      let offset = base + p * width;
      block.segments.forEach((s, i) => {
        const keep = keeps[i];
        if (keep === null) {
          for (let r = 0; r < s.channels * s.inner; r++) rows.push(offset + r);
        } else {
          if (keep.length !== s.channels) changed = true;
          for (const c of keep) for (let k = 0; k < s.inner; k++) rows.push(offset + c * s.inner + k);
        }
        offset += s.channels * s.inner;
      });
    }
    base += block.outer * width;
  }
  return { rows, changed };
}
