/**
 * Small valid building blocks the fuzz corpus breaks on purpose: a tiny layers model (captured from
 * stock tfjs, written as model.json + weights.bin by hand so nothing here depends on slim's own
 * writer), tiny .npy/IDX/CIFAR/image-folder datasets and a config that trains in about a second.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';

/** What `model.save()` hands to a save handler, with the weights as one byte buffer. */
export interface RawModel {
  modelTopology: Record<string, unknown>;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: Buffer;
}

/** Deep copy, so each case mutates its own model. */
export function cloneModel(model: RawModel): RawModel {
  return {
    modelTopology: structuredClone(model.modelTopology),
    weightSpecs: structuredClone(model.weightSpecs),
    weightData: Buffer.from(model.weightData),
  };
}

async function capture(model: tf.LayersModel): Promise<RawModel> {
  let raw: RawModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData as ArrayBuffer;
      raw = {
        modelTopology: artifacts.modelTopology as Record<string, unknown>,
        weightSpecs: artifacts.weightSpecs!,
        weightData: Buffer.from(new Uint8Array(data)),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return raw!;
}

/**
 * 8x8x1 → conv(4) → BN → ReLU → GAP → dense(6) → BN → ReLU → dense(10, softmax): two prunable
 * groups (a conv and a dense one), 10 classes like the datasets below.
 * Layer indices: 0 conv, 1 bn, 2 relu, 3 gap, 4 dense, 5 bn, 6 relu, 7 dense.
 */
export async function sequentialModel(options: { batchNorm?: boolean; scale?: boolean } = {}): Promise<RawModel> {
  const bn = options.batchNorm ?? true;
  const layers: tf.layers.Layer[] = [
    tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', useBias: !bn, name: 'conv' }),
    ...(bn ? [tf.layers.batchNormalization({ name: 'bn1', scale: options.scale ?? true })] : []),
    tf.layers.reLU({ name: 'relu1' }),
    tf.layers.globalAveragePooling2d({ name: 'gap' }),
    tf.layers.dense({ units: 6, name: 'hidden', useBias: !bn }),
    ...(bn ? [tf.layers.batchNormalization({ name: 'bn2', scale: options.scale ?? true })] : []),
    tf.layers.reLU({ name: 'relu2' }),
    tf.layers.dense({ units: 10, activation: 'softmax', name: 'head' }),
  ];
  const model = tf.sequential({ layers, name: 'fuzz_seq' });
  // Distinct γ values so a ratio picks channels deterministically.
  if (bn) {
    for (const name of ['bn1', 'bn2']) {
      const layer = model.getLayer(name);
      const weights = layer.getWeights();
      if (options.scale ?? true) {
        const width = weights[0].shape[0];
        weights[0] = tf.tensor1d(Array.from({ length: width }, (_, i) => 0.1 + i * 0.2));
      }
      layer.setWeights(weights);
    }
  }
  return capture(model);
}

/** A functional model (conv → BN → ReLU → two branches added → GAP → dense) for graph faults. */
export async function functionalModel(): Promise<RawModel> {
  const input = tf.input({ shape: [8, 8, 1], name: 'image' });
  const conv = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'conv' })
    .apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(conv) as tf.SymbolicTensor;
  const relu = tf.layers.reLU({ name: 'relu' }).apply(bn) as tf.SymbolicTensor;
  const branch = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'branch' }).apply(relu) as tf.SymbolicTensor;
  const added = tf.layers.add({ name: 'add' }).apply([relu, branch]) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(added) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: 10, activation: 'softmax', name: 'head' }).apply(gap) as tf.SymbolicTensor;
  return capture(tf.model({ inputs: input, outputs: head, name: 'fuzz_fn' }));
}

/** Writes model.json (+ weights.bin unless `manifest` says otherwise) into `dir`. */
export async function writeRawModel(
  dir: string,
  model: RawModel,
  extra: { manifest?: unknown; weightData?: Buffer | null; json?: Record<string, unknown> } = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  // `manifest: null` writes a null weightsManifest (a model.json without weights); undefined keeps the default.
  const manifest = extra.manifest !== undefined ? extra.manifest : [{ paths: ['weights.bin'], weights: model.weightSpecs }];
  const json = {
    format: 'layers-model',
    generatedBy: 'fuzz',
    convertedBy: null,
    modelTopology: model.modelTopology,
    weightsManifest: manifest,
    ...extra.json,
  };
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  if (extra.weightData !== null) await writeFile(path.join(dir, 'weights.bin'), extra.weightData ?? model.weightData);
  return path.join(dir, 'model.json');
}

