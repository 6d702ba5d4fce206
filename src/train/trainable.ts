/**
 * What a training stage unfreezes. Transfer-learning exports freeze the pretrained body
 * (`trainable: false`, BatchNorm included), so sparsity training could not move a single γ there;
 * a mode unfreezes all layers ("all"), only BatchNorm ("bn"), or nothing ("as-saved"), and hands
 * back the saved flags so the written model keeps them.
 */
import * as tf from '#tfjs';
import { findBnGammas, type GammaStats } from './sparsity.js';

export type TrainableMode = 'all' | 'bn' | 'as-saved';

interface LayerFlag {
  layer: tf.layers.Layer;
  trainable: boolean;
  isContainer: boolean;
}

/** Every layer, containers before the layers they hold (the order in which flags must be set). */
function layerFlags(model: tf.LayersModel): LayerFlag[] {
  const flags: LayerFlag[] = [];
  const visit = (container: tf.LayersModel): void => {
    for (const layer of container.layers) {
      const isContainer = layer instanceof tf.LayersModel;
      flags.push({ layer, trainable: layer.trainable, isContainer });
      if (isContainer) visit(layer);
    }
  };
  visit(model);
  return flags;
}

export interface TrainableChange {
  /** Layers (leaves, not containers) that were frozen and are now trainable. */
  unfrozen: number;
  /** Puts every layer's (and the model's) saved flag back. */
  restore(): void;
}

/**
 * Applies `mode` to a live model. A frozen container hides every weight inside it, so "all" and
 * "bn" open the containers, then set each leaf: "all" → trainable, "bn" → trainable if it is a
 * BatchNormalization, else as saved.
 */
export function applyTrainableMode(model: tf.LayersModel, mode: TrainableMode): TrainableChange {
  const flags = layerFlags(model);
  const modelTrainable = model.trainable;
  const restore = (): void => {
    model.trainable = modelTrainable;
    // Containers first: a container's setter overwrites its direct layers' weight flags.
    for (const f of flags) if (f.isContainer) f.layer.trainable = f.trainable;
    for (const f of flags) if (!f.isContainer) f.layer.trainable = f.trainable;
  };
  if (mode === 'as-saved') return { unfrozen: 0, restore };
  let unfrozen = 0;
  model.trainable = true;
  for (const f of flags) if (f.isContainer) f.layer.trainable = true;
  for (const f of flags) {
    if (f.isContainer) continue;
    const wanted = mode === 'all' || f.layer.getClassName() === 'BatchNormalization' || f.trainable;
    if (wanted && !f.trainable && f.layer.weights.length > 0) unfrozen++;
    f.layer.trainable = wanted;
  }
  return { unfrozen, restore };
}

/** The |γ| statistics of BN layers whose γ is frozen in this stage, and how many γ values have not moved. */
export interface FrozenGammaRecord {
  /** |γ| of BatchNorm layers that are not trainable now (count 0 when every γ can move). */
  frozen: GammaStats;
  /** |γ| of BatchNorm layers that train. */
  trainable: GammaStats;
  /** γ values exactly equal to their value when the stage started. */
  unmoved: number;
}

function statsOf(values: Float32Array[]): GammaStats {
  let n = 0;
  let sum = 0;
  let b2 = 0;
  let b3 = 0;
  for (const array of values) {
    for (const v of array) {
      const a = Math.abs(v);
      n++;
      sum += a;
      if (a < 1e-2) b2++;
      if (a < 1e-3) b3++;
    }
  }
  return n === 0 ? { count: 0, meanAbs: 0, below1e2: 0, below1e3: 0 } : { count: n, meanAbs: sum / n, below1e2: b2 / n, below1e3: b3 / n };
}

/** Snapshots every γ now; `record()` later compares against it. */
export function watchGammas(model: tf.LayersModel): { record(): FrozenGammaRecord } {
  const gammas = findBnGammas(model);
  const trainableSet = new Set(model.trainableWeights);
  const read = () => gammas.map((g) => g.variable.read().dataSync() as Float32Array);
  const start = read().map((a) => a.slice());
  return {
    record(): FrozenGammaRecord {
      const now = read();
      let unmoved = 0;
      now.forEach((a, i) => a.forEach((v, j) => (unmoved += v === start[i][j] ? 1 : 0)));
      const frozen = now.filter((_, i) => !trainableSet.has(gammas[i].variable));
      const trainable = now.filter((_, i) => trainableSet.has(gammas[i].variable));
      return { frozen: statsOf(frozen), trainable: statsOf(trainable), unmoved };
    },
  };
}
