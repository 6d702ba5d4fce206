/**
 * A training replica in a worker thread (data parallelism, see src/train/replicas.ts): it starts
 * the same tfjs backend as the main thread, rebuilds the model from artifacts, and for every
 * `step` message returns the loss and gradients of its part of the batch. It never updates
 * trainable weights itself: the main thread sends their new values after each optimizer step.
 * Its BatchNorm moving statistics drift on their own (from its parts of the batches) and are
 * never read back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../backend/select.js';
import { toLayersModel } from '../model/convert.js';
import type { ErrorReply, ReplicaInit, ReplicaReply, ReplicaRequest, StepRequest, WeightsUpdate } from './replica-protocol.js';
import { withTrainingPatches } from './patches.js';
import { lossAndGrads, trainingModel, type TrainingModel } from './step.js';

interface Replica {
  net: TrainingModel;
  sizes: number[];
  total: number;
}

const port = parentPort;
if (port === null) throw new Error('replica-worker.js must be started as a worker thread');

function post(reply: ReplicaReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function errorReply(error: unknown): ErrorReply {
  if (error instanceof Error) return { type: 'error', name: error.name, message: error.message };
  return { type: 'error', name: 'Error', message: String(error) };
}

/** Starts the backend and rebuilds the main thread's model (unpatched: see main). */
async function loadModel(init: ReplicaInit): Promise<tf.LayersModel> {
  if (init.prod) tf.env().set('PROD', true);
  const backend = await selectBackend(init.backend);
  if (backend.name !== init.backend) throw new Error(`replica started backend ${backend.name}, main thread runs ${init.backend}`);
  const model = await toLayersModel(init.artifacts);
  const shapes = model.trainableWeights.map((w) => w.read());
  const same =
    shapes.length === init.trainableShapes.length &&
    shapes.every((v, i) => v.dtype === 'float32' && v.shape.join(',') === init.trainableShapes[i].join(','));
  if (!same) throw new Error('the replica model does not have the same trainable weights as the main model');
  return model;
}

/** Loss, correct count and gradients of one part of a batch: the loop's lossAndGrads, packed for the main thread. */
function step(replica: Replica, request: StepRequest): void {
  const { model, patches, variables } = replica.net;
  patches.seedDropout(request.dropoutSeeds);
  const { loss, correct, grads } = tf.tidy(() => {
    const x = tf.tensor(request.x, request.xShape);
    const y = tf.tensor2d(request.y, request.yShape as [number, number]);
    const part = lossAndGrads(model, variables, patches.outputKind, x, y);
    // One readback for all gradients, in trainableWeights order; a weight without a gradient gets zeros.
    const flat = variables.map((v, i) => part.grads[v.name]?.flatten() ?? tf.zeros([replica.sizes[i]]));
    // slice(): a copy we own, since its buffer is transferred (the cpu backend may hand out its storage).
    const packed = flat.length > 0 ? (tf.concat(flat).dataSync() as Float32Array).slice() : new Float32Array(0);
    const result = { loss: part.loss.dataSync()[0], correct: part.correct.dataSync()[0], grads: packed };
    part.correct.dispose(); // kept by lossAndGrads, and not returned from this tidy
    return result;
  });
  post({ type: 'grads', loss, correct, grads }, [grads.buffer]);
}

function setWeights(replica: Replica, update: WeightsUpdate): void {
  if (update.values.length !== replica.total) {
    throw new Error(`replica got ${update.values.length} weight values, expected ${replica.total}`);
  }
  tf.tidy(() => {
    let offset = 0;
    replica.net.variables.forEach((v, i) => {
      const size = replica.sizes[i];
      // assign (not LayerVariable.write): the main thread already applied any constraint.
      v.assign(tf.tensor(update.values.subarray(offset, offset + size), v.shape));
      offset += size;
    });
  });
}

/** Answers the main thread's requests until it terminates this worker. */
function serve(replica: Replica): Promise<never> {
  let failed = false;
  port!.on('message', (request: ReplicaRequest) => {
    // After a failure, report nothing more: the main thread fails its run on the first error.
    if (failed) return;
    try {
      if (request.type === 'step') step(replica, request);
      else if (request.type === 'weights') setWeights(replica, request);
      else post({ type: 'memory', numTensors: tf.memory().numTensors });
    } catch (error) {
      failed = true;
      post(errorReply(error));
    }
  });
  // The main thread ends the worker with terminate(): the patches live as long as the thread.
  return new Promise<never>(() => {});
}

async function main(): Promise<void> {
  const init = workerData as ReplicaInit;
  let model: tf.LayersModel;
  try {
    model = await loadModel(init);
  } catch (error) {
    post(errorReply(error));
    return; // the main thread terminates us
  }
  try {
    // The same patches as the main thread's model: the replica trains exactly as the loop does.
    await withTrainingPatches(model, { fusedBatchNorm: init.fusedBatchNorm }, (patches) => {
      const net = trainingModel(model, patches);
      const sizes = net.variables.map((v) => v.size);
      post({ type: 'ready' });
      return serve({ net, sizes, total: sizes.reduce((a, b) => a + b, 0) });
    });
  } catch (error) {
    post(errorReply(error)); // a model the patches refuse; serve() itself never settles
  }
}

void main();
