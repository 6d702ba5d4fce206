/**
 * The fuzz corpus: bad inputs for every command, generated into a temp folder (nothing but this
 * generator is checked in). Each case names the argv, an optional stdin, its working folder and
 * the exit code the README's rule asks for: 2 for bad input, 1 for a valid run that finds a
 * problem. test/e2e/fuzz.test.ts runs them; known-failures.json lists the cases slim gets wrong today.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  cloneModel,
  functionalModel,
  layersOf,
  sequentialModel,
  setWeightValues,
  weightSlot,
  writeRawModel,
  type RawModel,
} from './fixtures.js';
import { addDataCases } from './corpus-data.js';
import { addConfigCases, addFlagCases, addOutCases, addKillCases } from './corpus-cli.js';
import { addKerasCases } from './corpus-keras.js';
import { addOutputFlagCases, addPipeCases } from './corpus-outputs.js';

export const CATEGORIES = [
  'not-a-model',
  'topology',
  'manifest',
  'nonfinite',
  'graph',
  'nothing-to-prune',
  'config',
  'dataset',
  'flags',
  'out',
  'kill',
  'keras',
  'outputs',
  'pipes',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** SIGKILL of a `prune --overwrite` onto an existing output, then one more (unkilled) run of it. */
export interface KillSpec {
  /** 'delay': after `delayMs`; 'temp' / 'aside': `delayMs` after a `.slim-tmp-*` / `.slim-old-*` folder appears. */
  trigger: 'delay' | 'temp' | 'aside';
  delayMs: number;
}

export interface FuzzCase {
  id: string;
  category: Category;
  argv: string[];
  stdin?: string;
  /** 2: bad input; 1: the run is valid but finds a problem; 0: a valid run that must write its outputs (kill cases: the run after the kill). */
  expectedExit: 0 | 1 | 2;
  /** Working folder of the run: the case's own, holding `keep.txt` (a file no run may remove). */
  cwd: string;
  /** Folders a run may write: each must stay as it was or hold a complete model afterwards. */
  outputs: string[];
  kill?: KillSpec;
  /** Runs only when not root (root ignores file permissions). */
  needsNonRoot?: boolean;
  /** slim's stdout goes down this shell pipeline instead of to the runner (pipes cases). */
  stdoutTo?: StdoutPipeline;
}

/** Where a pipes case sends stdout: a reader that exits at once, one that reads a byte, a full device. */
export const STDOUT_PIPELINES = {
  true: '"$@" | true; exit ${PIPESTATUS[0]}',
  'head-c1': '"$@" | head -c 1 > /dev/null; exit ${PIPESTATUS[0]}',
  'dev-full': '"$@" > /dev/full',
} as const;
export type StdoutPipeline = keyof typeof STDOUT_PIPELINES;

/** Collects cases, refusing duplicate ids (the known-failure list is keyed by id). */
export class Corpus {
  readonly cases: FuzzCase[] = [];
  private readonly ids = new Set<string>();
  constructor(readonly root: string) {}

  /** The case's own working folder (created with keep.txt). */
  async caseDir(id: string): Promise<string> {
    const dir = path.join(this.root, 'cases', id);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'keep.txt'), 'a file the run must not remove\n');
    return dir;
  }

  /** Adds a case whose --out (if any) is resolved against its working folder. */
  async add(
    id: string,
    category: Category,
    expectedExit: 0 | 1 | 2,
    argvOf: (cwd: string) => string[],
    extra: Partial<FuzzCase> = {},
  ): Promise<FuzzCase> {
    if (this.ids.has(id)) throw new Error(`duplicate fuzz case id ${id}`);
    this.ids.add(id);
    const cwd = extra.cwd ?? (await this.caseDir(id));
    const argv = argvOf(cwd);
    const outputs = [...(extra.outputs ?? [])];
    for (let i = 0; i < argv.length - 1; i++) {
      if (argv[i] === '--out' && argv[i + 1] !== '') outputs.push(path.resolve(cwd, argv[i + 1]));
    }
    const entry: FuzzCase = { id, category, argv, expectedExit, cwd, ...extra, outputs };
    this.cases.push(entry);
    return entry;
  }

  /** A fixture folder under root/fx. */
  fixture(...parts: string[]): string {
    return path.join(this.root, 'fx', ...parts);
  }
}

