/**
 * The graph-model form of a layers model: the GraphDef-JSON that tfjs-converter writes and
 * `tf.loadGraphModel` runs, with tfjs's fused ops where they apply (`_FusedConv2D`,
 * `FusedDepthwiseConv2dNative`, `_FusedMatMul`: conv/matmul + bias + activation in one kernel).
 * Weights become Const nodes whose values live in the weights manifest under the node's name, so
 * they can be quantized exactly like a layers model's. Pure: artifacts in, nodes + weights out.
 *
 * Covered: the layers an exported CNN is made of (convs, Dense on a flat input, BatchNorm left
 * unfolded, activations, pooling, Flatten/Reshape, ZeroPadding2D, merges, Concatenate). Anything
 * else is an InputError naming the layer and the layers format as the way out.
 */
import { InputError } from '../errors.js';
import { defaultRegistry, type LayerRegistry } from '../layers/registry.js';
import { activationName, zeroPaddingAmounts } from '../layers/handlers/util.js';
import { buildGraph, callOf, unwrapTopology, type GraphNode } from '../model/graph.js';
import { encodeWeights, type ManifestWeightSpec, type WeightQuantization } from '../model/io-manifest.js';
import type { ModelArtifacts, Weight, WeightMap } from '../model/topology.js';
import { indexWeights, roleWeightsOf } from '../prune/weights.js';
import { denseHeadAsConv } from './dense-as-conv.js';
import { fuseActivations, type InferenceRewrite } from './simplify.js';

