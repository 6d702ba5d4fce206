/**
 * The benchmark nets on slim's side, mirroring bench/torch/models.py layer for layer
 * (shared by bench/train.ts and bench/profile-train.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { buildVgg, type VggItem } from '../src/model/architectures.js';

export type Arch = 'quickstart' | 'vgg-small' | 'mobilenetv2';
/** Mirrors the configs and INPUT_SHAPES at the top of bench/torch/models.py. */
export const ARCHS: Record<Arch, { build: (seed: number) => tf.LayersModel; inputShape: [number, number, number] }> = {
  quickstart: { build: (seed) => vgg([32, 'M', 64, 'M', 128], [28, 28, 1], seed), inputShape: [28, 28, 1] },
  'vgg-small': { build: (seed) => vgg([32, 32, 'M', 64, 64, 'M', 128, 128, 'M'], [32, 32, 3], seed), inputShape: [32, 32, 3] },
  mobilenetv2: { build: (seed) => mobilenetV2([32, 32, 3], seed), inputShape: [32, 32, 3] },
};

function vgg(cfg: VggItem[], inputShape: [number, number, number], seed: number): tf.LayersModel {
  return buildVgg({ cfg, inputShape, numClasses: 10, head: 'gap', seed });
}

/** MOBILENETV2_STEM / _STAGES (t, c, n, s) / _HEAD of bench/torch/models.py. */
const MOBILENETV2_STEM = 32;
const MOBILENETV2_STAGES: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 2, 2],
];
const MOBILENETV2_HEAD = 128;

/**
 * The models.py MobileNetV2 in tf.layers: Conv(no bias) → BN(Keras defaults) → ReLU6 units,
 * inverted residual blocks (expand 1×1, depthwise 3×3 'same', linear 1×1 projection, Add when
 * stride 1 and in == out), head Conv 1×1 → GAP → Dense(10, logits).
 */
export function mobilenetV2(inputShape: [number, number, number], seed: number): tf.LayersModel {
  let seedCounter = 0;
  const init = (): ReturnType<typeof tf.initializers.glorotUniform> => tf.initializers.glorotUniform({ seed: seed * 1000 + ++seedCounter });
  const unit = (
    x: tf.SymbolicTensor,
    kind: 'conv' | 'depthwise',
    filters: number,
    kernel: number,
    stride: number,
    relu6: boolean,
  ): tf.SymbolicTensor => {
    const conv =
      kind === 'conv'
        ? tf.layers.conv2d({ filters, kernelSize: kernel, strides: stride, padding: 'same', useBias: false, kernelInitializer: init() })
        : tf.layers.depthwiseConv2d({ kernelSize: kernel, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init() });
    let y = tf.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }).apply(conv.apply(x)) as tf.SymbolicTensor;
    if (relu6) y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor;
    return y;
  };
  const input = tf.input({ shape: inputShape });
  let x = unit(input, 'conv', MOBILENETV2_STEM, 3, 1, true);
  let inChannels = MOBILENETV2_STEM;
  for (const [t, c, n, s] of MOBILENETV2_STAGES) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      let y = t === 1 ? x : unit(x, 'conv', inChannels * t, 1, 1, true);
      y = unit(y, 'depthwise', 0, 3, stride, true);
      y = unit(y, 'conv', c, 1, 1, false);
      x = stride === 1 && inChannels === c ? (tf.layers.add().apply([x, y]) as tf.SymbolicTensor) : y;
      inChannels = c;
    }
  }
  x = unit(x, 'conv', MOBILENETV2_HEAD, 1, 1, true);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}