/** Shared inputs every group of cases uses. */
export interface Base {
  seq: RawModel;
  fn: RawModel;
  /** A valid model's folder (read-only for cases). */
  goodModel: string;
  /** A valid config (npy data, cpu backend, tiny VGG) that trains in about a second. */
  goodConfig: string;
  goodConfigJson: Record<string, unknown>;
  npyDir: string;
}

/** Commands that read a model: report, prune (writing), export. */
function modelCommands(model: string): Array<[string, (cwd: string) => string[]]> {
  return [
    ['report', () => ['report', '--model', model]],
    ['prune', (cwd) => ['prune', '--model', model, '--ratio', '0.5', '--out', path.join(cwd, 'out')]],
    ['export', (cwd) => ['export', '--model', model, '--out', path.join(cwd, 'out'), '--backend', 'cpu']],
  ];
}

/** Writes a model variant and adds one case per command (report only when `report` says so). */
async function addModelCases(
  corpus: Corpus,
  category: Category,
  name: string,
  write: (dir: string) => Promise<string>,
  commands = ['report', 'prune', 'export'],
): Promise<void> {
  const model = await write(corpus.fixture('models', name));
  for (const [command, argv] of modelCommands(model)) {
    if (commands.includes(command)) await corpus.add(`${category}/${name}/${command}`, category, 2, argv);
  }
}

/** Text with markers replaced by JSON tokens JSON.stringify cannot produce (1e999, NaN). */
const RAW_TOKENS: Record<string, string> = {
  '"__1e999__"': '1e999',
  // Deeper than any recursive JSON walker's stack.
  '"__DEEP__"': `${'['.repeat(200_000)}0${']'.repeat(200_000)}`,
};
async function writeModelText(dir: string, model: RawModel): Promise<string> {
  const file = await writeRawModel(dir, model);
  let text = await readFile(file, 'utf8');
  for (const [marker, token] of Object.entries(RAW_TOKENS)) text = text.split(marker).join(token);
  await writeFile(file, text);
  return file;
}

async function addNotAModelCases(corpus: Corpus, base: Base): Promise<void> {
  const dir = corpus.fixture('not-a-model');
  await mkdir(dir, { recursive: true });
  const files: Record<string, string | Buffer> = {
    empty: '',
    text: 'this is not a model\n',
    binary: Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7) % 256)),
    png: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
    tflite: Buffer.concat([Buffer.from([0x1c, 0, 0, 0]), Buffer.from('TFL3'), Buffer.alloc(64)]),
    onnx: Buffer.concat([Buffer.from([0x08, 0x07, 0x12, 0x07]), Buffer.from('pytorch'), Buffer.alloc(32)]),
    'json-array': '[]',
    'json-null': 'null',
    'json-number': '42',
    'json-string': '"model"',
    'truncated-json': '{"modelTopology": {"class_name": "Sequential", "config": {"layers": [',
    'graph-model': JSON.stringify({
      format: 'graph-model',
      modelTopology: { node: [{ name: 'x', op: 'Placeholder' }] },
      weightsManifest: [],
    }),
    'graph-model-unlabelled': JSON.stringify({ modelTopology: { node: [], versions: {} }, weightsManifest: [] }),
    'unknown-format': JSON.stringify({ format: 'keras-h5', modelTopology: base.seq.modelTopology, weightsManifest: [] }),
    'no-topology': JSON.stringify({ format: 'layers-model', weightsManifest: [] }),
    'topology-null': JSON.stringify({ format: 'layers-model', modelTopology: null, weightsManifest: [] }),
    'topology-string': JSON.stringify({ format: 'layers-model', modelTopology: 'Sequential', weightsManifest: [] }),
    'topology-array': JSON.stringify({ format: 'layers-model', modelTopology: [], weightsManifest: [] }),
    'keras-h5-magic': Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]),
    'utf16-json': Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(JSON.stringify({ modelTopology: base.seq.modelTopology }), 'utf16le'),
    ]),
  };
  const targets: Array<[string, string]> = [];
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, content);
    targets.push([name, file]);
  }
  // Folders that are not a layers model folder.
  const emptyFolder = path.join(dir, 'empty-folder');
  await mkdir(emptyFolder, { recursive: true });
  targets.push(['empty-folder', emptyFolder]);
  const savedModel = path.join(dir, 'saved-model');
  await mkdir(path.join(savedModel, 'variables'), { recursive: true });
  await writeFile(path.join(savedModel, 'saved_model.pb'), Buffer.from([0x08, 0x01, 0x12, 0x00]));
  await writeFile(path.join(savedModel, 'variables', 'variables.index'), Buffer.alloc(16));
  targets.push(['saved-model-folder', savedModel]);
  const jsonFolder = path.join(dir, 'folder-named-json', 'model.json');
  await mkdir(jsonFolder, { recursive: true });
  targets.push(['folder-named-model-json', path.dirname(jsonFolder)]);
  const fifo = path.join(dir, 'fifo.json');
  execFileSync('mkfifo', [fifo]);
  targets.push(['fifo', fifo]);
  targets.push(['dev-null', '/dev/null']);
  targets.push(['missing', path.join(dir, 'no-such', 'model.json')]);
  const danglingLink = path.join(dir, 'dangling.json');
  await symlink(path.join(dir, 'nowhere.json'), danglingLink);
  targets.push(['dangling-symlink', danglingLink]);

  for (const [name, target] of targets) {
    for (const [command, argv] of modelCommands(target)) await corpus.add(`not-a-model/${name}/${command}`, 'not-a-model', 2, argv);
  }
}

