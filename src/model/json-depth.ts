/** A depth check for parsed JSON: deeper input overflows the stack of recursive code (structuredClone, zod, tfjs). */
import { InputError } from '../errors.js';

/** Deepest JSON nesting a model.json or config may have (real ones stay far below). */
export const MAX_JSON_DEPTH = 100;

/** Refuses JSON nested deeper than `limit` (checked iteratively: the check itself must not overflow). */
export function checkJsonDepth(value: unknown, file: string, limit = MAX_JSON_DEPTH): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth > limit) throw new InputError(`${file}: JSON nested deeper than ${limit} levels; not a file slim can read`);
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
}
