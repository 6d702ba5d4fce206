/**
 * Stopping train() part-way through an epoch (options.signal) and resuming from the state it
 * returns gives the weights of an uninterrupted run, bit for bit, alone and with a replica worker;
 * and a checkpoint folder round-trips that state and refuses another run's fingerprint.
 * Real MNIST subset (32 images in batches of 8: four steps an epoch, enough to stop mid-epoch),
 * cpu backend.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/dataset.js';
import { InputError } from '../src/errors.js';
import { buildVgg, type VggSpec } from '../src/model/architectures.js';
import { readCheckpoint, stageFingerprint, writeCheckpoint } from '../src/pipeline/checkpoint.js';
import { train, type TrainingState, type TrainOptions } from '../src/train/loop.js';
import { loadMnist, mnistTrainOptions } from './helpers/mnist.js';

// 'A' first halves the image: the cpu backend's conv filter gradient is most of the time here.
const SPEC: VggSpec = {
  cfg: ['A', 4, 'M', 8, 'M'],
  inputShape: [28, 28, 1],
  numClasses: 10,
  head: 'flatten',
  hidden: [16],
  dropout: 0.3,
  seed: 3,
};
const BASE = mnistTrainOptions({ epochs: 2, batchSize: 8, lr: 0.05, milestones: [0.5], sparsityLambda: 1e-3, seed: 5, syncEvery: 2 });

let mnist: Dataset;
let dir: string;

before(async () => {
  await tf.setBackend('cpu');
  mnist = (await loadMnist()).train.limit(32);
  dir = await mkdtemp(path.join(tmpdir(), 'slim-resume-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.weights.map((w) => (w.read().dataSync() as Float32Array).slice());
}

/** A model of SPEC holding `values` (runs compared must start from the same weights). */
function modelWith(values: Float32Array[]): tf.LayersModel {
  const model = buildVgg(SPEC);
  const tensors = values.map((v, i) => tf.tensor(v, model.weights[i].shape as number[]));
  model.setWeights(tensors);
  tf.dispose(tensors);
  return model;
}

/** train() stopped by its signal after `stopAfterSteps` steps of epoch 1 (0-based: the second). */
async function stoppedRun(
  options: TrainOptions,
  stopAfterSteps: number,
  initial: Float32Array[],
): Promise<{ model: tf.LayersModel; state: TrainingState }> {
  const model = modelWith(initial);
  const controller = new AbortController();
  const result = await train(
    model,
    { train: mnist },
    { ...options, signal: controller.signal },
    {
      onBatch: (info) => {
        if (info.epoch === 1 && info.step === stopAfterSteps - 1) controller.abort();
      },
    },
  );
  assert.ok(result.interrupted, 'the run stopped');
  assert.equal(result.epochs.length, 1);
  return { model, state: result.interrupted };
}

for (const replicas of [1, 2]) {
  test(`a run stopped mid-epoch and resumed ends with the uninterrupted run's weights and epoch record (replicas ${replicas})`, async () => {
    const options = { ...BASE, replicas };
    const straight = buildVgg(SPEC);
    const initial = weightsOf(straight);
    const full = await train(straight, { train: mnist }, options);

    const { model, state } = await stoppedRun(options, 2, initial);
    assert.deepEqual([state.nextEpoch, state.nextStep], [1, 2]);
    assert.equal(state.partial?.seen, 2 * BASE.batchSize);
    const rest = await train(
      model,
      { train: mnist },
      { ...options, resume: { epoch: state.nextEpoch, step: state.nextStep, partial: state.partial, optimizer: state.optimizerState() } },
    );
    assert.equal(rest.interrupted, undefined);
    assert.equal(rest.epochs.length, 1);
    // Same weights bit for bit; the loss sum only differs by where the read-back windows fell.
    const expected = weightsOf(straight);
    weightsOf(model).forEach((w, i) => assert.deepEqual(w, expected[i], straight.weights[i].name));
    assert.equal(rest.epochs[0].trainAccuracy, full.epochs[1].trainAccuracy);
    assert.ok(Math.abs(rest.epochs[0].loss - full.epochs[1].loss) < 1e-6);
    straight.dispose();
    model.dispose();
  });
}

test('a checkpoint folder restores the stopped state; another fingerprint is refused with one line', async () => {
  const input = buildVgg(SPEC);
  const { model, state } = await stoppedRun(BASE, 2, weightsOf(input));
  const fingerprint = await stageFingerprint('train', { seed: 5 }, input);
  input.dispose();
  const checkpoint = path.join(dir, 'train.checkpoint');
  await writeCheckpoint(checkpoint, 'train', fingerprint, model, state, ['{"epoch":0}']);

  const restored = buildVgg(SPEC);
  const point = await readCheckpoint(checkpoint, 'train', fingerprint, restored);
  assert.deepEqual([point.resume.epoch, point.resume.step, point.resume.partial], [state.nextEpoch, state.nextStep, state.partial]);
  assert.deepEqual(point.log, ['{"epoch":0}']);
  assert.deepEqual(point.resume.optimizer, state.optimizerState());
  const expected = weightsOf(model);
  weightsOf(restored).forEach((w, i) => assert.deepEqual(w, expected[i]));

  await assert.rejects(
    readCheckpoint(checkpoint, 'train', 'another', restored),
    (e: Error) => e instanceof InputError && /different config/.test(e.message) && !e.message.includes('\n'),
  );
  await assert.rejects(readCheckpoint(checkpoint, 'finetune', fingerprint, restored), InputError);
  await assert.rejects(readCheckpoint(path.join(dir, 'none'), 'train', fingerprint, restored), /no checkpoint/);
  model.dispose();
  restored.dispose();
});