/** The layer configs of a Sequential or functional topology. */
export function layersOf(
  model: RawModel,
): Array<{ class_name: string; config: Record<string, unknown>; name?: string; inbound_nodes?: unknown[] }> {
  const topology = model.modelTopology as { config: { layers: never[] } };
  return topology.config.layers;
}

/** Byte offset and element count of a weight in the float32 buffer (every weight here is float32). */
export function weightSlot(model: RawModel, namePart: string): { offset: number; count: number; index: number } {
  let offset = 0;
  for (const [index, spec] of model.weightSpecs.entries()) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.name.includes(namePart)) return { offset, count, index };
    offset += count * 4;
  }
  throw new Error(`fixture has no weight matching ${namePart}`);
}

/** Sets values of a float32 weight (`at` = element indices, default all). */
export function setWeightValues(model: RawModel, namePart: string, value: number, at?: number[]): void {
  const slot = weightSlot(model, namePart);
  for (const i of at ?? Array.from({ length: slot.count }, (_, k) => k)) model.weightData.writeFloatLE(value, slot.offset + i * 4);
}

// ---------------------------------------------------------------- data files

/** A .npy file: `descr` like '|u1' or '<i4', body as raw little-endian bytes. */
export function npy(
  descr: string,
  shape: number[],
  body: Uint8Array,
  options: { major?: number; fortran?: boolean; header?: string } = {},
): Buffer {
  const major = options.major ?? 1;
  const dict =
    options.header ??
    `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = major === 1 ? 10 : 12;
  const padded = dict + ' '.repeat(63 - ((pre + dict.length) % 64)) + '\n';
  const head = Buffer.alloc(pre + padded.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  if (major === 1) head.writeUInt16LE(padded.length, 8);
  else head.writeUInt32LE(padded.length, 8);
  head.write(padded, pre, 'latin1');
  return Buffer.concat([head, Buffer.from(body)]);
}

/** uint8 images n×8×8 with a per-class pattern, so a model could learn them. */
export function images8(n: number, channels = 1): Uint8Array {
  const out = new Uint8Array(n * 64 * channels);
  for (let i = 0; i < out.length; i++) out[i] = ((i * 37 + Math.floor(i / (64 * channels)) * 91) % 251) & 0xff;
  return out;
}

export function labels(n: number, classes = 10): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i % classes);
}

export function int32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(values).buffer);
}

/** An IDX file: magic 00 00 type ndims, big-endian dims, data. */
export function idx(dims: number[], data: Uint8Array, type = 0x08): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A minimal deflate zip of named members, like np.savez_compressed. */
export function zip(members: Record<string, Uint8Array>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(members)) {
    const nameBytes = Buffer.from(name);
    const packed = deflateRawSync(data);
    const local = Buffer.alloc(30 + nameBytes.length);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    nameBytes.copy(local, 30);
    const central = Buffer.alloc(46 + nameBytes.length);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    nameBytes.copy(central, 46);
    locals.push(local, packed);
    centrals.push(central);
    offset += local.length + packed.length;
  }
  const cdSize = centrals.reduce((s, c) => s + c.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length, 8);
  end.writeUInt16LE(centrals.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** CIFAR binary records (label byte(s) + 3072 planar pixels). */
export function cifarRecords(recordLabels: number[][]): Buffer {
  const record = recordLabels[0].length + 3072;
  const out = Buffer.alloc(recordLabels.length * record);
  recordLabels.forEach((ls, n) => {
    out.set(ls, n * record);
    for (let i = 0; i < 3072; i++) out[n * record + ls.length + i] = (n * 13 + i) % 256;
  });
  return out;
}

/** A PNG of `side`×`side` gray pixels. */
export async function png(side = 8, seed = 0): Promise<Buffer> {
  const pixels = Buffer.from(Array.from({ length: side * side }, (_, i) => (i * 29 + seed * 53) % 256));
  return sharp(pixels, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
}

/** An image folder: root/<class>/<k>.png, `perClass` images of `side` pixels per class. */
export async function imageFolder(root: string, classes: string[], perClass: number, side = 8): Promise<void> {
  for (const [c, name] of classes.entries()) {
    await mkdir(path.join(root, name), { recursive: true });
    for (let k = 0; k < perClass; k++) await writeFile(path.join(root, name, `${k}.png`), await png(side, c * 7 + k));
  }
}
