/**
 * Reading and writing tfjs layers models on disk (model.json + binary weight shards).
 *
 * Reading accepts what tfjs and the Python converter write, old and new, and hands back one
 * normalised shape (see io-topology.ts); every size is checked and no path in a model.json can make
 * slim read outside the model's folder. Writing produces exactly what tfjs's own `model.save()`
 * produces (one group, one `weights.bin`), atomically.
 */
import { constants as fsConstants, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '#tfjs';
import { InputError } from '../errors.js';
import { createParents, stagingPath } from '../io/out-path.js';
import { decodeGroup, elementCount, encodeWeights, parseManifest, storedByteLength } from './io-manifest.js';
import type { WeightQuantization } from './io-manifest.js';
import type { ManifestGroup } from './io-manifest.js';
import { foreignFormatMessage, graphModelMessage, isGraphModelJson } from './foreign-formats.js';
import { normalizeTopology } from './io-topology.js';
import { COMPANION_FILE, COMPANION_KEY, companionText, readCompanion } from './companion.js';
import { printable } from './printable.js';
import { readKerasFileIfKeras } from './keras/load.js';
import { checkJsonDepth, validateTopology, validateWeightValues } from './validate.js';
import type { LoadedModel, ModelArtifacts, ReadModelOptions, WeightMap } from './topology.js';

export { normalizeTopology } from './io-topology.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

// Types of a model as read; they live in topology.ts so readers of other formats (keras/) need not import this module.
export type { LoadedModel, ReadModelOptions, WeightSpecSummary } from './topology.js';

export interface WriteModelOptions {
  /** Replace `outDir` even when it holds files other than a model (its whole content is removed). */
  overwrite?: boolean;
  /** Files slim keeps beside a model (logs, plans), written in the same atomic step. Names from SIDECAR_FILES. */
  sidecars?: Record<string, string>;
  /** Weights to store quantized (their values already on the grid, as quantizeWeights leaves them). */
  quantization?: ReadonlyMap<string, WeightQuantization>;
}

/** Files slim itself writes beside a model; a folder holding only a model and these is slim's to replace. */
export const SIDECAR_FILES: readonly string[] = [
  'train-log.jsonl',
  'finetune-log.jsonl',
  'prune-plan.json',
  'report.json',
  'checkpoint.json',
  COMPANION_FILE,
];

/** Accepts a model.json path or a directory holding model.json; returns the model.json's absolute path. */
export function resolveModelPath(p: string): string {
  if (p.trim() === '') throw new InputError('the model path is empty (give a model.json, a folder holding one, or a .keras/.h5 file)');
  const absolute = path.resolve(p);
  const foreign = foreignFormatMessage(p); // SavedModel, TFLite, ONNX: one line with the way out
  if (foreign !== undefined) throw new InputError(foreign);
  let stats;
  try {
    stats = statSync(absolute);
  } catch {
    throw new InputError(`${p}: no such file or directory (expected a model.json or a folder holding one)`);
  }
  if (stats.isDirectory()) {
    const candidate = path.join(absolute, MODEL_JSON);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // fall through to the error below
    }
    throw new InputError(`${p}: folder has no ${MODEL_JSON}`);
  }
  if (!stats.isFile()) throw new InputError(`${p}: not a regular file`);
  return absolute;
}

/**
 * The files a model is read from: its model.json (or .keras/.h5 file) and the weight files its
 * manifest names. For refusing an output path that would overwrite an input; a model that cannot
 * be read gives what could be found (reading it later says what is wrong).
 */
export async function modelFiles(p: string): Promise<string[]> {
  let modelJson: string;
  try {
    modelJson = resolveModelPath(p);
  } catch {
    return [path.resolve(p)];
  }
  if (!modelJson.endsWith('.json')) return [modelJson];
  try {
    const json: unknown = JSON.parse(await fs.readFile(modelJson, 'utf8'));
    const groups = isObject(json) ? parseManifest(json.weightsManifest, MODEL_JSON) : [];
    const dir = path.dirname(modelJson);
    return [modelJson, ...groups.flatMap((group) => group.paths.map((shard) => path.resolve(dir, shard)))];
  } catch {
    return [modelJson];
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Resolves a shard path from the manifest to an absolute path inside `modelDir`.
 * Refuses URLs, absolute paths and anything that climbs out of the model's folder:
 * a model.json must never make slim read other files.
 */
export function resolveShardPath(modelDir: string, shardPath: string, file: string): string {
  const escapes = () => new InputError(`${file}: weight file path "${shardPath}" points outside the model's folder`);
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(shardPath) || shardPath.startsWith('/') || shardPath.startsWith('\\')) {
    throw escapes(); // URLs (http:, file:, data:), drive letters, absolute paths
  }
  if (path.isAbsolute(shardPath) || shardPath.includes('\0')) throw escapes();
  const resolved = path.resolve(modelDir, shardPath);
  const relative = path.relative(modelDir, resolved);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) throw escapes();
  return resolved;
}

