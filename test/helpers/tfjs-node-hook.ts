/**
 * Makes `import('@tensorflow/tfjs-node')` (or -gpu) resolve to the stand-in module
 * (tfjs-node-standin.ts), so slim's unmodified selectBackend finds a native package. Only the
 * packages named are answered; every other name, the other native package included, resolves
 * as usual (and fails when absent). Call before the package is first imported.
 */
import { register } from 'node:module';

export const DEFAULT_STANDIN_PACKAGES = ['@tensorflow/tfjs-node'];

export function registerTfjsNodeHook(packages: string[] = DEFAULT_STANDIN_PACKAGES): void {
  const standin = new URL('./tfjs-node-standin.js', import.meta.url).href;
  register('./tfjs-node-resolve.js', { parentURL: import.meta.url, data: { packages, standin } });
}
