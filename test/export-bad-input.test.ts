/**
 * The export's bad input that the other export tests leave out: an infinite weight in the file to
 * export is refused on read, naming the weight and the index (NaN is covered through the binary in
 * test/e2e/export-options.test.ts): export never starts.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../src/errors.js';
import { fromLayersModel } from '../src/model/convert.js';
import { readModel, writeModelFolder } from '../src/model/io.js';
import { encodeWeights } from '../src/model/io-manifest.js';

let dir: string;
before(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'slim-export-bad-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('export bad input', () => {
  it('+Inf and -Inf weights are refused on read: one InputError naming the weight and the index', async () => {
    for (const [label, value] of [
      ['inf', Infinity],
      ['neginf', -Infinity],
    ] as const) {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'd' })] });
      const artifacts = await fromLayersModel(model);
      model.dispose();
      artifacts.weights.get('d/kernel')!.data[4] = value;
      // Written around slim's own writer, which refuses such weights: the file a foreign tool might leave.
      const { specs, data } = encodeWeights(artifacts.weights);
      const folder = path.join(dir, label);
      await writeModelFolder(
        folder,
        { format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] },
        data,
      );
      await assert.rejects(readModel(folder), (error: unknown) => {
        assert.ok(error instanceof InputError, String(error));
        assert.match(
          error.message,
          new RegExp(`weight 'd/kernel' holds ${String(value)} at index 4 \\(every weight value must be finite\\)`),
        );
        return true;
      });
    }
  });
});