type LayerEdit = (layers: ReturnType<typeof layersOf>, model: RawModel) => void;

/** Layer config values slim must refuse (index 0 conv, 1 bn1, 4 hidden dense, 5 bn2, 7 head). */
const TOPOLOGY_EDITS: Record<string, LayerEdit> = {
  'dense-units-0': (l) => (l[4].config.units = 0),
  'dense-units-negative': (l) => (l[4].config.units = -6),
  'dense-units-fraction': (l) => (l[4].config.units = 6.5),
  'dense-units-nan-string': (l) => (l[4].config.units = 'NaN'),
  'dense-units-text': (l) => (l[4].config.units = 'six'),
  'dense-units-null': (l) => (l[4].config.units = null),
  'dense-units-1e12': (l) => (l[4].config.units = 1e12),
  'dense-units-1e999': (l) => (l[4].config.units = '__1e999__'),
  'head-units-0': (l) => (l[7].config.units = 0),
  'conv-filters-0': (l) => (l[0].config.filters = 0),
  'conv-filters-negative': (l) => (l[0].config.filters = -4),
  'conv-filters-fraction': (l) => (l[0].config.filters = 4.5),
  'conv-filters-1e12': (l) => (l[0].config.filters = 1e12),
  'conv-filters-1e999': (l) => (l[0].config.filters = '__1e999__'),
  'conv-filters-string': (l) => (l[0].config.filters = '4'),
  'conv-kernel-0': (l) => (l[0].config.kernel_size = [0, 0]),
  'conv-kernel-negative': (l) => (l[0].config.kernel_size = [-3, 3]),
  'conv-kernel-fraction': (l) => (l[0].config.kernel_size = [2.5, 2.5]),
  'conv-kernel-text': (l) => (l[0].config.kernel_size = 'three'),
  'conv-kernel-larger-than-input': (l) => {
    l[0].config.kernel_size = [9, 9];
    l[0].config.padding = 'valid';
  },
  'conv-strides-0': (l) => (l[0].config.strides = [0, 0]),
  'conv-dilation-0': (l) => (l[0].config.dilation_rate = [0, 0]),
  'conv-padding-unknown': (l) => (l[0].config.padding = 'mirror'),
  'conv-data-format-unknown': (l) => (l[0].config.data_format = 'channels_middle'),
  'activation-unknown': (l) => (l[4].config.activation = 'swishy'),
  'activation-number': (l) => (l[7].config.activation = 3),
  'class-unknown': (l) => (l[2].class_name = 'FancyLayer'),
  'class-missing': (l) => delete (l[2] as Record<string, unknown>).class_name,
  'config-missing': (l) => delete (l[4] as Record<string, unknown>).config,
  'config-null': (l) => ((l[4] as Record<string, unknown>).config = null),
  'input-rank-2-into-conv': (l) => (l[0].config.batch_input_shape = [null, 64]),
  'input-dim-0': (l) => (l[0].config.batch_input_shape = [null, 0, 8, 1]),
  'input-dim-negative': (l) => (l[0].config.batch_input_shape = [null, -8, 8, 1]),
  'input-dim-fraction': (l) => (l[0].config.batch_input_shape = [null, 8.5, 8, 1]),
  'input-channels-0': (l) => (l[0].config.batch_input_shape = [null, 8, 8, 0]),
  'input-shape-text': (l) => (l[0].config.batch_input_shape = 'eight'),
  'input-shape-missing': (l) => delete l[0].config.batch_input_shape,
  'bn-axis-out-of-range': (l) => (l[1].config.axis = 7),
  'bn-epsilon-text': (l) => (l[1].config.epsilon = 'small'),
  'gap-channels-first': (l) => (l[3].config.data_format = 'channels_first'),
  'layers-empty': (l) => l.splice(0, l.length),
};