/** Reads a tfjs layers model: model.json, then (unless `weights: false`) every shard, dequantized to float32/int32. */
export async function readModel(modelJsonPath: string, options: ReadModelOptions = {}): Promise<LoadedModel> {
  const file = resolveModelPath(modelJsonPath);
  // Keras files (.keras archives, legacy HDF5) are told by their first bytes, whatever their name.
  const keras = await readKerasFileIfKeras(file, options);
  if (keras !== undefined) {
    if (options.validate !== false) {
      validateTopology(keras.modelTopology, keras.weightSpecs, file, { weightsRequired: options.weights !== false });
      validateWeightValues(keras.weights, file);
    }
    return keras;
  }
  const modelDir = path.dirname(file);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${printable((error as Error).message)})`, { cause: error });
  }
  if (!isObject(json)) throw new InputError(`${file}: not a model.json (expected a JSON object)`);
  checkJsonDepth(json, file);
  if (isGraphModelJson(json)) throw new InputError(graphModelMessage(file));
  if (json.format !== undefined && json.format !== null && json.format !== 'layers-model') {
    throw new InputError(`${file}: unknown format ${JSON.stringify(json.format)}; slim reads "layers-model"`);
  }
  if (json.modelTopology === undefined || json.modelTopology === null) {
    throw new InputError(`${file}: has no modelTopology (is this a tfjs layers model.json?)`);
  }

  const modelTopology = normalizeTopology(json.modelTopology, file);
  const groups = parseManifest(json.weightsManifest, file);
  // Validate every shard path now, even when weights are not read: a bad path is a bad model.
  const shardFiles = groups.map((group) => group.paths.map((p) => resolveShardPath(modelDir, p, file)));
  // Every layer config and declared weight is checked before a byte of weights is allocated.
  if (options.validate !== false)
    validateTopology(
      modelTopology,
      groups.flatMap((group) => group.weights.map((spec) => ({ ...spec, shape: [...spec.shape] }))),
      file,
      {
        weightsRequired: options.weights !== false,
      },
    );

  const weights: WeightMap = new Map();
  if (options.weights !== false) {
    const realModelDir = await fs.realpath(modelDir);
    for (const [groupIndex, group] of groups.entries()) {
      const bytes = await readGroupBytes(group, shardFiles[groupIndex], realModelDir, file, groupIndex);
      for (const [name, weight] of decodeGroup(group.weights, bytes)) weights.set(name, weight);
    }
    if (options.validate !== false) validateWeightValues(weights, file);
  }

  const loaded: LoadedModel = {
    modelTopology,
    weights,
    weightSpecs: groups.flatMap((group) =>
      group.weights.map((spec) => ({
        name: spec.name,
        shape: [...spec.shape],
        dtype: spec.dtype,
        ...(spec.quantization !== undefined ? { quantization: { ...spec.quantization } } : {}),
      })),
    ),
    path: file,
  };
  if (typeof json.format === 'string') loaded.format = json.format;
  if (typeof json.generatedBy === 'string') loaded.generatedBy = json.generatedBy;
  if (typeof json.convertedBy === 'string' || json.convertedBy === null) loaded.convertedBy = json.convertedBy;
  // Only tfjs's own top-level trainingConfig is kept: the Keras wrapper's training_config uses
  // Python class names that tfjs's loadTrainingConfig may reject, and tfjs ignores it too.
  if (json.trainingConfig !== undefined && json.trainingConfig !== null) loaded.trainingConfig = json.trainingConfig;
  if (isObject(json.userDefinedMetadata)) loaded.userDefinedMetadata = json.userDefinedMetadata;
  // An exporter's metadata.json travels with the model (companion.ts); the file on disk wins over a carried copy.
  const companion = await readCompanion(file);
  if (companion !== undefined) loaded.userDefinedMetadata = { ...(loaded.userDefinedMetadata ?? {}), [COMPANION_KEY]: companion };
  return loaded;
}

/** Concatenates a group's shards, checking that each exists, stays inside the folder, and that sizes add up. */
async function readGroupBytes(
  group: ManifestGroup,
  shardFiles: string[],
  realModelDir: string,
  file: string,
  groupIndex: number,
): Promise<Uint8Array> {
  const specEnds: number[] = [];
  let needed = 0;
  for (const spec of group.weights) {
    needed += storedByteLength(spec);
    specEnds.push(needed);
  }
  /** The weight that needs the byte at `offset` of the group (for error messages). */
  const weightAt = (offset: number): string => {
    const index = specEnds.findIndex((end) => end > offset);
    return group.weights[index === -1 ? group.weights.length - 1 : index]?.name ?? '(none)';
  };

  const chunks: Buffer[] = [];
  let held = 0;
  for (const [i, shardFile] of shardFiles.entries()) {
    const shownPath = group.paths[i];
    let realShard: string;
    try {
      realShard = await fs.realpath(shardFile);
    } catch {
      throw new InputError(`${file}: weight file "${shownPath}" is missing (needed for weight "${weightAt(held)}")`);
    }
    // A symlink inside the folder must not lead out of it either.
    const relative = path.relative(realModelDir, realShard);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new InputError(`${file}: weight file "${shownPath}" links outside the model's folder`);
    }
    // A FIFO or device would block or never end: only regular files are read.
    const stats = await fs.stat(realShard);
    if (!stats.isFile()) throw new InputError(`${file}: weight file "${shownPath}" is not a regular file`);
    let chunk: Buffer;
    try {
      chunk = await fs.readFile(realShard);
    } catch (error) {
      throw new InputError(`${file}: cannot read weight file "${shownPath}" (${(error as Error).message})`, { cause: error });
    }
    chunks.push(chunk);
    held += chunk.byteLength;
  }
  if (held < needed) {
    const lastPath = group.paths[group.paths.length - 1];
    throw new InputError(
      `${file}: weight file "${lastPath}" is too short: weights group ${groupIndex} needs ${needed} bytes ` +
        `but its files hold ${held}, so weight "${weightAt(held)}" is cut off`,
    );
  }
  if (held > needed) {
    const lastPath = group.paths[group.paths.length - 1];
    throw new InputError(
      `${file}: weight file "${lastPath}" is too long: weights group ${groupIndex} needs ${needed} bytes ` +
        `but its files hold ${held}; the manifest does not match the weights`,
    );
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, held);
}

