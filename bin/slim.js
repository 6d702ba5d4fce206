#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled TypeScript (npm run build writes dist/).
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
