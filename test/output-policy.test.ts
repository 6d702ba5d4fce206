/**
 * In-process parts of the output rules: device files refused by the output-path check (never
 * handed to the binary: a regression there would replace /dev/null), the stdout guard's record of
 * EPIPE / ENOSPC and the exit code it leads to, the colour of the error line, --quiet and TERM=dumb.
 */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { colorFlag, stdoutOutcome } from '../src/cli.js';
import { InputError } from '../src/errors.js';
import { checkOutPath } from '../src/io/out-path.js';
import { guardStdout, Output } from '../src/io/output.js';

describe('device files are not outputs', () => {
  for (const device of ['/dev/null', '/dev/zero', '/dev/full']) {
    test(`${device} as --html and as a Keras --out`, async () => {
      await assert.rejects(checkOutPath(device, 'file', { flag: '--html' }), (error: unknown) => {
        return error instanceof InputError && error.message === `--html ${device}: is a device file, not a place slim can write a file to`;
      });
      await assert.rejects(checkOutPath(device, 'file'), /is a device file/);
      await assert.rejects(checkOutPath(device, 'folder'), /is a device file, not a place slim can write a folder to/);
    });
  }
  test('/dev/stdout: the device or pipe it leads to, never replaced', async () => {
    await assert.rejects(
      checkOutPath('/dev/stdout', 'file', { flag: '--html', stdoutHint: '--html - writes the page to stdout' }),
      (error: unknown) => {
        return (
          error instanceof InputError &&
          /^--html \/dev\/stdout: is (a device file|a FIFO \(named pipe\)|a socket|a symlink)/.test(error.message)
        );
      },
    );
  });
});

/** A stream whose writes fail with `code` the way a socket's do: through the callback and 'error'. */
function failingStream(code: string): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback(Object.assign(new Error(`write ${code}`), { code, syscall: 'write' }));
    },
  });
}

describe('the stdout guard', () => {
  test('EPIPE: recorded, later writes dropped, the command keeps its own exit code and prints nothing', async () => {
    const stdout = failingStream('EPIPE');
    const state = guardStdout(stdout);
    const stderr = new PassThrough();
    const out = new Output({ stdout, stderr });
    out.data('one');
    await new Promise((resolve) => setImmediate(resolve));
    out.json({ two: 2 });
    assert.equal(state.failure?.code, 'EPIPE');
    assert.equal(stdoutOutcome(state, 0, out), 0);
    assert.equal(stdoutOutcome(state, 1, out), 1);
    assert.equal(stderr.read(), null);
  });
  test('ENOSPC thrown by a synchronous write: one error line, exit 1', () => {
    const stdout = new Writable({
      write() {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    });
    const state = guardStdout(stdout);
    const stderr = new PassThrough();
    const out = new Output({ stdout, stderr, env: {} });
    out.data('one');
    assert.equal(state.failure?.code, 'ENOSPC');
    assert.equal(stdoutOutcome(state, 0, out), 1);
    assert.equal(String(stderr.read()), 'error: stdout: no space left on the device (ENOSPC); the output did not arrive whole\n');
    // A command that failed on its own keeps its code and its own line.
    assert.equal(stdoutOutcome(state, 2, out), 2);
  });
});

describe('small output rules', () => {
  test('--color=false, --color false, --no-color: the error line is not coloured', () => {
    assert.equal(colorFlag(['report']), true);
    assert.equal(colorFlag(['report', '--no-color']), false);
    assert.equal(colorFlag(['report', '--color=false']), false);
    assert.equal(colorFlag(['report', '--color', 'false', '--model', 'x']), false);
    assert.equal(colorFlag(['--no-color', 'report', '--color']), true);
    assert.equal(colorFlag(['report', '--', '--no-color']), true);
  });
  test('--quiet silences warnings too; errors stay', () => {
    const stderr = new PassThrough();
    const out = new Output({ quiet: true, stderr, stdout: new PassThrough(), env: {} });
    out.warn('something odd');
    out.info('a log line');
    out.error('broken');
    assert.equal(String(stderr.read()), 'error: broken\n');
  });
  test('TERM=dumb: no progress bar (it would move the cursor) even on a TTY', () => {
    const stderr = Object.assign(new PassThrough(), { isTTY: true });
    const bar = new Output({ stderr, stdout: new PassThrough(), env: { TERM: 'dumb' } }).progressBar('epoch', 10);
    bar.update(5);
    bar.stop();
    assert.equal(stderr.read(), null);
  });
});
