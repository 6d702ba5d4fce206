/**
 * The browser entry (dist/browser/slim.js) in headless Chromium, through the README's own page:
 * served over loopback HTTP with the model it loads, it sparsity-trains on WebGL, plans and applies
 * a prune and saves both models with tfjs's model.save to IndexedDB. Read back from IndexedDB, the
 * pruned model computes what Node's applyPrune makes of the page's sparse weights with the same plan
 * options. One browser for the file; skipped, with the reason, where no Chromium is installed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { applyPrune, loadModel, planPrune } from '../../src/api/node.js';
import { browserArgs, findBrowser } from '../../src/bench/chromium.js';
import { BenchServer, modelRoutes, type Route } from '../../src/bench/server.js';
import { fromLayersModel } from '../../src/model/convert.js';
import { sparseModel } from '../helpers/api-models.js';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bundle = path.join(packageRoot, 'dist', 'browser', 'slim.js');
const executable = findBrowser(undefined);
const skip =
  executable === undefined
    ? 'no Chromium or Chrome on PATH (Debian package chromium; .ci/run installs it)'
    : !existsSync(bundle)
      ? `${bundle} is not built (npm run build)`
      : false;

/** The README's browser page: the ```html block of "### In the browser". */
async function readmePage(): Promise<string> {
  const readme = await readFile(path.join(packageRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n### In the browser\n');
  assert.ok(start >= 0, 'README has an "In the browser" section');
  const html = /```html\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(html !== null, 'the section has an html block');
  return html[1];
}

/** What the page hands back from IndexedDB (tfjs's own loader) and computes there. */
interface PageModels {
  backend: string;
  sparse: { modelTopology: unknown; weightSpecs: tf.io.WeightsManifestEntry[]; weights: number[] };
  prunedShapes: number[][];
  prunedOutput: number[];
}

const INPUT_SHAPE: [number, number, number, number] = [2, 12, 12, 3];

describe('the browser entry in headless Chromium (README page)', { skip }, () => {
  let server: BenchServer;
  let browser: Browser | undefined;
  let page: Page;
  let served: number[];

  before(async () => {
    await tf.setBackend('cpu');
    const model = sparseModel();
    const artifacts = await fromLayersModel(model);
    served = model.getWeights().flatMap((w) => Array.from(w.dataSync()));
    model.dispose();
    const html = await readmePage();
    const tfjsDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs'));
    const js = 'text/javascript; charset=utf-8';
    const models = modelRoutes([artifacts]);
    const routes: Record<string, Route> = {
      '': { type: 'text/html; charset=utf-8', body: () => Promise.resolve(`<!doctype html><meta charset="utf-8">\n${html}`) },
      'tf.fesm.min.js': { type: js, body: () => readFile(path.join(tfjsDir, 'tf.fesm.min.js')) },
      'slim.js': { type: js, body: () => readFile(bundle) },
      'model/model.json': models['models/0/model.json'],
      'model/weights.bin': models['models/0/weights.bin'],
    };
    server = new BenchServer({ models: [], plan: {}, routes });
    await server.start();
    browser = await puppeteer.launch({ executablePath: executable, headless: true, args: browserArgs('webgl'), pipe: true });
    page = await browser.newPage();
    // The page's first error ends the wait (with the error), instead of the timeout.
    const failed = new Promise<never>((_, reject) => {
      page.on('pageerror', (error) => reject(new Error(`the page failed: ${String(error)}`)));
      page.on('console', (message) => {
        // The browser's own favicon request is not the page's (the server refuses paths without its token).
        if (message.type() === 'error' && !(message.location().url ?? '').endsWith('/favicon.ico'))
          reject(new Error(`the page logged an error: ${message.text()}`));
      });
    });
    await page.goto(server.url(), { waitUntil: 'load' });
    await Promise.race([
      page.waitForFunction(() => /^pruned: /.test(document.getElementById('status')?.textContent ?? ''), { timeout: 120_000 }),
      failed,
    ]);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page trains on WebGL, prunes, and reports fewer params', async () => {
    const status = await page.$eval('#status', (e) => e.textContent ?? '');
    const [, before, after] = /^pruned: (\d+) -> (\d+) params$/.exec(status) ?? [];
    assert.ok(Number(after) > 0 && Number(after) < Number(before), status);
  });

  test("the pruned model, saved to and read back from IndexedDB, computes what Node's applyPrune gives for the page's weights", async () => {
    const input = Array.from({ length: INPUT_SHAPE.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
    const fromPage = (await page.evaluate(
      async (values: number[], shape: number[]) => {
        type Tf = typeof tf;
        const t = (await import(new URL('tf.fesm.min.js', location.href).href)) as Tf;
        const sparse = await t.loadLayersModel('indexeddb://sparse');
        const pruned = await t.loadLayersModel('indexeddb://pruned');
        let saved: tf.io.ModelArtifacts | undefined;
        await sparse.save(
          t.io.withSaveHandler((a) =>
            Promise.resolve(((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })),
          ),
        );
        const x = t.tensor4d(values, shape as [number, number, number, number]);
        const y = pruned.predict(x) as tf.Tensor;
        return {
          backend: t.getBackend(),
          sparse: {
            modelTopology: saved!.modelTopology,
            weightSpecs: saved!.weightSpecs,
            weights: Array.from(new Float32Array(t.io.CompositeArrayBuffer.join(saved!.weightData))),
          },
          prunedShapes: pruned.getWeights().map((w) => w.shape),
          prunedOutput: Array.from(await y.data()),
        };
      },
      input,
      INPUT_SHAPE,
    )) as PageModels;
    assert.equal(fromPage.backend, 'webgl');
    assert.notDeepEqual(fromPage.sparse.weights, served, 'sparsity training moved the weights');

    // Node: the page's sparse weights, the same plan options, slim's applyPrune.
    const sparse = await loadModel({
      modelTopology: fromPage.sparse.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: fromPage.sparse.weightSpecs,
      weightData: Float32Array.from(fromPage.sparse.weights).buffer,
    });
    const pruned = await applyPrune(sparse, await planPrune(sparse, { ratio: 0.5 }));
    assert.deepEqual(
      fromPage.prunedShapes,
      pruned.model.getWeights().map((w) => w.shape),
    );
    const expected = tf.tidy(() => (pruned.model.predict(tf.tensor4d(input, INPUT_SHAPE)) as tf.Tensor).dataSync());
    const scale = Math.max(...Array.from(expected, Math.abs));
    const diff = Math.max(...Array.from(expected, (v, i) => Math.abs(v - fromPage.prunedOutput[i])));
    assert.ok(diff <= 1e-5 * scale, `max |diff| ${diff} against max |y| ${scale}`);
    sparse.dispose();
    pruned.model.dispose();
  });
});
