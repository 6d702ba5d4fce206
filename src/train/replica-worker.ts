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
import { dropoutLayers, setDropoutSeed } from './dropout.js';
import { useFusedBatchNorm } from './fused-bn.js';
import { correctCount, crossEntropy, trainOnLogits, type OutputKind } from './loss.js';
import type { ErrorReply, ReplicaInit, ReplicaReply, ReplicaRequest, StepRequest, WeightsUpdate } from './replica-protocol.js';

interface Replica {
  model: tf.LayersModel;
  kind: OutputKind;
  variables: tf.Variable[];
  sizes: number[];
  total: number;
  dropouts: tf.layers.Layer[];
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

async function start(init: ReplicaInit): Promise<Replica> {
  if (init.prod) tf.env().set('PROD', true);
  const backend = await selectBackend(init.backend);
  if (backend.name !== init.backend) throw new Error(`replica started backend ${backend.name}, main thread runs ${init.backend}`);
  const model = await toLayersModel(init.artifacts);
  const layerVariables = model.trainableWeights;
  const variables = layerVariables.map((v) => v.read() as tf.Variable);
  const sizes = variables.map((v) => v.size);
  const same =
    variables.length === init.trainableShapes.length &&
    variables.every((v, i) => v.dtype === 'float32' && v.shape.join(',') === init.trainableShapes[i]!.join(','));
  if (!same) throw new Error('the replica model does not have the same trainable weights as the main model');
  // The same BatchNorm path as the main thread's loop; the replica's model lives only as long as
  // the worker, so nothing is uninstalled.
  if (init.fusedBatchNorm) useFusedBatchNorm(model);
  return {
    model,
    // As the main loop: softmax models train on their logits (the replica's model is never restored).
    kind: trainOnLogits(model).kind,
    variables,
    sizes,
    total: sizes.reduce((a, b) => a + b, 0),
    dropouts: dropoutLayers(model),
  };
}

/** Loss, correct count and gradients of one part of a batch; the same maths as the loop's step. */
function step(replica: Replica, request: StepRequest): void {
  replica.dropouts.forEach((d, i) => setDropoutSeed(d, request.dropoutSeeds[i]));
  const { loss, correct, grads } = tf.tidy(() => {
    const x = tf.tensor(request.x, request.xShape);
    const y = tf.tensor2d(request.y, request.yShape as [number, number]);
    let correctTensor: tf.Scalar | undefined;
    const { value, grads: byName } = tf.variableGrads(() => {
      const out = replica.model.apply(x, { training: true }) as tf.Tensor;
      correctTensor = tf.keep(correctCount(y, out));
      return crossEntropy(replica.kind, y, out);
    }, replica.variables);
    // One readback for all gradients, in trainableWeights order; a weight without a gradient gets zeros.
    const flat = replica.variables.map((v, i) => byName[v.name]?.flatten() ?? tf.zeros([replica.sizes[i]!]));
    // slice(): a copy we own, since its buffer is transferred (the cpu backend may hand out its storage).
    const packed = flat.length > 0 ? (tf.concat(flat).dataSync() as Float32Array).slice() : new Float32Array(0);
    const result = { loss: value.dataSync()[0]!, correct: correctTensor!.dataSync()[0]!, grads: packed };
    correctTensor!.dispose();
    return result;
  });
  post({ type: 'grads', loss, correct, grads }, [grads.buffer as ArrayBuffer]);
}

function setWeights(replica: Replica, update: WeightsUpdate): void {
  if (update.values.length !== replica.total) {
    throw new Error(`replica got ${update.values.length} weight values, expected ${replica.total}`);
  }
  tf.tidy(() => {
    let offset = 0;
    replica.variables.forEach((v, i) => {
      const size = replica.sizes[i]!;
      // assign (not LayerVariable.write): the main thread already applied any constraint.
      v.assign(tf.tensor(update.values.subarray(offset, offset + size), v.shape));
      offset += size;
    });
  });
}

async function main(): Promise<void> {
  let replica: Replica;
  try {
    replica = await start(workerData as ReplicaInit);
  } catch (error) {
    post(errorReply(error));
    return; // the main thread terminates us
  }
  post({ type: 'ready' });
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
}

void main();
