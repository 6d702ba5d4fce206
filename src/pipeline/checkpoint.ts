/**
 * Checkpoints of a training stage: one folder holding the model as it stands (trainable weights
 * and BatchNorm moving statistics, via writeModel, so the folder appears whole or not at all) and
 * checkpoint.json beside it: where the run stands (epoch, step, the partial epoch's running sums),
 * the momentum buffers, the epoch log so far, and a fingerprint of what the stage depends on
 * (slim version, stage, config, input model), so `--resume` refuses a checkpoint of another run.
 * Data order, augmentation and dropout masks are functions of (seed, epoch, step): no RNG state
 * needs saving.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { fromLayersModel, toLayersModel } from '../model/convert.js';
import { readModel, writeModel } from '../model/io.js';
import type { ModelArtifacts } from '../model/topology.js';
import type { PartialEpoch, TrainingState, TrainOptions } from '../train/loop.js';
import type { SgdState } from '../train/sgd.js';
import { VERSION } from '../version.js';

const CHECKPOINT_JSON = 'checkpoint.json';
const FORMAT = 'slim-checkpoint-1';

interface CheckpointFile {
  format: typeof FORMAT;
  fingerprint: string;
  stage: string;
  nextEpoch: number;
  nextStep: number;
  partial?: PartialEpoch;
  /** Lines of the epoch log written so far (JSON, one EpochRecord each). */
  log: string[];
  /** Momentum buffers by weight name, float32 little-endian in base64 (exact). */
  optimizer: Record<string, string>;
}

/** What a stage resumes from. */
export interface ResumePoint {
  resume: NonNullable<TrainOptions['resume']>;
  log: string[];
}

/** Where `slim train` / `slim finetune` keep the checkpoint of `--out`: a folder beside it. */
export function checkpointDirFor(outDir: string): string {
  const target = path.resolve(outDir);
  return path.join(path.dirname(target), `${path.basename(target)}.checkpoint`);
}

/** Hash of a value (stable for zod-parsed configs: their keys come in schema order). */
function hashOf(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

/** The slim version, the stage, the config (without where it writes) and the stage's input model. */
export async function stageFingerprint(stage: string, config: object, model: tf.LayersModel): Promise<string> {
  const { out: _out, ...rest } = config as { out?: unknown };
  return hashOf(VERSION, stage, JSON.stringify(rest), artifactsHash(await fromLayersModel(model)));
}

/** Hash of a model's topology and weights (what a sweep plan names its sparse model by). */
export function artifactsHash(artifacts: Pick<ModelArtifacts, 'modelTopology' | 'weights'>): string {
  const weightBytes = [...artifacts.weights].flatMap(([name, w]) => [
    name,
    new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength),
  ]);
  return hashOf(JSON.stringify(artifacts.modelTopology), ...weightBytes);
}

function encodeOptimizer(state: SgdState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of state) out[name] = Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
  return out;
}

function decodeOptimizer(encoded: Record<string, string>): SgdState {
  const state: SgdState = new Map();
  for (const [name, text] of Object.entries(encoded)) {
    const bytes = Buffer.from(text, 'base64');
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    state.set(name, new Float32Array(copy.buffer));
  }
  return state;
}

/** Writes (atomically replacing) the checkpoint of `model` at `state`. */
export async function writeCheckpoint(
  dir: string,
  stage: string,
  fingerprint: string,
  model: tf.LayersModel,
  state: TrainingState,
  log: string[],
): Promise<void> {
  const file: CheckpointFile = {
    format: FORMAT,
    fingerprint,
    stage,
    nextEpoch: state.nextEpoch,
    nextStep: state.nextStep,
    ...(state.partial !== undefined ? { partial: state.partial } : {}),
    log,
    optimizer: encodeOptimizer(state.optimizerState()),
  };
  await writeModel(dir, await fromLayersModel(model), { overwrite: true, sidecars: { [CHECKPOINT_JSON]: `${JSON.stringify(file)}\n` } });
}

export async function checkpointExists(dir: string): Promise<boolean> {
  return fs.stat(path.join(dir, CHECKPOINT_JSON)).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * Reads the checkpoint in `dir`, checks it belongs to this run (same fingerprint) and loads its
 * weights into `model`. InputError (one line) when it is missing, unreadable or another run's.
 */
export async function readCheckpoint(dir: string, stage: string, fingerprint: string, model: tf.LayersModel): Promise<ResumePoint> {
  if (!(await checkpointExists(dir))) throw new InputError(`--resume: no checkpoint at ${dir} (run without --resume to start over)`);
  let file: CheckpointFile;
  try {
    file = JSON.parse(await fs.readFile(path.join(dir, CHECKPOINT_JSON), 'utf8')) as CheckpointFile;
  } catch (error) {
    throw new InputError(`--resume: ${path.join(dir, CHECKPOINT_JSON)}: unreadable (${(error as Error).message})`, { cause: error });
  }
  if (file.format !== FORMAT || file.stage !== stage)
    throw new InputError(`--resume: ${dir}: not a ${stage} checkpoint of this slim version`);
  if (file.fingerprint !== fingerprint) {
    throw new InputError(
      `--resume: ${dir}: checkpoint of a different config, input model or slim version (remove it or run without --resume)`,
    );
  }
  await loadWeightsInto(model, dir);
  return {
    resume: { epoch: file.nextEpoch, step: file.nextStep, partial: file.partial, optimizer: decodeOptimizer(file.optimizer) },
    log: file.log,
  };
}

/** Sets `model`'s weights (BN moving statistics included) to those of the model saved in `dir` (same topology). */
export async function loadWeightsInto(model: tf.LayersModel, dir: string): Promise<void> {
  const saved = await toLayersModel(await readModel(dir));
  try {
    model.setWeights(saved.getWeights());
  } finally {
    saved.dispose();
  }
}

export async function removeCheckpoint(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}
