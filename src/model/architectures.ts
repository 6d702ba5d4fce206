/**
 * Built-in architectures with stable, readable layer names and seeded initial weights.
 */
import * as tf from '#tfjs';
import { InputError } from '../errors.js';

export type VggItem = number | 'M' | 'A';

/**
 * Conv configs of the VGG variants used by the Network Slimming paper's code base (CIFAR):
 * numbers are 3×3 conv widths, 'M' a 2×2 max pool. The paper's CIFAR model drops VGG's last
 * 'M' and ends with a 2×2 average pool + one Dense, i.e. `[...PAPER_VGG.vgg19, 'A']` with head 'flatten'.
 */
export const PAPER_VGG: Record<'vgg11' | 'vgg13' | 'vgg16' | 'vgg19', readonly VggItem[]> = {
  vgg11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
  vgg13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512],
  vgg19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512],
};

export interface VggSpec {
  cfg: readonly VggItem[];
  inputShape: [number, number, number];
  numClasses: number;
  head: 'gap' | 'flatten';
  /** Hidden Dense widths of the 'flatten' head (each Dense → BN → ReLU → Dropout). */
  hidden?: number[];
  /** Dropout rate after each hidden block, and before the classifier; 0/undefined = none. */
  dropout?: number;
  /** Default true. Without BN, convs get a bias. */
  batchNorm?: boolean;
  /** Initial BN γ (default 1, as Keras; the paper's code uses 0.5). */
  gammaInit?: number;
  seed: number;
  /** Build a functional Model instead of a Sequential (same layers and names). */
  functional?: boolean;
}

/**
 * BN hyper-parameters matching PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5),
 * so short runs behave like the paper's code; Keras's 0.99 lags far behind in short runs.
 */
const BN_MOMENTUM = 0.9;
const BN_EPSILON = 1e-5;

/**
 * VGG-style net: n → Conv2D 3×3 'same' (no bias when BN follows) → BN → ReLU; 'M'/'A' → 2×2 max/avg pool.
 * Names: conv1, bn1, relu1, pool1, …; head gap | flatten, fc1, fc_bn1, fc_relu1, dropout1, …; classifier.
 */
export function buildVgg(spec: VggSpec): tf.LayersModel {
  const dropout = checkVggSpec(spec);
  const builder = new VggLayers(spec);
  addVggBody(builder, spec);
  addVggHead(builder, spec, dropout);
  return assembleVgg(builder.layers, spec);
}

/** The layer list under construction, with the per-layer seeds and the first layer's input shape. */
class VggLayers {
  readonly layers: tf.layers.Layer[] = [];
  readonly batchNorm: boolean;
  private seedCounter = 0;

  constructor(private readonly spec: VggSpec) {
    this.batchNorm = spec.batchNorm ?? true;
  }

  /** Each weighted layer gets its own seed derived from the model seed, so equal shapes differ. */
  nextSeed(): number {
    return this.spec.seed * 1000 + ++this.seedCounter;
  }

  /**
   * A Sequential takes its input shape from the first layer's args (no separate InputLayer in
   * model.layers); the functional form ignores it and uses tf.input instead.
   */
  firstArgs(): { inputShape?: number[] } {
    return this.layers.length === 0 && !this.spec.functional ? { inputShape: [...this.spec.inputShape] } : {};
  }

  batchNormalization(name: string): tf.layers.Layer {
    return tf.layers.batchNormalization({
      name,
      axis: -1,
      momentum: BN_MOMENTUM,
      epsilon: BN_EPSILON,
      gammaInitializer: tf.initializers.constant({ value: this.spec.gammaInit ?? 1 }),
    });
  }
}

