import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// dist/src/version.js → ../../package.json; src/version.ts (tests via tsc output) resolves the same way.
export const VERSION: string = (require('../../package.json') as { version: string }).version;
