/**
 * The package as a user gets it: `npm pack` ships dist/src, bin, configs, README and LICENSE only,
 * and the tarball installs from the registry into an empty folder (and globally under a prefix)
 * into a working `slim`, with no TypeScript and no dev dependency, away from this repository.
 * A real install: the dependencies come from the registry (npm's cache may answer), never from
 * this repository's node_modules.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeRun, exists, REPO_ROOT, runSlim } from '../helpers/cli.js';
import { loadWithStockTfjs } from '../helpers/stock-load.js';
import { writeTinyInputs, type TinyInputs } from '../helpers/tiny-inputs.js';

interface PackageJson {
  name: string;
  version: string;
  exports?: unknown;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

/** npm with the outer npm's settings, coverage and Node options left out (they would leak into the install). */
function npm(args: string[], cwd: string): Promise<string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'NODE_V8_COVERAGE' && key !== 'NODE_OPTIONS'),
  );
  return new Promise((resolve, reject) => {
    execFile('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`npm ${args.join(' ')} (in ${cwd}): ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** What `npm pack --json` says about the tarball: its file name and the paths inside it. */
function packed(stdout: string): { filename: string; files: string[] } {
  const [entry] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  return { filename: entry.filename, files: entry.files.map((f) => f.path) };
}

// --ignore-scripts: dist/ is already built (npm run build); `prepare` would compile it again.
const PACK = ['pack', '--json', '--ignore-scripts'];
// --prefer-offline: packages already in npm's cache are not revalidated (the install stays a real one).
const INSTALL = ['install', '--no-audit', '--no-fund', '--prefer-offline'];

let dir: string;
let inputs: TinyInputs;
/** The app folder with slim installed as a dependency, and slim's launcher in it. */
let app: string;
let localBin: string;
/** slim installed with -g under a prefix. */
let globalBin: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-package-'));
  inputs = await writeTinyInputs(path.join(dir, 'in'));
  const { filename } = packed(await npm([...PACK, '--pack-destination', dir], REPO_ROOT));
  const tarball = path.join(dir, filename);
  app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'slim-user', private: true, type: 'module' }));
  const prefix = path.join(dir, 'global');
  // The two installs share npm's cache, which is safe for concurrent use.
  await Promise.all([npm([...INSTALL, tarball], app), npm([...INSTALL, '-g', '--prefix', prefix, tarball], dir)]);
  localBin = path.join(app, 'node_modules', '.bin', 'slim');
  globalBin = path.join(prefix, 'bin', 'slim');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('--dry-run lists dist/src, the browser bundle, bin, configs, README, LICENSE and package.json only: no test, bench or fixture', async () => {
    const { files } = packed(await npm([...PACK, '--dry-run'], REPO_ROOT));
    const outside = files.filter(
      (f) => !/^(dist\/src\/.+\.(js|d\.ts)|dist\/browser\/slim\.js|bin\/[^/]+\.js|configs\/[^/]+\.json)$/.test(f),
    );
    assert.deepEqual(outside.sort(), ['LICENSE', 'README.md', 'package.json']);
    assert.ok(files.includes('dist/src/cli.js') && files.includes('bin/slim.js'), files.join('\n'));
    // The typed API and the browser entry of package.json's exports map.
    assert.ok(files.includes('dist/src/api/node.d.ts') && files.includes('dist/browser/slim.js'), files.join('\n'));
    // dist/src/bench is `slim bench`'s runtime code; bench/ and dist/bench are the benchmarks.
    assert.ok(!files.some((f) => /(^|\/)(test|fixtures)\//.test(f) || /^(dist\/)?bench\//.test(f)), files.join('\n'));
  });
});

describe('installed from the tarball', () => {
  test('no TypeScript and no dev dependency is installed; the installed package holds no test or bench file', async () => {
    // @types/* typings come in with tfjs's own dependencies (tfjs-data needs @types/node-fetch, which needs @types/node).
    const devOnly = Object.keys(pkg.devDependencies).filter((name) => !name.startsWith('@types/'));
    for (const name of ['typescript', ...devOnly]) {
      assert.equal(await exists(path.join(app, 'node_modules', name)), false, `${name} was installed`);
    }
    for (const name of Object.keys(pkg.dependencies)) {
      assert.ok(await exists(path.join(app, 'node_modules', name, 'package.json')), `${name} is missing`);
    }
    const installed = path.join(app, 'node_modules', pkg.name);
    assert.equal(await exists(path.join(installed, 'dist', 'test')), false);
    assert.equal(await exists(path.join(installed, 'dist', 'bench')), false);
    assert.match(await readFile(path.join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  });

  test('slim --help works outside the repository, installed in a folder and with -g --prefix; --version is the package version', async () => {
    for (const bin of [localBin, globalBin]) {
      const help = await runSlim(['--help'], { bin, cwd: dir });
      assert.equal(help.code, 0, describeRun(help));
      for (const command of ['report', 'prune', 'export', 'schema']) assert.match(help.stdout, new RegExp(`slim ${command}\\b`));
    }
    const version = await runSlim(['--version'], { bin: globalBin, cwd: dir });
    assert.equal(version.code, 0, describeRun(version));
    assert.equal(version.stdout.trim(), pkg.version);
  });

  test('report, prune and export on a small model; the outputs load in stock tfjs', async () => {
    const report = await runSlim(['report', '--model', inputs.model, '--json'], { bin: localBin, cwd: dir });
    assert.equal(report.code, 0, describeRun(report));
    const counted = JSON.parse(report.stdout) as { params: { total: number } };
    assert.ok(counted.params.total > 0, report.stdout);

    const pruned = path.join(dir, 'pruned');
    const prune = await runSlim(['prune', '--model', inputs.model, '--ratio', '0.5', '--out', pruned], { bin: globalBin, cwd: dir });
    assert.equal(prune.code, 0, describeRun(prune));
    const prunedModel = await loadWithStockTfjs(path.join(pruned, 'model.json'));
    assert.ok(prunedModel.countParams() < counted.params.total, 'pruning removed nothing');

    const exported = path.join(dir, 'exported');
    const exportRun = await runSlim(['export', '--model', pruned, '--out', exported], { bin: localBin, cwd: dir });
    assert.equal(exportRun.code, 0, describeRun(exportRun));
    const inference = await loadWithStockTfjs(path.join(exported, 'model.json'));
    assert.deepEqual(inference.outputs[0].shape, prunedModel.outputs[0].shape);
  });

  test('import("slim") from the installed folder gives the API', async (t) => {
    if (pkg.exports === undefined) {
      t.skip('package.json has no "exports" yet: the API entry is not part of the package');
      return;
    }
    const probe = path.join(app, 'probe.mjs');
    await writeFile(
      probe,
      `const api = await import(${JSON.stringify(pkg.name)});\nprocess.stdout.write(JSON.stringify(Object.keys(api).sort()));\n`,
    );
    const names = await new Promise<string[]>((resolve, reject) => {
      execFile(process.execPath, [probe], { cwd: app }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as string[]),
      );
    });
    for (const name of ['planPrune', 'applyPrune', 'count']) assert.ok(names.includes(name), `exports: ${names.join(', ')}`);
  });
});
