/**
 * The Network Slimming sparsity term: λ·Σ|γ| over every BatchNormalization scale,
 * applied as the subgradient λ·sign(γ) added to γ's gradient.
 */
import * as tf from '#tfjs';

export interface BnGamma {
  /** The BN layer's name (for nested models, the inner layer's own name). */
  layerName: string;
  variable: tf.LayerVariable;
}

/** Layers of a model, descending into nested models (a model used as a layer). */
function* allLayers(model: tf.LayersModel): Generator<tf.layers.Layer> {
  for (const layer of model.layers) {
    yield layer;
    if (layer instanceof tf.LayersModel) yield* allLayers(layer);
  }
}

/** Every BN layer's γ (skipping BN with `scale: false`), trainable or not. */
export function findBnGammas(model: tf.LayersModel): BnGamma[] {
  const found: BnGamma[] = [];
  for (const layer of allLayers(model)) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const config = layer.getConfig();
    if (config['scale'] === false) continue;
    const gamma = layer.weights.find((w) => /\/gamma(_\d+)?$/.test(w.originalName) || /\/gamma(_\d+)?$/.test(w.name));
    if (gamma !== undefined) found.push({ layerName: layer.name, variable: gamma });
  }
  return found;
}

/**
 * Adds λ·sign(γ) to the gradients of the given γ variables, in place in `grads`
 * (replaced tensors are disposed). Variables without a gradient (frozen) are skipped.
 */
export function addSparsityGrad(grads: Map<tf.LayerVariable, tf.Tensor>, gammas: readonly BnGamma[], lambda: number): void {
  if (lambda === 0) return;
  for (const { variable } of gammas) {
    const g = grads.get(variable);
    if (g === undefined) continue;
    const next = tf.tidy(() => tf.add(g, tf.mul(tf.sign(variable.read()), lambda)));
    g.dispose();
    grads.set(variable, next);
  }
}

export interface GammaStats {
  /** Number of γ values (channels) over all BN layers. */
  count: number;
  meanAbs: number;
  /** Fraction of |γ| < 1e-2 and < 1e-3. */
  below1e2: number;
  below1e3: number;
}

/** Summary of |γ| over all BN layers (one sync). */
export function gammaStats(model: tf.LayersModel): GammaStats {
  const gammas = findBnGammas(model);
  if (gammas.length === 0) return { count: 0, meanAbs: 0, below1e2: 0, below1e3: 0 };
  const values = tf.tidy(() => tf.concat(gammas.map((g) => tf.abs(g.variable.read()).flatten())).dataSync());
  let sum = 0;
  let b2 = 0;
  let b3 = 0;
  for (const v of values) {
    sum += v;
    if (v < 1e-2) b2++;
    if (v < 1e-3) b3++;
  }
  const n = values.length;
  return { count: n, meanAbs: sum / n, below1e2: b2 / n, below1e3: b3 / n };
}