/** Whole-topology edits (not one layer). */
const TOPOLOGY_ROOT_EDITS: Record<string, (topology: Record<string, unknown>) => void> = {
  'layers-not-array': (t) => ((t.config as Record<string, unknown>).layers = { conv: {} }),
  'layers-missing': (t) => delete (t.config as Record<string, unknown>).layers,
  'model-config-null': (t) => (t.config = null),
  'class-name-model-without-graph': (t) => (t.class_name = 'Model'),
  'class-name-unknown-container': (t) => (t.class_name = 'Pipeline'),
};

async function addTopologyCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, edit] of Object.entries(TOPOLOGY_EDITS)) {
    await addModelCases(corpus, 'topology', name, async (dir) => {
      const model = cloneModel(base.seq);
      edit(layersOf(model), model);
      return writeModelText(dir, model);
    });
  }
  for (const [name, edit] of Object.entries(TOPOLOGY_ROOT_EDITS)) {
    await addModelCases(corpus, 'topology', name, async (dir) => {
      const model = cloneModel(base.seq);
      edit(model.modelTopology);
      return writeModelText(dir, model);
    });
  }
}

/** Manifest edits: (manifest, weight bytes) of a copy of the sequential model. */
type ManifestEdit = (
  specs: Array<Record<string, unknown>>,
  model: RawModel,
  dir: string,
) => Promise<{ manifest?: unknown; weightData?: Buffer | null } | void>;

