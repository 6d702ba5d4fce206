/**
 * Part 4 of "slim the models users have": what slim cannot slim says so in one line with the way
 * out (graph models, SavedModel folders, TFLite, ONNX, unknown custom layer classes), through the
 * built binary; and the README's table of layer classes matches the registry.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultRegistry } from '../../src/layers/registry.js';
import { layerSupport } from '../../src/layers/support.js';
import { describeFailure } from '../../src/cli.js';
import { readModel } from '../../src/model/io.js';
import { describeRun, REPO_ROOT, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'slim-foreign-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function assertRefused(args: string[], pattern: RegExp): Promise<void> {
  const result = await runSlim(args);
  assert.equal(result.code, 2, describeRun(result));
  const lines = stderrLines(result).filter((l) => l.startsWith('error'));
  assert.equal(lines.length, 1, describeRun(result));
  assert.match(lines[0], pattern);
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  assert.equal(result.stdout, '');
}

const WAY_OUT = /tensorflowjs_converter --input_format keras/;

test('a tfjs graph model (format "graph-model" or a GraphDef topology) is refused with the converter command', async () => {
  const byFormat = path.join(dir, 'graph-a');
  const byTopology = path.join(dir, 'graph-b');
  await mkdir(byFormat);
  await mkdir(byTopology);
  await writeFile(
    path.join(byFormat, 'model.json'),
    JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }),
  );
  await writeFile(
    path.join(byTopology, 'model.json'),
    JSON.stringify({ modelTopology: { node: [{ name: 'x', op: 'Placeholder' }], versions: {} }, weightsManifest: [] }),
  );
  // Both files × both commands in-process: the refusal is readModel's (report reads without weights,
  // prune with), its line and exit code the CLI's one error mapping (describeFailure). Through the
  // binary, each file and each command once: the four spawns checked the same path twice over.
  for (const model of [byFormat, byTopology]) {
    for (const weights of [false, true]) {
      const err: unknown = await readModel(model, weights ? {} : { weights: false }).then(
        () => assert.fail(`${model} was read`),
        (e: unknown) => e,
      );
      const failure = describeFailure(err);
      assert.equal(failure.exitCode, 2, model);
      assert.match(failure.line, /is a tfjs graph model.*cannot be trained in tfjs/, model);
      assert.match(failure.line, WAY_OUT, model);
    }
  }
  await assertRefused(['report', '--model', byFormat], /is a tfjs graph model.*cannot be trained in tfjs/);
  await assertRefused(['prune', '--model', byTopology, '--ratio', '0.5', '--out', path.join(dir, 'never')], WAY_OUT);
});

test('SavedModel folder, TFLite and ONNX files are named and refused with the way out', async () => {
  const savedModel = path.join(dir, 'saved');
  await mkdir(path.join(savedModel, 'variables'), { recursive: true });
  await writeFile(path.join(savedModel, 'saved_model.pb'), Buffer.from([0x08, 0x01]));
  // A TFLite flatbuffer is recognised by its identifier even without the extension.
  const tflite = path.join(dir, 'model.bin');
  await writeFile(tflite, Buffer.concat([Buffer.from([0x1c, 0, 0, 0]), Buffer.from('TFL3'), Buffer.alloc(16)]));
  const onnx = path.join(dir, 'model.onnx');
  await writeFile(onnx, Buffer.from([0x08, 0x07, 0x12, 0x04]));
  await assertRefused(['report', '--model', savedModel], /TensorFlow SavedModel folder.*tensorflowjs_converter/);
  await assertRefused(['report', '--model', tflite], /TensorFlow Lite model.*tensorflowjs_converter/);
  await assertRefused(['prune', '--model', onnx, '--ratio', '0.5', '--dry-run'], /ONNX model.*tensorflowjs_converter/);
});

test('an unknown custom layer class gives one line, from report, prune and finetune', async () => {
  const model = path.join(dir, 'custom');
  await mkdir(model);
  const layers = [
    { class_name: 'Dense', config: { name: 'dense_1', units: 4, batch_input_shape: [null, 3], use_bias: true } },
    { class_name: 'MyCustomLayer', config: { name: 'custom_1' } },
  ];
  await writeFile(
    path.join(model, 'model.json'),
    JSON.stringify({
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 'seq', layers } },
      weightsManifest: [
        {
          paths: ['weights.bin'],
          weights: [
            { name: 'dense_1/kernel', shape: [3, 4], dtype: 'float32' },
            { name: 'dense_1/bias', shape: [4], dtype: 'float32' },
          ],
        },
      ],
    }),
  );
  await writeFile(path.join(model, 'weights.bin'), Buffer.alloc(16 * 4));
  const unknown = /unknown layer class 'MyCustomLayer'/;
  await assertRefused(['report', '--model', model], unknown);
  await assertRefused(['prune', '--model', model, '--ratio', '0.5', '--dry-run'], unknown);
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({ backend: 'cpu', data: { dataset: 'mnist', trainLimit: 32, testLimit: 32 }, finetune: { epochs: 1 } }),
  );
  await assertRefused(['finetune', '--config', config, '--model', model, '--out', path.join(dir, 'never')], unknown);
});

test("the README's layer-class table lists exactly the registry's classes, by support", async () => {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const support = layerSupport(defaultRegistry);
  for (const [kind, classes] of Object.entries(support)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| ${kind} |`));
    assert.ok(row !== undefined, `README has no '| ${kind} |' row`);
    const listed = [...row.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1]).sort();
    assert.deepEqual(listed, [...classes].sort(), `README row '${kind}'`);
  }
});
