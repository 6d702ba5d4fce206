/**
 * Every file slim writes goes through the output-path policy --out folders go through, checked
 * before any work: one `error:` line naming the flag and the user's path, exit 2, nothing written.
 * Device files are refused by the same check, tested in-process (test/output-policy.test.ts): no
 * test hands a real device to the binary. Each bad target's message is checked in-process for a
 * flagged and an unflagged output (test/output-targets.test.ts); here every command meets a few of
 * them through the binary (each target at least once), which proves the command hands its flag,
 * its inputs and the user's path to that check before any work. Every command x target pair also
 * runs as a fuzz corpus case (outputs/<flag>/<target>: exit 2, one error line, folder unchanged).
 * Also: `--html -` (stdout), `--log` without `--html`, and the Keras `--out` existing-file check
 * before the fold (the last two refusals in-process, through the binary's buildCli and
 * describeFailure: test/helpers/cli-in-process.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, runSlim, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';
import { writeTinyInputs, type TinyInputs } from '../helpers/tiny-inputs.js';
import { writeBadTargets } from '../helpers/bad-targets.js';
import { assertRefusedInProcess } from '../helpers/cli-in-process.js';

let dir: string;
let work: string;
let inputs: TinyInputs;
let closeTargets: () => Promise<void>;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-outputs-'));
  inputs = await writeTinyInputs(path.join(dir, 'in'));
  work = path.join(dir, 'work');
  closeTargets = await writeBadTargets(work);
});
after(async () => {
  await closeTargets();
  await rm(dir, { recursive: true, force: true });
});

/** One error line, the last, matching `pattern`; exit 2; no stack; nothing on stdout. */
function assertRefused(result: SlimResult, pattern: RegExp): void {
  assert.equal(result.code, 2, describeRun(result));
  assert.equal(result.stdout, '', describeRun(result));
  assert.doesNotMatch(result.stderr, STACK_FRAME, describeRun(result));
  const lines = stderrLines(result);
  assert.equal(lines.filter((l) => l.startsWith('error:')).length, 1, describeRun(result));
  assert.match(lines.at(-1)!, pattern, describeRun(result));
  assert.doesNotMatch(lines.at(-1)!, /slim-tmp|slim-old/, describeRun(result));
}

/** assertRefused's checks in-process (test/helpers/cli-in-process.ts), in the working folder; no temp names in the line. */
async function assertRefusedHere(args: string[], pattern: RegExp): Promise<void> {
  const refusal = await assertRefusedInProcess(args, pattern, work);
  assert.doesNotMatch(refusal.line, /slim-tmp|slim-old/, `slim ${args.join(' ')}: ${refusal.line}`);
}

/** The file-writing flags: argv with the target in place, the flag the message names, the bad targets tried through the binary. */
function fileOutputs(): Array<[string, string, (target: string) => string[], string[]]> {
  // Read when a test runs: `inputs` is written by before().
  const model = () => inputs.model;
  const config = () => inputs.config;
  return [
    ['report --html', '--html', (t) => ['report', '--model', model(), '--html', t], ['.', 'fifo']],
    [
      'sweep --html',
      '--html',
      (t) => ['sweep', '--model', model(), '--config', config(), '--ratios', '0.5', '--html', t],
      ['..', 'link.html'],
    ],
    [
      'export --format keras --out',
      '',
      (t) => ['export', '--model', model(), '--format', 'keras', '--out', t, '--backend', 'cpu'],
      ['/', 'a-folder'],
    ],
    [
      'export --format h5 --out',
      '',
      (t) => ['export', '--model', model(), '--format', 'h5', '--out', t, '--backend', 'cpu'],
      ['/', 'socket'],
    ],
  ];
}