const MANIFEST_EDITS: Record<string, ManifestEdit> = {
  'path-traversal': async (specs, model, dir) => {
    await writeFile(path.join(path.dirname(dir), 'outside-weights.bin'), model.weightData);
    return { manifest: [{ paths: ['../outside-weights.bin'], weights: specs }] };
  },
  'absolute-path': async (specs, model, dir) => {
    const outside = path.join(path.dirname(dir), 'absolute-weights.bin');
    await writeFile(outside, model.weightData);
    return { manifest: [{ paths: [outside], weights: specs }] };
  },
  'symlink-out': async (specs, model, dir) => {
    const outside = path.join(path.dirname(dir), 'linked-weights.bin');
    await writeFile(outside, model.weightData);
    await mkdir(dir, { recursive: true });
    await symlink(outside, path.join(dir, 'linked.bin'));
    return { manifest: [{ paths: ['linked.bin'], weights: specs }], weightData: null };
  },
  'shard-missing': async () => ({ weightData: null }),
  'shard-short': async (_s, model) => ({ weightData: model.weightData.subarray(0, model.weightData.length - 4) }),
  'shard-empty': async () => ({ weightData: Buffer.alloc(0) }),
  'shard-long': async (_s, model) => ({ weightData: Buffer.concat([model.weightData, Buffer.alloc(4)]) }),
  'shard-is-folder': async (specs, _m, dir) => {
    await mkdir(path.join(dir, 'shard-dir.bin'), { recursive: true });
    return { manifest: [{ paths: ['shard-dir.bin'], weights: specs }], weightData: null };
  },
  'shard-is-fifo': async (specs, _m, dir) => {
    await mkdir(dir, { recursive: true });
    execFileSync('mkfifo', [path.join(dir, 'fifo.bin')]);
    return { manifest: [{ paths: ['fifo.bin'], weights: specs }], weightData: null };
  },
  'dtype-float64': async (specs) => void (specs[0].dtype = 'float64'),
  'dtype-string': async (specs) => void (specs[0].dtype = 'string'),
  'dtype-complex64': async (specs) => void (specs[0].dtype = 'complex64'),
  'dtype-missing': async (specs) => void delete specs[0].dtype,
  'int32-kernel': async (specs) => void (specs[0].dtype = 'int32'),
  'int32-gamma': async (specs) => void (specs[1].dtype = 'int32'),
  'bool-bias': async (specs, model) => {
    // The head bias (last weight, 10 float32) stored as 10 bool bytes.
    specs[specs.length - 1].dtype = 'bool';
    return { weightData: model.weightData.subarray(0, model.weightData.length - 30) };
  },
  'duplicate-weight': async (specs, model) => {
    specs.push(structuredClone(specs[1]));
    const slot = weightSlot(model, String(specs[1].name));
    return { weightData: Buffer.concat([model.weightData, model.weightData.subarray(slot.offset, slot.offset + slot.count * 4)]) };
  },
  'extra-weight': async (specs, model) => {
    specs.push({ name: 'nowhere/kernel', shape: [2], dtype: 'float32' });
    return { weightData: Buffer.concat([model.weightData, Buffer.alloc(8)]) };
  },
  'weight-missing-kernel': async (specs, model) => dropWeight(specs, model, 'hidden/kernel'),
  'weight-missing-moving-variance': async (specs, model) => dropWeight(specs, model, 'bn1/moving_variance'),
  'bn-beta-missing': async (specs, model) => dropWeight(specs, model, 'bn2/beta'),
  'bn-gamma-missing': async (specs, model) => dropWeight(specs, model, 'bn1/gamma'),
  'weights-all-missing': async () => ({ manifest: [{ paths: [], weights: [] }], weightData: null }),
  'spec-shape-mismatch': async (specs) => void (specs[0].shape = [3, 3, 2, 2]),
  'spec-shape-transposed': async (specs) => {
    const dense = specs.find((s) => String(s.name).includes('hidden/kernel'))!;
    dense.shape = [6, 4];
  },
  'spec-shape-negative': async (specs) => void (specs[1].shape = [-4]),
  'spec-shape-fraction': async (specs) => void (specs[1].shape = [2.5, 1.6]),
  'spec-shape-huge': async (specs) => void (specs[0].shape = [1e6, 1e6, 1, 4]),
  'spec-name-missing': async (specs) => void delete specs[2].name,
  'quantization-unknown': async (specs) => void (specs[0].quantization = { dtype: 'uint4', scale: 1, min: 0 }),
  'quantization-nan-scale': async (specs, model) => {
    // The conv kernel (36 floats) stored as uint8 with a NaN scale.
    specs[0].quantization = { dtype: 'uint8', scale: 'NaN', min: 0 };
    const slot = weightSlot(model, 'conv/kernel');
    return { weightData: Buffer.concat([Buffer.alloc(slot.count), model.weightData.subarray(slot.count * 4)]) };
  },
  'manifest-object': async (specs) => ({ manifest: { paths: ['weights.bin'], weights: specs } }),
  'manifest-paths-string': async (specs) => ({ manifest: [{ paths: 'weights.bin', weights: specs }] }),
  'manifest-group-null': async () => ({ manifest: [null] }),
  'manifest-missing': async () => ({ manifest: null }),
};

function dropWeight(specs: Array<Record<string, unknown>>, model: RawModel, namePart: string): { weightData: Buffer } {
  const slot = weightSlot(model, namePart);
  specs.splice(slot.index, 1);
  return {
    weightData: Buffer.concat([model.weightData.subarray(0, slot.offset), model.weightData.subarray(slot.offset + slot.count * 4)]),
  };
}

/** Edits whose fault is visible from model.json alone also go through `report`. */
const MANIFEST_REPORT = new Set([
  'path-traversal',
  'absolute-path',
  'manifest-object',
  'manifest-paths-string',
  'manifest-group-null',
  'dtype-float64',
  'spec-shape-negative',
  'spec-shape-mismatch',
  'spec-shape-huge',
  'extra-weight',
  'duplicate-weight',
  'bn-gamma-missing',
]);