/** One GraphDef node as tfjs's JSON graph format spells it. */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface GraphModelParts {
  /** `modelTopology` of a graph-model model.json. */
  topology: { node: GraphNodeDef[]; library: Record<string, never>; versions: Record<string, never> };
  /** Const node name → value, in node order (the weights manifest). */
  weights: WeightMap;
  inputNames: string[];
  outputNames: string[];
  /** Rewrites made for the graph form only (a global average pool → Dense head as convs). */
  rewrites: InferenceRewrite[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const ints = (values: number[]) => ({ list: { i: values.map(String) } });
const str = (s: string) => ({ s: b64(s) });
const T = { type: 'DT_FLOAT' };

/** Activations tfjs runs inside its fused conv/matmul kernels (fused_ops name). */
const FUSABLE: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid' };
/** Activations as standalone TF ops. */
const ACTIVATION_OPS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  selu: 'Selu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  softmax: 'Softmax',
  softplus: 'Softplus',
  softsign: 'Softsign',
};

class Emitter {
  readonly nodes: GraphNodeDef[] = [];
  readonly weights: WeightMap = new Map();
  private readonly used = new Set<string>();

  /** A node name not used yet (TF names are unique per graph). */
  unique(base: string): string {
    let name = base.replace(/[^A-Za-z0-9_./-]/g, '_');
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  op(name: string, op: string, input: string[], attr: Record<string, unknown> = {}): string {
    const unique = this.unique(name);
    this.nodes.push({ name: unique, op, input, attr });
    return unique;
  }

  constant(name: string, weight: Weight): string {
    const unique = this.unique(name);
    const dtype = weight.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    this.nodes.push({
      name: unique,
      op: 'Const',
      attr: { value: { tensor: { dtype, tensorShape: { dim: weight.shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: dtype } },
    });
    this.weights.set(unique, weight);
    return unique;
  }

  ints(name: string, values: number[]): string {
    return this.constant(name, { shape: [values.length], dtype: 'int32', data: Int32Array.from(values) });
  }

  floats(name: string, shape: number[], values: ArrayLike<number>): string {
    return this.constant(name, { shape, dtype: 'float32', data: Float32Array.from(values) });
  }
}

/** The reason a layer cannot be written as a graph model, in the one error line. */
function unsupported(node: GraphNode, why: string): InputError {
  return new InputError(
    `--format graph: layer '${node.name}' (${node.className}) ${why}; export it with --format layers (the default), which stock tf.loadLayersModel runs`,
  );
}

type Config = Record<string, unknown>;

function pair(value: unknown, fallback: number): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2) return [Number(value[0]), Number(value[1])];
  return [fallback, fallback];
}

function padding(node: GraphNode): string {
  const p: unknown = node.config.padding ?? 'valid';
  if (p !== 'valid' && p !== 'same') throw unsupported(node, `has padding ${JSON.stringify(p)}`);
  return p === 'same' ? 'SAME' : 'VALID';
}

function channelsLast(node: GraphNode): void {
  if (node.config.data_format === 'channels_first') throw unsupported(node, 'uses channels_first');
}

/**
 * Converts `artifacts` (a functional or Sequential layers model, no nested models) to graph-model
 * nodes and weights. With `fuse` (default), activation layers a layers export keeps (relu6: see
 * fuseActivations) move into the fused op before them first; pass false for `--no-fuse`.
 */
export function toGraphModel(
  artifacts: ModelArtifacts,
  registry: LayerRegistry = defaultRegistry,
  options: { fuse?: boolean; denseAsConv?: boolean } = {},
): GraphModelParts {
  if (options.fuse !== false) artifacts = fuseActivations(artifacts, registry, 'graph').artifacts;
  let rewrites: InferenceRewrite[] = [];
  if (options.denseAsConv !== false) ({ artifacts, changes: rewrites } = denseHeadAsConv(artifacts, registry, { globalPool: true }));
  const graph = buildGraph(artifacts.modelTopology, undefined, registry);
  const index = indexWeights(artifacts.weights);
  const e = new Emitter();
  const tensorName = new Map<string, string>();
  const inputNames: string[] = [];

  const placeholder = (tensorId: string, base: string): void => {
    const shape = graph.tensors.get(tensorId)!.shape;
    const name = e.op(base, 'Placeholder', [], {
      dtype: T,
      shape: { shape: { dim: shape.map((d) => ({ size: String(d ?? -1) })) } },
    });
    tensorName.set(tensorId, name);
    inputNames.push(name);
  };
  for (const id of graph.inputs) {
    const producer = graph.tensors.get(id)!.producer;
    const modelName: unknown = unwrapTopology(artifacts.modelTopology).config.name;
    placeholder(id, producer !== null ? graph.nodeById.get(producer)!.name : typeof modelName === 'string' ? modelName : 'input');
  }

  for (const node of graph.nodes) {
    if (node.className === 'InputLayer') continue;
    if (node.inner !== undefined) throw unsupported(node, 'is a nested model');
    if (node.outputs.length !== 1) throw unsupported(node, `has ${node.outputs.length} outputs`);
    const inputs = node.inputs.map((id) => tensorName.get(id)!);
    const weights = roleWeightsOf(artifacts.weights, index, node.name);
    const out = emitLayer(e, node, inputs, weights);
    tensorName.set(node.outputs[0], out);
  }

  const outputNames = nameOutputs(
    e,
    graph.outputs.map((id) => tensorName.get(id)!),
  );
  return { topology: { node: e.nodes, library: {}, versions: {} }, weights: e.weights, inputNames, outputNames, rewrites };
}

/**
 * Gives the model outputs their stable names, `Identity` (one output) or `Identity_<i>`, as
 * tfjs-converter names them. tf.loadGraphModel takes the nodes nothing reads as the outputs, in node
 * order; where the op computing each output is such a node, in output order, it is renamed (an
 * Identity op would be one more kernel launch per predict); otherwise one Identity per output
 * reads it.
 */
function nameOutputs(e: Emitter, producers: string[]): string[] {
  const wanted = producers.map((_, i) => (producers.length === 1 ? 'Identity' : `Identity_${i}`));
  const read = new Set(e.nodes.flatMap((n) => n.input ?? []));
  const position = new Map(e.nodes.map((n, i) => [n.name, i]));
  const nodes = producers.map((name) => e.nodes[position.get(name)!]);
  const renamable =
    new Set(producers).size === producers.length &&
    nodes.every(
      (n, i) => !read.has(n.name) && n.op !== 'Placeholder' && (i === 0 || position.get(n.name)! > position.get(producers[i - 1])!),
    ) &&
    // A wanted name already taken by another node (a layer named 'Identity') would clash.
    wanted.every((name) => !position.has(name) || producers.includes(name));
  if (!renamable) return producers.map((name, i) => e.op(wanted[i], 'Identity', [name], { T }));
  nodes.forEach((n, i) => (n.name = wanted[i]));
  return wanted;
}

function emitLayer(e: Emitter, node: GraphNode, inputs: string[], weights: Map<string, Weight>): string {
  const config: Config = node.config;
  const name = node.name;
  const x = inputs[0];
  const act = activationName(config.activation ?? 'linear');
  switch (node.className) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      channelsLast(node);
      if ((config.groups ?? 1) !== 1) throw unsupported(node, 'is a grouped convolution');
      const [sh, sw] = pair(config.strides, 1);
      const [dh, dw] = pair(config.dilation_rate, 1);
      const pad = padding(node);
      const outChannels = node.outputShapes[0][node.outputShapes[0].length - 1] as number;
      const bias = weights.get('bias') ?? { shape: [outChannels], dtype: 'float32' as const, data: new Float32Array(outChannels) };
      const geometry = { strides: ints([1, sh, sw, 1]), dilations: ints([1, dh, dw, 1]), padding: str(pad), data_format: str('NHWC'), T };
      if (node.className === 'Conv2D') {
        const filter = e.constant(`${name}/kernel`, weights.get('kernel')!);
        return fused(e, name, '_FusedConv2D', [x, filter, e.constant(`${name}/bias`, bias)], geometry, act, node);
      }
      if (node.className === 'DepthwiseConv2D') {
        const filter = e.constant(`${name}/depthwise_kernel`, weights.get('depthwise_kernel')!);
        return fused(e, name, 'FusedDepthwiseConv2dNative', [x, filter, e.constant(`${name}/bias`, bias)], geometry, act, node);
      }
      const depthwise = e.op(
        `${name}/depthwise`,
        'DepthwiseConv2dNative',
        [x, e.constant(`${name}/depthwise_kernel`, weights.get('depthwise_kernel')!)],
        geometry,
      );
      const pointwise = e.constant(`${name}/pointwise_kernel`, weights.get('pointwise_kernel')!);
      const pointGeometry = {
        strides: ints([1, 1, 1, 1]),
        dilations: ints([1, 1, 1, 1]),
        padding: str('VALID'),
        data_format: str('NHWC'),
        T,
      };
      return fused(e, name, '_FusedConv2D', [depthwise, pointwise, e.constant(`${name}/bias`, bias)], pointGeometry, act, node);
    }
    case 'Dense': {
      if (node.inputShapes[0].length !== 2)
        throw unsupported(node, `reads a rank-${node.inputShapes[0].length} input (graph export covers Dense on flat inputs)`);
      const units = config.units as number;
      const bias = weights.get('bias') ?? { shape: [units], dtype: 'float32' as const, data: new Float32Array(units) };
      const attrs = { transpose_a: { b: false }, transpose_b: { b: false }, T };
      return fused(
        e,
        name,
        '_FusedMatMul',
        [x, e.constant(`${name}/kernel`, weights.get('kernel')!), e.constant(`${name}/bias`, bias)],
        attrs,
        act,
        node,
      );
    }
    case 'BatchNormalization': {
      // Left unfolded (nothing to fold into): its inference map y = x·scale + shift, as two ops.
      const affine = defaultRegistry.get('BatchNormalization')!.inferenceAffine!(weights, callOf(node));
      if (typeof affine === 'string') throw unsupported(node, affine);
      const c = affine.scale.length;
      const scaled = e.op(`${name}/mul`, 'Mul', [x, e.floats(`${name}/scale`, [c], affine.scale)], { T });
      return e.op(name, 'AddV2', [scaled, e.floats(`${name}/shift`, [c], affine.shift)], { T });
    }
    case 'Activation':
    case 'ReLU':
    case 'ELU':
    case 'Softmax': {
      const activation =
        defaultRegistry.get(node.className)?.asActivation?.(callOf(node)) ??
        (act === 'linear' && node.className === 'Activation' ? 'linear' : null);
      if (activation === null) throw unsupported(node, 'has a setting the graph form does not cover');
      return activationOp(e, name, x, activation, node);
    }
    case 'LeakyReLU':
      return e.op(name, 'LeakyRelu', [x], { alpha: { f: typeof config.alpha === 'number' ? config.alpha : 0.3 }, T });
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'SpatialDropout2D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      return e.op(name, 'Identity', [x], { T });
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      channelsLast(node);
      const [ph, pw] = pair(config.pool_size, 2);
      const [sh, sw] = config.strides == null ? [ph, pw] : pair(config.strides, ph);
      return e.op(name, node.className === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool', [x], {
        ksize: ints([1, ph, pw, 1]),
        strides: ints([1, sh, sw, 1]),
        padding: str(padding(node)),
        data_format: str('NHWC'),
        T,
      });
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      channelsLast(node);
      const op = node.className === 'GlobalAveragePooling2D' ? 'Mean' : 'Max';
      return e.op(name, op, [x, e.ints(`${name}/axes`, [1, 2])], { keep_dims: { b: config.keepdims === true }, T });
    }
    case 'Flatten':
    case 'Reshape': {
      const shape = node.outputShapes[0].slice(1);
      if (shape.some((d) => d === null)) throw unsupported(node, 'has an output shape that is not fixed');
      return e.op(name, 'Reshape', [x, e.ints(`${name}/shape`, [-1, ...(shape as number[])])], { T });
    }
    case 'ZeroPadding2D': {
      channelsLast(node);
      const [[top, bottom], [left, right]] = zeroPaddingAmounts(config.padding);
      const paddings: Weight = { shape: [4, 2], dtype: 'int32', data: Int32Array.from([0, 0, top, bottom, left, right, 0, 0]) };
      return e.op(name, 'Pad', [x, e.constant(`${name}/paddings`, paddings)], { T });
    }
    case 'Add':
      return inputs.length === 2 ? e.op(name, 'AddV2', inputs, { T }) : e.op(name, 'AddN', inputs, { N: { i: String(inputs.length) }, T });
    case 'Subtract':
      return e.op(name, 'Sub', inputs, { T });
    case 'Multiply':
      return inputs
        .slice(1)
        .reduce((acc, input, i) => e.op(i === inputs.length - 2 ? name : `${name}/mul_${i}`, 'Mul', [acc, input], { T }), inputs[0]);
    case 'Maximum':
    case 'Minimum':
      return inputs
        .slice(1)
        .reduce(
          (acc, input, i) => e.op(i === inputs.length - 2 ? name : `${name}/${node.className}_${i}`, node.className, [acc, input], { T }),
          inputs[0],
        );
    case 'Average': {
      const sum = e.op(`${name}/sum`, 'AddN', inputs, { N: { i: String(inputs.length) }, T });
      return e.op(name, 'Mul', [sum, e.floats(`${name}/inverse_count`, [], [1 / inputs.length])], { T });
    }
    case 'Concatenate': {
      const rank = node.outputShapes[0].length;
      const axis = typeof config.axis === 'number' ? config.axis : -1;
      const normalized = axis < 0 ? axis + rank : axis;
      return e.op(name, 'ConcatV2', [...inputs, e.ints(`${name}/axis`, [normalized])], {
        N: { i: String(inputs.length) },
        Tidx: { type: 'DT_INT32' },
        T,
      });
    }
    default:
      throw unsupported(node, 'has no graph-model form in slim');
  }
}

