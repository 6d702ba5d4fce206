/**
 * Through the built binary, on a small Keras 3 archive (Sequential: InputLayer, Rescaling, Conv-BN
 * blocks, Dense head): the small points of reading a Keras user's model. The plan's groups are
 * numbered from 1, Rescaling passes channels through (no wall), a model never sparsity-trained gets
 * the |gamma| warning; an existing Keras output is
 * refused before any work by prune as by export; `--help` calls a Keras --out a file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fromLayersModel } from '../../src/model/convert.js';
import { encodeKerasFile } from '../../src/model/keras/write.js';
import { describeRun, runSlim, STACK_FRAME, stderrLines } from '../helpers/cli.js';

let dir: string;
let source: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slim-keras-small-'));
  const net = tf.sequential({
    layers: [
      tf.layers.inputLayer({ batchInputShape: [null, 16, 16, 3], name: 'input_layer' }),
      tf.layers.rescaling({ scale: 1 / 255, name: 'rescaling' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2d' }),
      tf.layers.batchNormalization({ name: 'batch_normalization' }),
      tf.layers.reLU({ name: 're_lu' }),
      // Rescaling between two blocks: channel-wise harmless, so the group before it stays prunable.
      tf.layers.rescaling({ scale: 2, offset: 0.5, name: 'rescaling_1' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv2d_1' }),
      tf.layers.batchNormalization({ name: 'batch_normalization_1' }),
      tf.layers.reLU({ name: 're_lu_1' }),
      tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }),
      tf.layers.dense({ units: 2, activation: 'softmax', name: 'dense' }),
    ],
  });
  source = path.join(dir, 'small.keras');
  await writeFile(source, await encodeKerasFile(await fromLayersModel(net), 'keras'));
  net.dispose();
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('small points on a Keras 3 model', () => {
  it('prune --dry-run: groups numbered from 1, Rescaling no wall, both BN groups prunable, the |gamma| warning', async () => {
    const result = await runSlim(['prune', '--model', source, '--ratio', '0.25', '--dry-run']);
    assert.equal(result.code, 0, describeRun(result));
    const groups = result.stdout.split('\n').filter((l) => /^ {2}group \d+:/.test(l));
    assert.deepEqual(
      groups.map((l) => /group (\d+):/.exec(l)![1]),
      ['1', '2'],
      result.stdout,
    );
    // The first group reaches through rescaling_1 into conv2d_1: Rescaling is tied, not a wall.
    assert.match(groups[0], /\[bn: batch_normalization; layers: conv2d, batch_normalization, re_lu, rescaling_1, conv2d_1\]/);
    assert.doesNotMatch(result.stdout, /wall: rescaling|kept whole: .*rescaling/, result.stdout);
    // Never sparsity-trained (every γ 1): prune warns before cutting and points to slim train.
    assert.match(result.stderr, /warning: prune: the \|gamma\| do not separate: 0\.0% of BN channels are near zero.*slim train/);
  });

  it('prune --out existing.keras is refused before any work (no plan line), the file untouched', async () => {
    const existing = path.join(dir, 'existing.keras');
    await writeFile(existing, 'an older file\n');
    const result = await runSlim(['prune', '--model', source, '--ratio', '0.25', '--out', existing]);
    assert.equal(result.code, 2, describeRun(result));
    const lines = stderrLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], /^error: .*existing\.keras: exists; --overwrite replaces it$/);
    assert.doesNotMatch(result.stderr, STACK_FRAME);
    assert.equal(await readFile(existing, 'utf8'), 'an older file\n');
  });

  it('export --help says --out is a folder or a .keras / .h5 file', async () => {
    const result = await runSlim(['export', '--help']);
    assert.equal(result.code, 0, describeRun(result));
    const out = result.stdout.replace(/\s+/g, ' ');
    assert.match(out, /--out where to write: a folder \(tfjs layers; a trailing slash always means one\), or a \.keras \/ \.h5 file/);
  });
});