/** The conv/pool body of spec.cfg, checking that no pool shrinks the map below 1×1. */
function addVggBody(builder: VggLayers, spec: VggSpec): void {
  let [h, w] = spec.inputShape;
  let conv = 0;
  let pool = 0;
  for (const item of spec.cfg) {
    if (item === 'M' || item === 'A') {
      if (h < 2 || w < 2) throw new InputError(`buildVgg: pool ${pool + 1} would shrink a ${h}x${w} map below 1x1`);
      pool++;
      const args = { name: `pool${pool}`, poolSize: 2, strides: 2, ...builder.firstArgs() };
      builder.layers.push(item === 'M' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args));
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
    } else {
      if (!Number.isInteger(item) || item <= 0) throw new InputError(`buildVgg: conv width must be a positive integer, got ${item}`);
      conv++;
      builder.layers.push(
        tf.layers.conv2d({
          name: `conv${conv}`,
          ...builder.firstArgs(),
          filters: item,
          kernelSize: 3,
          padding: 'same',
          useBias: !builder.batchNorm,
          kernelInitializer: tf.initializers.heNormal({ seed: builder.nextSeed() }),
        }),
      );
      if (builder.batchNorm) builder.layers.push(builder.batchNormalization(`bn${conv}`));
      builder.layers.push(tf.layers.reLU({ name: `relu${conv}` }));
    }
  }
}

/** gap | flatten (+ hidden Dense → BN → ReLU → Dropout blocks), then the softmax classifier. */
function addVggHead(builder: VggLayers, spec: VggSpec, dropout: number): void {
  const { layers } = builder;
  let dropCount = 0;
  const maybeDropout = (): void => {
    if (dropout > 0) layers.push(tf.layers.dropout({ name: `dropout${++dropCount}`, rate: dropout }));
  };
  if (spec.head === 'gap') {
    if ((spec.hidden ?? []).length > 0) throw new InputError("buildVgg: hidden layers need head 'flatten'");
    layers.push(tf.layers.globalAveragePooling2d({ name: 'gap' }));
    maybeDropout();
  } else {
    layers.push(tf.layers.flatten({ name: 'flatten' }));
    (spec.hidden ?? []).forEach((units, i) => {
      const n = i + 1;
      layers.push(
        tf.layers.dense({
          name: `fc${n}`,
          units,
          useBias: !builder.batchNorm,
          kernelInitializer: tf.initializers.glorotUniform({ seed: builder.nextSeed() }),
        }),
      );
      if (builder.batchNorm) layers.push(builder.batchNormalization(`fc_bn${n}`));
      layers.push(tf.layers.reLU({ name: `fc_relu${n}` }));
      maybeDropout();
    });
  }
  layers.push(
    tf.layers.dense({
      name: 'classifier',
      units: spec.numClasses,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: builder.nextSeed() }),
    }),
  );
}

/** The spec's values buildVgg relies on, checked (InputError); returns the dropout rate. */
function checkVggSpec(spec: VggSpec): number {
  if (!spec.inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new InputError(`buildVgg: inputShape must be three positive integers, got [${spec.inputShape.join(', ')}]`);
  }
  if (!Number.isInteger(spec.numClasses) || spec.numClasses < 2) {
    throw new InputError(`buildVgg: numClasses must be an integer >= 2, got ${spec.numClasses}`);
  }
  if (spec.cfg.length === 0) throw new InputError('buildVgg: cfg is empty');
  const dropout = spec.dropout ?? 0;
  if (dropout < 0 || dropout >= 1) throw new InputError(`buildVgg: dropout must be in [0, 1), got ${dropout}`);
  return dropout;
}

/** The layers as a Sequential, or (spec.functional) applied in order to an explicit input. */
function assembleVgg(layers: tf.layers.Layer[], spec: VggSpec): tf.LayersModel {
  if (spec.functional) {
    const input = tf.input({ shape: [...spec.inputShape], name: 'input' });
    let x: tf.SymbolicTensor = input;
    for (const layer of layers) x = layer.apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: x, name: 'vgg' });
  }
  return tf.sequential({ name: 'vgg', layers });
}
