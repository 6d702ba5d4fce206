/**
 * `slim bench` through the built binary: node:wasm, chromium:wasm and chromium:webgl in the
 * installed Chromium, `--serve` answered by headless Chromium over loopback, and the bad inputs,
 * each with one `error:` line, its exit code and no browser or server left behind.
 * Tiny models and few runs: these tests prove behaviour, not speed. Of the flag refusals, the
 * unknown runtime goes through the binary; --batch 1,0, --runs 0 and the missing --input-shape are
 * parsed in-process by the same buildCli, their error mapped by main()'s describeFailure
 * (test/helpers/cli-in-process.ts): same line, exit 2, nothing printed.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer from 'puppeteer-core';
import { type BenchReport } from '../../src/config/schema.js';
import { outputSchema } from '../../src/config/outputs.js';
import { writeBenchModels, type BenchModels } from '../helpers/bench-models.js';
import { CHROMIUM, chromiumMissing } from '../helpers/chromium.js';
import { refusalInProcess } from '../helpers/cli-in-process.js';
import { describeRun, runSlim, SLIM_BIN, STACK_FRAME, stderrLines, type SlimResult } from '../helpers/cli.js';

let models: BenchModels;
let work: string;

before(async () => {
  models = await writeBenchModels([8, 8, 1]);
  work = await mkdtemp(path.join(tmpdir(), 'slim-bench-e2e-'));
});
after(async () => {
  await rm(models.dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

function oneErrorLine(result: SlimResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, describeRun(result));
  const errors = stderrLines(result).filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, describeRun(result));
  assert.match(errors[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.equal(result.stdout, '');
}

/** oneErrorLine's checks in-process: main() prints the one error line, so the command printed nothing. */
async function oneErrorLineInProcess(args: string[], code: number, pattern: RegExp): Promise<void> {
  const refusal = await refusalInProcess(args);
  const why = `slim ${args.join(' ')}: ${JSON.stringify(refusal)}`;
  assert.equal(refusal.exitCode, code, why);
  assert.match(`error: ${refusal.line}`, pattern, why);
  assert.equal(refusal.stderr, '', why);
  assert.equal(refusal.stdout, '', why);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A --browser that records the pid of the Chromium it becomes, to check that slim ended it. */
async function recordingBrowser(name: string): Promise<{ file: string; pids: () => Promise<number[]> }> {
  const pidFile = path.join(work, `${name}.pids`);
  const file = path.join(work, `${name}.sh`);
  await writeFile(file, `#!/bin/sh\necho $$ >> '${pidFile}'\nexec '${CHROMIUM}' "$@"\n`);
  await chmod(file, 0o755);
  return {
    file,
    pids: async () => (await readFile(pidFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number),
  };
}

describe('slim bench on node:wasm', () => {
  it('--json: one document, a row per batch with both medians, the paired speed-up and the MACs one', async () => {
    const result = await runSlim([
      'bench',
      '--model',
      models.slim,
      '--baseline',
      models.baseline,
      '--runtime',
      'node:wasm',
      '--batch',
      '1,4',
      '--runs',
      '3',
      '--json',
    ]);
    assert.equal(result.code, 0, describeRun(result));
    const report: BenchReport = outputSchema('bench').parse(JSON.parse(result.stdout)) as BenchReport;
    assert.deepEqual(
      report.rows.map((r) => [r.runtime, r.batch]),
      [
        ['node:wasm', 1],
        ['node:wasm', 4],
      ],
    );
    for (const row of report.rows) {
      assert.ok(row.modelMs > 0 && row.baselineMs! > 0 && row.speedup! > 0, JSON.stringify(row));
      assert.equal(row.macsSpeedup, report.macsSpeedup);
      assert.equal(row.software, false);
    }
    assert.match(result.stderr, /node:wasm: Node v\d+.*wasm/);
  });

  it('without --json: the table on stdout, the first predict on its own line', async () => {
    const result = await runSlim(['bench', '--model', models.slim, '--runtime', 'node:wasm', '--batch', '2', '--runs', '2']);
    assert.equal(result.code, 0, describeRun(result));
    const lines = result.stdout.split('\n');
    assert.match(lines[0], /^runtime\s+batch\s+model ms \(p10–p90\)\s+model CPU ms\s+load$/);
    assert.match(lines[1], /^node:wasm\s+2\s+\d/);
    assert.match(lines[2], /^ {2}first predict [\d.]+ ms; peak tensors/);
  });
});

describe('slim bench in Chromium', { skip: chromiumMissing() ?? false }, () => {
  it('chromium:wasm and chromium:webgl: rows name the browser and adapter, SwiftShader is said plainly, the browser is gone after', async () => {
    const browser = await recordingBrowser('driven');
    const result = await runSlim([
      'bench',
      '--model',
      models.slim,
      '--baseline',
      models.baseline,
      '--runtime',
      'chromium:wasm,chromium:webgl',
      '--batch',
      '1',
      '--runs',
      '2',
      '--warmup',
      '0',
      '--browser',
      browser.file,
      '--json',
    ]);
    assert.equal(result.code, 0, describeRun(result));
    const report = outputSchema('bench').parse(JSON.parse(result.stdout)) as BenchReport;
    assert.deepEqual(
      report.rows.map((r) => r.runtime),
      ['chromium:wasm', 'chromium:webgl'],
    );
    const [wasm, webgl] = report.rows;
    assert.match(wasm.device, /Chrome\/\d+.* — wasm \((no )?SIMD/);
    assert.match(webgl.device, /Chrome\/\d+.* — WebGL \d: /);
    assert.ok(wasm.speedup! > 0 && webgl.speedup! > 0);
    if (/SwiftShader/i.test(webgl.device)) {
      assert.equal(webgl.software, true);
      assert.match(result.stderr, /chromium:webgl: .*\(software rendering — not your GPU; compare rows, not absolute times\)/);
    }
    const pids = await browser.pids();
    assert.equal(pids.length, 2, 'one browser per runtime');
    assert.deepEqual(pids.filter(isAlive), [], 'no browser left running');
  });

  it('--serve: headless Chromium opens the printed URL, its rows stream back, and slim stops by itself', async () => {
    const child = spawn(
      process.execPath,
      [SLIM_BIN, 'bench', '--model', models.slim, '--serve', '--batch', '1', '--runs', '2', '--warmup', '0', '--json'],
      {
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const match = /(http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/)/.exec(stderr);
        if (match) resolve(match[1]);
      });
      child.on('exit', () => reject(new Error(`slim exited before printing a URL: ${stderr}`)));
    });
    try {
      const origin = new URL(url).origin;
      const token = new URL(url).pathname.split('/')[1];
      assert.equal((await fetch(`${origin}/`)).status, 403, 'no token: refused');
      assert.equal((await fetch(`${origin}/${'0'.repeat(32)}/`)).status, 403, 'a wrong token: refused');
      assert.equal((await fetch(`${origin}/${token}/models/`)).status, 404, 'no listings');
      for (const outside of [`${token}/../../package.json`, `${token}/%2e%2e/package.json`, `${token}/..%2fpackage.json`]) {
        assert.ok([403, 404].includes((await fetch(`${origin}/${outside}`)).status), `${outside}: refused`);
      }
      assert.equal((await fetch(`${url}plan.json`)).status, 200);
      const browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--enable-unsafe-swiftshader'],
        pipe: true,
      });
      try {
        const page = await browser.newPage();
        await page.goto(url);
        assert.equal(await exited, 0, `${stderr}\n${stdout}`);
      } finally {
        await browser.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
    const report = outputSchema('bench').parse(JSON.parse(stdout)) as BenchReport;
    assert.ok(
      report.rows.some((r) => r.runtime === 'served:wasm' && r.batch === 1 && r.modelMs > 0),
      stdout,
    );
    assert.match(stderr, /browser connected: Mozilla\/5\.0 .*HeadlessChrome/);
  });
});

describe('slim bench: bad input', () => {
  it('an unknown runtime: exit 2, naming the valid ones', async () => {
    oneErrorLine(
      await runSlim(['bench', '--model', models.slim, '--runtime', 'node:gpu']),
      2,
      /--runtime node:gpu: unknown runtime; choose from node:wasm, .*chromium:webgpu/,
    );
  });

  it('--batch 0 and --runs 0: exit 2', async () => {
    await oneErrorLineInProcess(['bench', '--model', models.slim, '--batch', '1,0'], 2, /--batch 1,0: '0' is not a positive integer/);
    await oneErrorLineInProcess(['bench', '--model', models.slim, '--runs', '0'], 2, /--runs 0: must be an integer of at least 1/);
  });

  it('a named browser runtime with no browser found: exit 2 with the fix', async () => {
    const result = await runSlim(['bench', '--model', models.slim, '--runtime', 'chromium:wasm'], { env: { PATH: '' } });
    oneErrorLine(
      result,
      2,
      /--runtime chromium:wasm: not available here: no Chromium or Chrome found on PATH; fix: install Chromium .* or give --browser PATH/,
    );
  });

  it('a model without a fixed input shape and no --input-shape: exit 2', async () => {
    const dir = path.join(work, 'free');
    await rm(dir, { recursive: true, force: true });
    const json = JSON.parse(await readFile(models.slim, 'utf8'));
    json.modelTopology.config.layers[0].config.batch_input_shape = [null, null, null, 1];
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    await import('node:fs/promises').then((fs) =>
      fs.copyFile(path.join(path.dirname(models.slim), 'weights.bin'), path.join(dir, 'weights.bin')),
    );
    await oneErrorLineInProcess(['bench', '--model', dir, '--runtime', 'node:cpu'], 2, /has no fixed shape .*give --input-shape/);
    const ok = await runSlim([
      'bench',
      '--model',
      dir,
      '--runtime',
      'node:cpu',
      '--input-shape',
      '8,8,1',
      '--runs',
      '1',
      '--batch',
      '1',
      '--json',
    ]);
    assert.equal(ok.code, 0, describeRun(ok));
  });

  it('--serve on a port in use: exit 2', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      oneErrorLine(
        await runSlim(['bench', '--model', models.slim, '--serve', '--port', String(port)]),
        2,
        new RegExp(`--port ${port}: already in use`),
      );
    } finally {
      busy.close();
    }
  });

  it('--serve that no browser answers: exit 1 after --timeout, the server closed', async () => {
    oneErrorLine(
      await runSlim(['bench', '--model', models.slim, '--serve', '--timeout', '1']),
      1,
      /no browser finished the bench page within 1 s \(raise --timeout\)/,
    );
  });

  it('a browser that dies at start: exit 1, one line naming it', async () => {
    const broken = path.join(work, 'broken-browser.sh');
    await writeFile(broken, '#!/bin/sh\necho "crashed" >&2\nexit 1\n');
    await chmod(broken, 0o755);
    oneErrorLine(
      await runSlim(['bench', '--model', models.slim, '--runtime', 'chromium:wasm', '--browser', broken, '--timeout', '20']),
      1,
      /broken-browser\.sh: the browser did not start/,
    );
  });
});