/** Checks weights before anything touches the disk, so a bad weight never leaves a partial model. */
function validateWeights(weights: WeightMap): void {
  for (const [name, weight] of weights) {
    if (weight.dtype !== 'float32' && weight.dtype !== 'int32') {
      throw new InputError(`weight "${name}": dtype ${String(weight.dtype)} cannot be written (float32 or int32 only)`);
    }
    const expectedArray = weight.dtype === 'float32' ? Float32Array : Int32Array;
    if (!(weight.data instanceof expectedArray)) {
      throw new InputError(`weight "${name}": dtype is ${weight.dtype} but its data is a ${weight.data.constructor.name}`);
    }
    if (!weight.shape.every((dim) => Number.isInteger(dim) && dim >= 0)) {
      throw new InputError(`weight "${name}": invalid shape [${weight.shape.join(', ')}]`);
    }
    const expected = elementCount(weight.shape);
    if (weight.data.length !== expected) {
      throw new InputError(
        `weight "${name}": data has ${weight.data.length} values but shape [${weight.shape.join(', ')}] needs ${expected}`,
      );
    }
  }
}

/** Writes a file and flushes it to disk before returning. */
async function writeFileSynced(filePath: string, data: string | Uint8Array): Promise<void> {
  const handle = await fs.open(filePath, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync on a directory makes renames in it durable; not every platform allows it, hence best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows cannot open directories; durability there rests on the OS.
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * True if `dir` holds nothing but a model: a model.json plus files its manifest names
 * (an empty folder counts too). Replacing such a folder loses nothing but an older model.
 */
async function isModelOnlyDirectory(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  if (entries.length === 0) return true;
  if (!entries.some((entry) => entry.name === MODEL_JSON && entry.isFile())) return false;
  let manifestFiles: Set<string>;
  try {
    const json: unknown = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8'));
    if (!isObject(json) || json.modelTopology === undefined) return false;
    const groups = parseManifest(json.weightsManifest, MODEL_JSON);
    manifestFiles = new Set(groups.flatMap((group) => group.paths.map((p) => path.normalize(p))));
  } catch {
    return false;
  }
  return entries.every(
    (entry) => entry.name === MODEL_JSON || (entry.isFile() && (manifestFiles.has(entry.name) || SIDECAR_FILES.includes(entry.name))),
  );
}

/**
 * Applies writeModel's policy for an existing `outDir` without writing anything, so a command can
 * refuse a bad --out before spending time on training. Returns true when `outDir` exists (and may
 * be replaced).
 */
export async function checkModelOutDir(outDir: string, options: WriteModelOptions = {}): Promise<boolean> {
  const target = path.resolve(outDir);
  if (!(await exists(target))) return false;
  const stats = await fs.stat(target);
  if (!stats.isDirectory()) throw new InputError(`${outDir}: exists and is not a folder`);
  if (!(await isModelOnlyDirectory(target))) {
    if (options.overwrite !== true) {
      throw new InputError(`${outDir}: folder exists and holds files other than a slim model; --overwrite replaces it`);
    }
    const cwd = path.resolve(process.cwd());
    if (target === path.parse(target).root || target === os.homedir() || !path.relative(target, cwd).startsWith('..')) {
      throw new InputError(`${outDir}: refusing to replace this folder (root, home, or contains the current directory)`);
    }
  }
  return true;
}

/**
 * Writes `artifacts` as `outDir/model.json` + `outDir/weights.bin`, the way tfjs's `model.save()` does,
 * and returns the model.json path.
 *
 * Atomic: everything is written and fsynced in a temp folder beside `outDir` (same filesystem),
 * then renamed into place, so readers see the old folder or the new one, never a mix.
 *
 * Policy when `outDir` already exists:
 *   - empty, or holding only a model (model.json + the files its manifest names + SIDECAR_FILES): replaced;
 *   - holding anything else: refused with InputError, unless `overwrite: true`, which replaces the
 *     whole folder (other files included). Even then the filesystem root, the home folder and any
 *     folder containing the current directory are refused, as too costly to get wrong.
 */
export async function writeModel(outDir: string, artifacts: ModelArtifacts, options: WriteModelOptions = {}): Promise<string> {
  // Everything that can fail on bad input happens before the disk is touched.
  validateWeights(artifacts.weights);
  const sidecars = Object.entries(options.sidecars ?? {});
  for (const [name] of sidecars) {
    if (!SIDECAR_FILES.includes(name)) throw new Error(`writeModel: "${name}" is not a known sidecar file`);
  }
  const modelTopology = normalizeTopology(artifacts.modelTopology, 'modelTopology to write');
  const { specs, data } = encodeWeights(artifacts.weights, options.quantization);
  const modelJson: Record<string, unknown> = {
    modelTopology,
    format: 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: artifacts.convertedBy ?? 'slim',
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
  };
  if (artifacts.trainingConfig !== undefined && artifacts.trainingConfig !== null) {
    modelJson.trainingConfig = artifacts.trainingConfig;
  }
  if (artifacts.userDefinedMetadata !== undefined) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;

  return writeModelFolder(outDir, modelJson, data, options);
}

/**
 * Writes `modelJson` (any tfjs model.json: layers or graph) and its one weights file into `outDir`,
 * atomically and with writeModel's policy for an existing folder; returns the model.json path.
 */
export async function writeModelFolder(
  outDir: string,
  modelJson: Record<string, unknown>,
  data: Uint8Array,
  options: WriteModelOptions = {},
): Promise<string> {
  const target = path.resolve(outDir);
  const parent = path.dirname(target);
  const sidecars = Object.entries(options.sidecars ?? {});
  const replaceExisting = await checkModelOutDir(outDir, options);

  await createParents(target);
  // Not mkdtemp: its 0700 would keep the folder from a web server running as another user; the
  // staging name is unique (pid + random) and mkdir applies the umask like any other tool's output.
  const tempDir = stagingPath(target, 'tmp');
  await fs.mkdir(tempDir);
  let asideDir: string | undefined;
  let movedAside = false;
  try {
    await writeFileSynced(path.join(tempDir, WEIGHTS_BIN), data);
    let jsonText: string;
    try {
      jsonText = JSON.stringify(modelJson);
    } catch (error) {
      throw new InputError(`${outDir}: cannot serialise model.json (${(error as Error).message})`, { cause: error });
    }
    await writeFileSynced(path.join(tempDir, MODEL_JSON), jsonText);
    for (const [name, text] of sidecars) await writeFileSynced(path.join(tempDir, name), text);
    const companion = companionText(modelJson.userDefinedMetadata as Record<string, unknown> | undefined);
    if (companion !== undefined) await writeFileSynced(path.join(tempDir, COMPANION_FILE), companion);
    await syncDirectory(tempDir);

    if (replaceExisting) {
      asideDir = stagingPath(target, 'old');
      await fs.rename(target, asideDir);
      movedAside = true;
    }
    await fs.rename(tempDir, target);
    await syncDirectory(parent);
  } catch (error) {
    await fs.rm(tempDir, { recursive: true, force: true });
    if (movedAside && asideDir !== undefined && !(await exists(target))) {
      await fs.rename(asideDir, target); // put the previous model back
    }
    throw error;
  }
  if (asideDir !== undefined) await fs.rm(asideDir, { recursive: true, force: true });
  return path.join(target, MODEL_JSON);
}
