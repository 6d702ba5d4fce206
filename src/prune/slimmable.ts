/**
 * Whether Network Slimming has anything to work with: it ranks channels by the |γ| of the
 * BatchNormalization after them, so a model without a BN γ has nothing to slim. `prune` answers
 * that instead of writing an unchanged copy, and `train` (with sparsity) and `run` say it before
 * spending any time on training.
 */
import { ProblemError } from '../errors.js';
import { missingScaleRefusal } from '../model/add-bn-scale.js';
import { isModelClass } from '../model/graph.js';
import type { LayerJson, ModelJson } from '../model/topology.js';

const WHAT_HELPS =
  'Network Slimming removes the channels whose BatchNormalization γ is small: give it a model with BatchNormalization after its convolutions';

/** Every layer of a topology, nested models included (iterative: nesting depth is the input's). */
function* allLayers(topology: ModelJson): Generator<LayerJson> {
  const pending: unknown[] = [topology.config];
  while (pending.length > 0) {
    const config = pending.pop() as Record<string, unknown> | unknown[] | undefined;
    const layers = Array.isArray(config) ? config : config?.layers;
    if (!Array.isArray(layers)) continue;
    for (const layer of layers as LayerJson[]) {
      yield layer;
      if (isModelClass(layer.class_name)) pending.push(layer.config);
    }
  }
}

/**
 * Why `topology` has nothing to slim (no BatchNormalization with a γ), or null when it has.
 * `scalesWillBeAdded`: sparsity training is about to give scale-less BatchNorm a γ, so it counts.
 */
export function nothingToSlimReason(topology: ModelJson, scalesWillBeAdded = false): string | null {
  let batchNorms = 0;
  for (const layer of allLayers(topology)) {
    if (layer.class_name !== 'BatchNormalization') continue;
    if (layer.config?.scale !== false || scalesWillBeAdded) return null;
    batchNorms++;
  }
  if (batchNorms === 0) return `nothing to slim: the model has no BatchNormalization layer. ${WHAT_HELPS}`;
  return `nothing to slim: ${missingScaleRefusal(topology)}`;
}

/** Throws ProblemError (exit 1) with nothingToSlimReason when there is nothing to slim. */
export function requireSomethingToSlim(topology: ModelJson, what: string, scalesWillBeAdded = false): void {
  const reason = nothingToSlimReason(topology, scalesWillBeAdded);
  if (reason !== null) throw new ProblemError(`${what}: ${reason}`);
}