/**
 * A conv/matmul with its bias and activation: fused when tfjs fuses that activation, else the
 * fused op with BiasAdd only and the activation as its own op.
 */
function fused(
  e: Emitter,
  name: string,
  op: string,
  inputs: string[],
  attrs: Record<string, unknown>,
  activation: string,
  node: GraphNode,
): string {
  const inKernel = activation === 'linear' || FUSABLE[activation] !== undefined;
  const fusedOps = ['BiasAdd', ...(activation !== 'linear' && inKernel ? [FUSABLE[activation]] : [])];
  const core = e.op(inKernel ? name : `${name}/biased`, op, inputs, {
    ...attrs,
    num_args: { i: '1' },
    fused_ops: { list: { s: fusedOps.map(b64) } },
    epsilon: { f: 0 },
  });
  return inKernel ? core : activationOp(e, name, core, activation, node);
}

function activationOp(e: Emitter, name: string, x: string, activation: string, node: GraphNode): string {
  if (activation === 'linear') return e.op(name, 'Identity', [x], { T });
  const op = ACTIVATION_OPS[activation];
  if (op === undefined) throw unsupported(node, `has activation '${activation}'`);
  return e.op(name, op, [x], { T });
}

/**
 * The graph parts' weights quantized as their layers-model sources were: a Const node holding a
 * quantized layer weight is stored the same way (its values are that weight's, already on the grid).
 */
