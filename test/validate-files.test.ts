/**
 * Model files slim must refuse in one line before any work: functional graphs whose inputs,
 * outputs or inbound node references tfjs cannot build, weight shards that are not regular files,
 * a model.json without a weights manifest, and files that are not models at all (text, PNG, a
 * damaged HDF5 file), whose bytes must not break the message over several lines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../src/errors.js';
import { fromLayersModel } from '../src/model/convert.js';
import { readModel } from '../src/model/io.js';
import type { ModelArtifacts } from '../src/model/topology.js';
import { writeEditedModel } from './helpers/edited-model.js';
import { describeRun, runSlim, stderrLines } from './helpers/cli.js';

let root: string;
let counter = 0;
const fresh = (label: string): string => path.join(root, `${label}-${++counter}`);

before(async () => {
  await tf.setBackend('cpu');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'slim-validate-files-test-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Two inputs: `a` → dense 'da', `b` → dense 'db', added, then a dense head. */
async function twoInputModel(): Promise<ModelArtifacts> {
  const a = tf.input({ shape: [4], name: 'a' });
  const b = tf.input({ shape: [4], name: 'b' });
  const da = tf.layers.dense({ units: 3, name: 'da' }).apply(a) as tf.SymbolicTensor;
  const db = tf.layers.dense({ units: 3, name: 'db' }).apply(b) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([da, db]) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: 2, name: 'head' }).apply(sum) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [a, b], outputs: head, name: 'two_inputs' });
  const artifacts = await fromLayersModel(model);
  model.dispose();
  return artifacts;
}

/** A fresh folder holding `artifacts` with model.json edited by `edit`. */
function writeEdited(artifacts: ModelArtifacts, edit: (json: Record<string, any>) => void): Promise<string> {
  return writeEditedModel(fresh('model'), artifacts, edit);
}

function layer(json: Record<string, any>, name: string): Record<string, any> {
  const found = json.modelTopology.config.layers.find((l: any) => l.name === name);
  assert.ok(found, name);
  return found;
}

async function assertRefused(dir: string, words: RegExp, options: { weights?: boolean } = {}): Promise<void> {
  await assert.rejects(readModel(dir, options), (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.match(error.message, words);
    assert.ok(error.message.startsWith(path.join(dir, 'model.json')), `names the file: ${error.message}`);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
}

/** Every model-reading command exits 2 with one `error:` line matching `words`. */
async function assertOneLineEverywhere(model: string, words: RegExp): Promise<void> {
  for (const args of [
    ['report', '--model', model],
    ['prune', '--model', model, '--ratio', '0.5', '--out', fresh('out')],
    ['export', '--model', model, '--out', fresh('out'), '--backend', 'cpu'],
  ]) {
    const run = await runSlim(args);
    assert.equal(run.code, 2, describeRun(run));
    assert.equal(stderrLines(run).length, 1, describeRun(run));
    assert.match(stderrLines(run)[0], words, describeRun(run));
  }
}

describe('functional graphs tfjs cannot build', () => {
  test('an inbound node index past the layer’s calls is named, for the reading layer and in input/output lists', async () => {
    const artifacts = await twoInputModel();
    await assertRefused(
      await writeEdited(artifacts, (j) => (layer(j, 'head').inbound_nodes[0][0][1] = 5)),
      /layer 'head' refers to node 5 of layer 'sum', which has only node 0/,
    );
    await assertRefused(
      await writeEdited(artifacts, (j) => (j.modelTopology.config.output_layers[0][1] = -1)),
      /output_layers of 'two_inputs' refers to node -1 of layer 'head'/,
    );
  });

  test('empty input_layers or output_layers', async () => {
    const artifacts = await twoInputModel();
    await assertRefused(
      await writeEdited(artifacts, (j) => (j.modelTopology.config.input_layers = [])),
      /model 'two_inputs': input_layers is empty/,
    );
    await assertRefused(
      await writeEdited(artifacts, (j) => (j.modelTopology.config.output_layers = [])),
      /model 'two_inputs': output_layers is empty/,
      { weights: false },
    );
  });

  test('an input that is not an InputLayer, and an output depending on an unlisted input', async () => {
    const artifacts = await twoInputModel();
    await assertRefused(
      await writeEdited(artifacts, (j) => (j.modelTopology.config.input_layers = [['sum', 0, 0]])),
      /input_layers names layer 'sum' \(Add\); every input must be an InputLayer/,
    );
    await assertRefused(
      await writeEdited(artifacts, (j) => (j.modelTopology.config.input_layers = [['a', 0, 0]])),
      /the outputs depend on input layer 'b', which input_layers does not list/,
    );
  });

  test('the valid two-input model still reads, and the CLI gives one line for a bad graph', async () => {
    const artifacts = await twoInputModel();
    const good = await writeEdited(artifacts, () => {});
    assert.equal((await readModel(good)).weights.size, 6);
    const bad = await writeEdited(artifacts, (j) => (j.modelTopology.config.input_layers = []));
    await assertOneLineEverywhere(bad, /^error: .*model\.json: model 'two_inputs': input_layers is empty/);
  });
});

describe('weights that cannot be read', () => {
  test('a shard that is a FIFO is refused without opening it (no hang)', { timeout: 60_000 }, async () => {
    const dir = await writeEdited(await twoInputModel(), (j) => (j.weightsManifest[0].paths = ['fifo.bin']));
    execFileSync('mkfifo', [path.join(dir, 'fifo.bin')]);
    await assertRefused(dir, /weight file "fifo\.bin" is not a regular file/);
  });

  test('a model.json whose weightsManifest is null has every weight missing for commands that need weights', async () => {
    const dir = await writeEdited(await twoInputModel(), (j) => (j.weightsManifest = null));
    await assertRefused(dir, /layer 'd[ab]' \(Dense\): weight 'kernel' is missing/);
    // report counts from the topology alone, so the same file is fine without weights.
    assert.equal((await readModel(dir, { weights: false })).weights.size, 0);
  });
});

describe('files that are not models', () => {
  test('text, PNG bytes and a damaged HDF5 file: one line each, control bytes escaped', async () => {
    const dir = fresh('not-models');
    await fs.mkdir(dir, { recursive: true });
    const files: Record<string, [Buffer | string, RegExp]> = {
      'text.json': ['no\nmodel\n', /not valid JSON .*\\u000a/],
      'png.json': [Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), /not valid JSON .*PNG\\u000d\\u000a/],
      'h5.json': [
        Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]),
        /not a readable HDF5 file \(/,
      ],
    };
    for (const [name, [content, words]] of Object.entries(files)) {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      await assertOneLineEverywhere(file, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ${words.source}`));
    }
  });
});
