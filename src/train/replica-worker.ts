/**
 * A training replica in a worker thread (data parallelism, see src/train/replicas.ts): it starts
 * the same tfjs backend as the main thread, rebuilds the model from artifacts and keeps its own
 * optimizer. For every `step` message it computes the loss gradients of its rows of the batch,
 * sums them with the other replicas' through shared memory (replica-exchange.ts, during its
 * backward pass) and applies the same optimizer step to the same summed gradient as every other replica, so all copies of the
 * trainable weights stay bitwise identical without being sent. Its BatchNorm moving statistics
 * come from its own rows (never read back: the main thread's model is the one saved).
 *
 * Debug: SLIM_DEBUG_REPLICA_EXIT_AT_STEP=n makes every worker exit at its n-th step (0-based),
 * so tests can check that a replica dying mid-run fails the run with one line.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '#tfjs';
import { selectBackend } from '../backend/select.js';
import { toLayersModel } from '../model/convert.js';
import type { ErrorReply, ReplicaInit, ReplicaReply, ReplicaRequest, StepInput, StepRequest } from './replica-protocol.js';
import { applyReducedGradients, checksum, GradientExchange, packedWeights } from './replica-exchange.js';
import { computePart, emptyPart } from './replica-part.js';
import { withTrainingPatches } from './patches.js';
import { decodeRowTensors, type SharedRows } from './replica-data.js';
import { Optimizer, trainingModel, type TrainingModel } from './step.js';

interface Replica {
  net: TrainingModel;
  /** The training set in shared memory, when this replica decodes its own rows. */
  rows?: SharedRows;
  optimizer: Optimizer;
  exchange: GradientExchange;
  stepsDone: number;
}

const exitAtStep = Number(process.env['SLIM_DEBUG_REPLICA_EXIT_AT_STEP'] ?? Number.NaN);

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

/** This replica's rows of the batch as tensors: decoded here from shared examples, or the main thread's values. */
function stepTensors(replica: Replica, input: StepInput): { x: tf.Tensor; y: tf.Tensor2D } {
  if (input.kind === 'values') return { x: tf.tensor(input.x, input.xShape), y: tf.tensor2d(input.y, input.yShape as [number, number]) };
  if (replica.rows === undefined) throw new Error('replica was sent row indices but holds no shared training set');
  return decodeRowTensors(replica.rows, input.indices, input.epoch);
}

/**
 * One step on this replica: its part's gradients (streamed into the exchange during the backward
 * pass, its loss and correct count with them), summing units until the step is summed, the
 * optimizer step. No reply: the main thread reads the loss from the exchange.
 */
function step(replica: Replica, request: StepRequest): void {
  if (replica.stepsDone === exitAtStep) process.exit(70);
  const { net, exchange, optimizer } = replica;
  if (request.rows === 0) {
    emptyPart(exchange);
  } else {
    net.patches.seedDropout(request.dropoutSeeds);
    const { x, y } = stepTensors(replica, request.input);
    try {
      computePart(exchange, net, x, y, request.weight);
    } finally {
      tf.dispose([x, y]);
    }
  }
  exchange.reduceBlocking();
  applyReducedGradients(exchange, net, optimizer, request.lr);
  replica.stepsDone++;
}

/** Answers the main thread's requests until it terminates this worker. */
function serve(replica: Replica): Promise<never> {
  let failed = false;
  port!.on('message', (request: ReplicaRequest) => {
    // After a failure, report nothing more: the main thread fails its run on the first error.
    if (failed) return;
    try {
      if (request.type === 'step') step(replica, request);
      else if (request.type === 'checksum') post({ type: 'checksum', value: checksum(packedWeights(replica.net)) });
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
      const optimizer = new Optimizer(net, init.optimizer);
      optimizer.sgd.importState(net.layerVariables, init.optimizerState);
      const exchange = new GradientExchange(init.exchange, init.replica);
      post({ type: 'ready' });
      return serve({ net, optimizer, exchange, rows: init.rows, stepsDone: 0 });
    });
  } catch (error) {
    post(errorReply(error)); // a model the patches refuse; serve() itself never settles
  }
}

void main();
