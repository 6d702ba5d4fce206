#!/usr/bin/env node
// Thin launcher: the CLI lives in the compiled TypeScript (`npm ci` / `npm run build` write dist/).
import('../dist/src/cli.js').then(
  ({ main }) =>
    main(process.argv.slice(2)).then((code) => {
      process.exitCode = code;
    }),
  (error) => {
    // Exit 2 with one line, as for any other internal error (README: exit codes).
    const hint = error && error.code === 'ERR_MODULE_NOT_FOUND' ? ' (is slim built? run `npm run build`)' : '';
    process.stderr.write(`error: cannot load slim: ${error && error.message ? error.message.split('\n')[0] : error}${hint}\n`);
    process.exitCode = 2;
  },
);
