/**
 * README "Use from code": every ```js block of that section, run as written against the built
 * package (`import ... from 'slim'` resolves through package.json's exports to dist/), in a folder
 * holding the `model/` the examples load. What they print is checked, and what they write.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';
import { sparseModel } from './helpers/api-models.js';
import { loadWithStockTfjs } from './helpers/stock-load.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The ```js blocks between "## Use from code" and the next top-level section. */
async function readmeExamples(): Promise<string[]> {
  const readme = await readFile(path.join(packageRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Use from code\n');
  assert.ok(start >= 0, 'README has a "Use from code" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('README "Use from code" examples', () => {
  let work: string;
  let examples: string[];
  const scripts = path.join(packageRoot, 'dist', 'readme-examples');
  const cwd = process.cwd();

  before(async () => {
    await tf.setBackend('cpu');
    work = await mkdtemp(path.join(tmpdir(), 'slim-readme-'));
    const model = sparseModel();
    await writeModel(path.join(work, 'model'), await fromLayersModel(model));
    model.dispose();
    examples = await readmeExamples();
    await mkdir(scripts, { recursive: true });
  });

  after(async () => {
    process.chdir(cwd);
    await rm(work, { recursive: true, force: true });
    await rm(scripts, { recursive: true, force: true });
  });

  /** Runs example `i` as an ES module inside the package (so 'slim' is the package itself) from the work folder; returns what it logged. */
  async function run(i: number): Promise<string[]> {
    const file = path.join(scripts, `example-${i + 1}.mjs`);
    await writeFile(file, examples[i]);
    const logged: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    process.chdir(work);
    try {
      await import(pathToFileURL(file).href);
    } finally {
      console.log = log;
      process.chdir(cwd);
    }
    return logged;
  }

  test('the section has the three Node examples', () => {
    assert.equal(examples.length, 3);
    for (const code of examples) assert.match(code, /from 'slim';/);
  });

  test('1: prune a model file and save it, plan beside it; stock tfjs loads the result', async () => {
    const logged = await run(0);
    assert.equal(logged.length, 1);
    const [, before, after] = /^params (\d+) -> (\d+)$/.exec(logged[0]) ?? [];
    assert.ok(Number(after) > 0 && Number(after) < Number(before), logged[0]);
    const plan = JSON.parse(await readFile(path.join(work, 'pruned', 'prune-plan.json'), 'utf8')) as { version: number; ratio: number };
    assert.deepEqual([plan.version, plan.ratio], [1, 0.5]);
    const stock = await loadWithStockTfjs(path.join(work, 'pruned', 'model.json'));
    assert.equal(stock.countParams(), Number(after));
    stock.dispose();
  });

  test('2: sparsity training in code, prune, export for inference', async () => {
    const logged = await run(1);
    assert.equal(logged.length, 2);
    assert.match(logged[0], /^λ [0-9.e-]+, 4 steps, mean \|γ\| [0-9.]+$/);
    assert.match(logged[1], /^2 BatchNorm folded, outputs within [0-9.]+e[-+]\d+$/);
  });

  test('3: a plan made for another model is a PlanMismatchError of kind bad-input', async () => {
    const logged = await run(2);
    assert.equal(logged.length, 1);
    assert.match(logged[0], /^bad-input: applyPrune: plan: prune plan group \d+: layer '.+' is not in the model$/);
  });
});
