/**
 * '#tfjs' (package.json "imports"): under Node, src/tfjs-node.ts loads @tensorflow/tfjs with
 * require() and re-exports it by name, so no process pays for Node lexing the CommonJS bundles;
 * the browser bundle keeps importing '@tensorflow/tfjs' itself. These tests pin what that must
 * not change: one tfjs (the object tests and library users import), every name, every src import.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as viaImports from '#tfjs';
import { REPO_ROOT } from './helpers/cli.js';

test("'#tfjs' is the same tfjs as import '@tensorflow/tfjs': one engine, backend registry and kernel registry", async () => {
  assert.equal(viaImports.Tensor, tf.Tensor);
  assert.equal(viaImports.engine(), tf.engine());
  assert.equal(viaImports.layers, tf.layers);
  await tf.setBackend('cpu');
  assert.equal(viaImports.getBackend(), 'cpu');
  // A kernel registered through one is found through the other.
  const kernelName = 'SlimTfjsImportProbe';
  viaImports.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: () => [] });
  try {
    assert.ok(tf.getKernel(kernelName, 'cpu') !== undefined);
  } finally {
    tf.unregisterKernel(kernelName, 'cpu');
  }
  const before = tf.memory().numTensors;
  const t = viaImports.tensor1d([1, 2, 3]);
  assert.ok(t instanceof tf.Tensor);
  assert.equal(tf.memory().numTensors, before + 1);
  t.dispose();
});

test("'#tfjs' exports every value name of @tensorflow/tfjs (after a tfjs upgrade: node scripts/tfjs-names.mjs)", () => {
  const tfjs = createRequire(import.meta.url)('@tensorflow/tfjs') as Record<string, unknown>;
  const expected = Object.keys(tfjs)
    .filter((name) => name !== '__esModule' && name !== 'default')
    .sort();
  assert.deepEqual(Object.keys(viaImports).sort(), expected);
  const values = viaImports as unknown as Record<string, unknown>;
  for (const name of expected) assert.equal(values[name], tfjs[name], name);
});

test("no module under src/ imports '@tensorflow/tfjs' directly (after merging: node scripts/rewrite-tfjs-imports.mjs)", () => {
  const srcDir = path.join(REPO_ROOT, 'src');
  const direct: string[] = [];
  for (const entry of readdirSync(srcDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (file === path.join(srcDir, 'tfjs-node.ts')) continue;
    if (/^import\s[^;]*?\sfrom\s+'@tensorflow\/tfjs';$/m.test(readFileSync(file, 'utf8'))) direct.push(path.relative(REPO_ROOT, file));
  }
  assert.deepEqual(direct, []);
});

test("the browser bundle imports '@tensorflow/tfjs' itself and does not carry a copy of it", () => {
  const bundle = readFileSync(path.join(REPO_ROOT, 'dist', 'browser', 'slim.js'), 'utf8');
  assert.match(bundle, /from\s*"@tensorflow\/tfjs"/);
  assert.doesNotMatch(bundle, /#tfjs/);
  // tfjs-core's own version string would be inlined with a bundled copy.
  assert.doesNotMatch(bundle, new RegExp(tf.version_core.replace(/\./g, '\\.')));
});
