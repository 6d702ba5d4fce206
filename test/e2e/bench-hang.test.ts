/**
 * A browser that starts but never speaks the DevTools protocol (bad input of issue 21: "a browser
 * that never reports"): `slim bench` gives up after --timeout with one `error:` line and exit 1,
 * ends that browser process, and exits then, not after puppeteer's own protocol timeout (30 s more),
 * which the test's timeout would catch.
 */
import { strict as assert } from 'node:assert';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { writeBenchModels, type BenchModels } from '../helpers/bench-models.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

let models: BenchModels;
let work: string;
before(async () => {
  models = await writeBenchModels([8, 8, 1]);
  work = await mkdtemp(path.join(tmpdir(), 'slim-bench-hang-'));
});
after(async () => {
  await rm(models.dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('a browser that never answers: exit 1 after --timeout with one line, the browser process ended', { timeout: 25_000 }, async () => {
  const pidFile = path.join(work, 'silent.pids');
  const silent = path.join(work, 'silent-browser.sh');
  await writeFile(silent, `#!/bin/sh\necho $$ >> '${pidFile}'\nexec sleep 600\n`);
  await chmod(silent, 0o755);
  const result = await runSlim(['bench', '--model', models.slim, '--runtime', 'chromium:wasm', '--browser', silent, '--timeout', '1']);
  assert.equal(result.code, 1, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.deepEqual(errors, [`error: ${silent}: starting the browser: no answer within 1 s (raise --timeout)`], describeRun(result));
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  const pids = (await readFile(pidFile, 'utf8')).split('\n').filter(Boolean).map(Number);
  assert.equal(pids.length, 1);
  assert.equal(isAlive(pids[0]), false, 'the silent browser was ended');
});
