/**
 * What the browser bundle gets for `node:os` (esbuild's alias, package.json build:browser): the
 * training loop asks for the core count only to size worker replicas, which a page never uses.
 */
export function availableParallelism(): number {
  return 1;
}
