/**
 * Channel spaces: union-find over the channel sets the walk creates. A free layer's output starts
 * a space; tied layers, elementwise merges and the calls of a shared layer join spaces. Each space
 * carries the first reason it cannot be pruned (a wall it touches, a model input or output…), and
 * a group is a root space: blocked when any of its spaces is.
 */
import { spacesOf, type Layout } from './layout.js';

export class ChannelSpaces {
  private readonly parent: number[] = [];
  private readonly widths: number[] = [];
  private readonly reasons: (string | null)[] = [];

  /** How many spaces were created (ids are 0 … count−1, in creation order). */
  get count(): number {
    return this.parent.length;
  }

  /** A new space of `channels` channels, blocked from the start when `blocked` is a reason. */
  add(channels: number, blocked: string | null = null): number {
    this.parent.push(this.parent.length);
    this.widths.push(channels);
    this.reasons.push(blocked);
    return this.parent.length - 1;
  }

  /** The root of a space (path compression). */
  find(space: number): number {
    let root = space;
    while (this.parent[root] !== root) root = this.parent[root];
    let s = space;
    while (this.parent[s] !== root) {
      const next = this.parent[s];
      this.parent[s] = root;
      s = next;
    }
    return root;
  }

  channels(space: number): number {
    return this.widths[space];
  }

  /** Why this one space (not its root) is blocked, or null. */
  blockedReason(space: number): string | null {
    return this.reasons[space];
  }

  /** Blocks every space of a layout that is not blocked yet (the first reason stays). */
  block(layout: Layout | undefined, reason: string): void {
    for (const s of layout === undefined ? [] : spacesOf(layout)) if (this.reasons[s] === null) this.reasons[s] = reason;
  }

  /** Joins two layouts row by row; false (and nothing joined) when they are not laid out alike. */
  unify(a: Layout, b: Layout): boolean {
    if (!sameStructure(a, b)) return false;
    a.forEach((x, i) =>
      x.segments.forEach((s, j) => {
        const ra = this.find(s.space);
        const rb = this.find(b[i].segments[j].space);
        if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb); // lower id stays root: deterministic groups
      }),
    );
    return true;
  }
}

/** Same blocks, repeats, segment widths and rows per channel. */
function sameStructure(a: Layout, b: Layout): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    if (x.outer !== y.outer || x.segments.length !== y.segments.length) return false;
    return x.segments.every((s, j) => s.channels === y.segments[j].channels && s.inner === y.segments[j].inner);
  });
}