/** Bad targets (relative to the working folder) and what the line must say. */
const BAD_TARGETS: Array<[string, string, RegExp]> = [
  ['.', '.', /: is the current folder or contains it/],
  ['..', '..', /: is the current folder or contains it/],
  ['/', '/', /: is the current folder or contains it/],
  ['an existing folder', 'a-folder', /: is a folder; give a file name/],
  ['a FIFO', 'fifo', /: is a FIFO \(named pipe\)/],
  ['a socket', 'socket', /: is a socket/],
  ['a symlink', 'link.html', /: is a symlink; give the path it points to/],
];

describe('file outputs refused before any work (exit 2, one line naming the path)', () => {
  for (const [name, flag, argvOf, targets] of fileOutputs()) {
    test(name, async () => {
      const picked = BAD_TARGETS.filter(([, t]) => targets.includes(t));
      assert.equal(picked.length, targets.length, `${name}: ${targets.join(', ')} are not all in BAD_TARGETS`);
      for (const [, target, pattern] of picked) {
        const result = await runSlim(argvOf(target), { cwd: work });
        const escaped = target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        // A Keras --format with a name ending in '/' is refused for the name first: the slash means a folder.
        const formatClash = flag === '' && target.endsWith('/');
        assertRefused(
          result,
          formatClash
            ? new RegExp(`^error: --out ${escaped}: a trailing slash \\(a folder\\) means a tfjs layers folder, but --format`)
            : new RegExp(`^error: ${flag === '' ? '' : `${flag} `}${escaped}${pattern.source}`),
        );
        // Before any work: nothing but the refusal on stderr (no backend line, no sweep, no fold).
        assert.equal(stderrLines(result).length, 1, `${name} ${target}: ${describeRun(result)}`);
      }
      // The command's own inputs, by any name that resolves to them (both names: test/output-targets.test.ts).
      for (const input of [path.join(inputs.model, flag === '' ? 'model.json' : 'weights.bin')]) {
        const result = await runSlim([...argvOf(input), ...(flag === '' ? ['--overwrite'] : [])], { cwd: work });
        assertRefused(result, /: is an input of this command/);
      }
      assert.deepEqual((await readdir(work)).sort(), ['a-folder', 'fifo', 'keep.txt', 'link.html', 'socket', 'target.html']);
      assert.equal(await readFile(path.join(work, 'target.html'), 'utf8'), 'not yours\n');
    });
  }
  test('sweep --html of a model file through a symlinked folder is still an input', async () => {
    const linked = path.join(dir, 'linked-model');
    await symlink(inputs.model, linked);
    const result = await runSlim(['sweep', '--model', inputs.model, '--config', inputs.config, '--html', path.join(linked, 'model.json')], {
      cwd: work,
    });
    assertRefused(result, /is an input of this command/);
  });
});

describe('--html -, --log, existing Keras files', () => {
  test('report --html - writes the page to stdout instead of the table', async () => {
    const result = await runSlim(['report', '--model', inputs.model, '--html', '-'], { cwd: work });
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^<!doctype html>/);
    assert.match(result.stdout, /<\/html>\n$/);
    assert.doesNotMatch(result.stderr, /wrote/);
  });
  test('--html - with --json is refused: both want stdout', async () => {
    // Through the binary: main() resolves '-' values before parsing.
    assertRefused(
      await runSlim(['report', '--model', inputs.model, '--html', '-', '--json'], { cwd: work }),
      /--html - and --json both want stdout/,
    );
  });
  test('--log without --html is refused instead of ignored', async () => {
    const log = path.join(work, 'keep.txt');
    await assertRefusedHere(['report', '--model', inputs.model, '--log', log], /^error: --log: .* give --html FILE too/);
  });
  test('export --format keras --out existing.keras: refused before the fold (no backend, no check line)', async () => {
    const existing = path.join(dir, 'existing.keras');
    await writeFile(existing, 'an older file\n');
    // In-process: nothing printed (no backend line, no check line) before the refusal.
    await assertRefusedHere(
      ['export', '--model', inputs.model, '--format', 'keras', '--out', existing, '--backend', 'cpu'],
      /existing\.keras: exists; --overwrite replaces it/,
    );
    assert.equal(await readFile(existing, 'utf8'), 'an older file\n');
  });
});