async function addManifestCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, edit] of Object.entries(MANIFEST_EDITS)) {
    const commands = MANIFEST_REPORT.has(name) ? ['report', 'prune', 'export'] : ['prune', 'export'];
    await addModelCases(
      corpus,
      'manifest',
      name,
      async (dir) => {
        const model = cloneModel(base.seq);
        const specs = model.weightSpecs as unknown as Array<Record<string, unknown>>;
        const change = (await edit(specs, model, dir)) ?? {};
        return writeRawModel(dir, model, change);
      },
      commands,
    );
  }
}

const NONFINITE_EDITS: Record<string, (model: RawModel) => void> = {
  'gamma-one-nan': (m) => setWeightValues(m, 'bn1/gamma', NaN, [1]),
  'gamma-all-nan': (m) => setWeightValues(m, 'bn1/gamma', NaN),
  'gamma-inf': (m) => setWeightValues(m, 'bn2/gamma', Infinity, [0]),
  'gamma-negative-inf': (m) => setWeightValues(m, 'bn2/gamma', -Infinity, [2]),
  'beta-nan': (m) => setWeightValues(m, 'bn1/beta', NaN, [0]),
  'moving-mean-inf': (m) => setWeightValues(m, 'bn1/moving_mean', Infinity, [3]),
  'moving-variance-nan': (m) => setWeightValues(m, 'bn2/moving_variance', NaN, [1]),
  'moving-variance-negative': (m) => setWeightValues(m, 'bn2/moving_variance', -5, [1]),
  'conv-kernel-nan': (m) => setWeightValues(m, 'conv/kernel', NaN, [5]),
  'dense-kernel-inf': (m) => setWeightValues(m, 'hidden/kernel', Infinity, [0]),
  'head-bias-nan': (m) => setWeightValues(m, 'head/bias', NaN, [9]),
};

async function addNonFiniteCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, edit] of Object.entries(NONFINITE_EDITS)) {
    await addModelCases(
      corpus,
      'nonfinite',
      name,
      async (dir) => {
        const model = cloneModel(base.seq);
        edit(model);
        return writeRawModel(dir, model);
      },
      ['prune', 'export'],
    );
  }
}

type NodeRef = [string, number, number, Record<string, unknown>];
/** Inbound nodes of functional layer `name` (first node). */
function inbound(model: RawModel, name: string): NodeRef[] {
  const layer = layersOf(model).find((l) => l.name === name || l.config.name === name)!;
  return (layer.inbound_nodes as NodeRef[][])[0];
}

const GRAPH_EDITS: Record<string, (model: RawModel) => void> = {
  cycle: (m) => (inbound(m, 'conv')[0][0] = 'relu'),
  'self-loop': (m) => (inbound(m, 'bn')[0][0] = 'bn'),
  'dangling-inbound': (m) => (inbound(m, 'add')[1][0] = 'nowhere'),
  'inbound-node-index': (m) => (inbound(m, 'bn')[0][1] = 5),
  'inbound-tensor-index': (m) => (inbound(m, 'bn')[0][2] = 3),
  'duplicate-layer-name': (m) => {
    const branch = layersOf(m).find((l) => l.name === 'branch')!;
    branch.name = 'conv';
    branch.config.name = 'conv';
  },
  'output-missing': (m) => ((m.modelTopology.config as Record<string, unknown>).output_layers = [['nowhere', 0, 0]]),
  'outputs-empty': (m) => ((m.modelTopology.config as Record<string, unknown>).output_layers = []),
  'inputs-empty': (m) => ((m.modelTopology.config as Record<string, unknown>).input_layers = []),
  'input-not-input-layer': (m) => ((m.modelTopology.config as Record<string, unknown>).input_layers = [['bn', 0, 0]]),
  'unreachable-output': (m) => (inbound(m, 'head')[0][0] = 'image'),
  'inbound-nodes-text': (m) => (layersOf(m).find((l) => l.name === 'add')!.inbound_nodes = 'relu' as never),
  // 200,000 nested arrays as a layer's config value (written as text: see addGraphCases).
  'deep-nesting-in-config': (m) => (layersOf(m).find((l) => l.name === 'relu')!.config.max_value = '__DEEP__'),
};

