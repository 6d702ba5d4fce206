/**
 * What the browser bundle gets for `node:worker_threads` (esbuild's alias, package.json
 * build:browser): replicas run in Node worker threads only; in a page the loop runs one copy of
 * the model, so this is never constructed.
 */
export class Worker {
  constructor() {
    throw new Error('worker replicas need Node worker_threads; in a page training runs on one copy of the model');
  }
}
export const parentPort = null;
export const workerData = null;
