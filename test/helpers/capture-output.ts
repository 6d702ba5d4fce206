/** An Output whose stderr lines (non-empty) are kept in `lines`, for tests that call stages in-process. */
import { Writable } from 'node:stream';
import { Output } from '../../src/io/output.js';

export function capturingOutput(): { out: Output; lines: string[] } {
  const lines: string[] = [];
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { out: new Output({ stderr, color: false, progress: false }), lines };
}

/** An Output that discards what a stage prints, for tests that only look at its result. */
export function quietOutput(): Output {
  return new Output({ stderr: new Writable({ write: (_chunk, _encoding, done) => done() }), color: false, progress: false });
}