async function addGraphCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, edit] of Object.entries(GRAPH_EDITS)) {
    await addModelCases(corpus, 'graph', name, async (dir) => {
      const model = cloneModel(base.fn);
      edit(model);
      return writeModelText(dir, model);
    });
  }
}

async function addNothingToPruneCases(corpus: Corpus, base: Base): Promise<void> {
  const variants: Record<string, RawModel> = {
    'no-batchnorm': await sequentialModel({ batchNorm: false }),
    'bn-scale-false': await sequentialModel({ scale: false }),
  };
  for (const [name, model] of Object.entries(variants)) {
    const file = await writeRawModel(corpus.fixture('models', name), model);
    await corpus.add(`nothing-to-prune/${name}/prune`, 'nothing-to-prune', 1, (cwd) => [
      'prune',
      '--model',
      file,
      '--ratio',
      '0.5',
      '--out',
      path.join(cwd, 'out'),
    ]);
    await corpus.add(`nothing-to-prune/${name}/prune-threshold`, 'nothing-to-prune', 1, (cwd) => [
      'prune',
      '--model',
      file,
      '--threshold',
      '0.5',
      '--out',
      path.join(cwd, 'out'),
    ]);
    await corpus.add(`nothing-to-prune/${name}/dry-run`, 'nothing-to-prune', 1, () => [
      'prune',
      '--model',
      file,
      '--ratio',
      '0.5',
      '--dry-run',
    ]);
    const config = path.join(corpus.fixture('configs'), `run-${name}.json`);
    await mkdir(path.dirname(config), { recursive: true });
    await writeFile(config, JSON.stringify({ ...base.goodConfigJson, model: { type: 'file', path: file } }));
    // train.addMissingScale gives a scale-less BatchNormalization a γ, so `run` has something to slim there.
    const runExit = name === 'bn-scale-false' ? 0 : 1;
    await corpus.add(`nothing-to-prune/${name}/run`, 'nothing-to-prune', runExit, (cwd) => [
      'run',
      '--config',
      config,
      '--out',
      path.join(cwd, 'out'),
    ]);
  }
}

/** The valid tiny inputs every group builds on. */
async function buildBase(corpus: Corpus): Promise<Base> {
  const seq = await sequentialModel();
  const fn = await functionalModel();
  const goodModel = path.dirname(await writeRawModel(corpus.fixture('models', 'good'), seq));
  const { writeNpyDataset } = await import('./corpus-data.js');
  const npyDir = corpus.fixture('data', 'npy-good');
  await writeNpyDataset(npyDir);
  const goodConfigJson = {
    seed: 1,
    backend: 'cpu',
    model: { type: 'vgg', cfg: [2] },
    data: {
      dataset: 'npy',
      trainImages: path.join(npyDir, 'x_train.npy'),
      trainLabels: path.join(npyDir, 'y_train.npy'),
      testImages: path.join(npyDir, 'x_test.npy'),
      testLabels: path.join(npyDir, 'y_test.npy'),
    },
    train: { epochs: 1, batchSize: 16 },
    prune: { ratio: 0.5 },
    finetune: { epochs: 1, batchSize: 16 },
    export: { foldBatchNorm: false },
  };
  const goodConfig = corpus.fixture('configs', 'good.json');
  await mkdir(path.dirname(goodConfig), { recursive: true });
  await writeFile(goodConfig, JSON.stringify(goodConfigJson));
  return { seq, fn, goodModel, goodConfig, goodConfigJson, npyDir };
}

/** Generates every case under `root` (a fresh temp folder). */
export async function buildCorpus(root: string): Promise<FuzzCase[]> {
  const corpus = new Corpus(root);
  const base = await buildBase(corpus);
  await addNotAModelCases(corpus, base);
  await addTopologyCases(corpus, base);
  await addManifestCases(corpus, base);
  await addNonFiniteCases(corpus, base);
  await addGraphCases(corpus, base);
  await addNothingToPruneCases(corpus, base);
  await addConfigCases(corpus, base);
  await addDataCases(corpus, base);
  await addFlagCases(corpus, base);
  await addOutCases(corpus, base);
  await addKillCases(corpus, base);
  await addKerasCases(corpus, base);
  await addOutputFlagCases(corpus, base);
  await addPipeCases(corpus, base);
  return corpus.cases;
}