export function graphQuantization(
  parts: GraphModelParts,
  layersWeights: WeightMap,
  quantization: ReadonlyMap<string, WeightQuantization> | undefined,
): Map<string, WeightQuantization> {
  // By the values array: a graph-only rewrite may give a weight a new shape, never new values.
  const bySource = new Map<Weight['data'], WeightQuantization>();
  for (const [name, q] of quantization ?? []) {
    const weight = layersWeights.get(name);
    if (weight !== undefined) bySource.set(weight.data, q);
  }
  const out = new Map<string, WeightQuantization>();
  for (const [name, weight] of parts.weights) {
    const q = bySource.get(weight.data);
    if (q !== undefined) out.set(name, q);
  }
  return out;
}

/** model.json (format graph-model) and its weights bytes. */
export function graphModelJson(
  parts: GraphModelParts,
  quantization: ReadonlyMap<string, WeightQuantization>,
  weightsFile: string,
): { modelJson: Record<string, unknown>; data: Uint8Array; specs: ManifestWeightSpec[] } {
  const { specs, data } = encodeWeights(parts.weights, quantization);
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'slim',
    convertedBy: 'slim',
    modelTopology: parts.topology,
    weightsManifest: [{ paths: [weightsFile], weights: specs }],
  };
  return { modelJson, data, specs };
}
