/**
 * Bench: `slim prune` core on a ~25M-parameter model.
 * Takes the Keras-style ResNet50 topology of the test zoo (keras.applications layer names), gives it random weights as
 * plain typed arrays (no tfjs allocation), random BN γ, and times what `slim prune` does with a model it has read:
 * the validation every model goes through (topology, weight specs, weight values), planPrune and applyPlan, at
 * ratio 0.5. Validation is timed on its own too, so its share shows (it must stay linear in the model size).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/prune-large.js
 */
import { pathToFileURL } from 'node:url';
import type { ModelArtifacts, WeightMap } from '../src/model/topology.js';
import { applyPlanDetailed } from '../src/prune/apply.js';
import { planPrune } from '../src/prune/plan.js';
import { countModel } from '../src/report/count.js';
import { validateTopology, validateWeightValues } from '../src/model/validate.js';
import { resnet50Topology, type TopologyWithWeightShapes } from '../test/fixtures/zoo/index.js';

/** Random weights (deterministic xorshift), BN variance positive, γ spread over [0, 1). */
export function randomArtifacts(built: TopologyWithWeightShapes, seed = 1): ModelArtifacts {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const weights: WeightMap = new Map();
  for (const [name, shape] of built.weightShapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const variance = name.endsWith('moving_variance');
    for (let i = 0; i < data.length; i++) data[i] = variance ? 0.5 + next() : (next() - 0.5) * 0.1;
    if (name.endsWith('/gamma')) for (let i = 0; i < data.length; i++) data[i] = next();
    weights.set(name, { shape, dtype: 'float32', data });
  }
  return { modelTopology: built.topology, weights, format: 'layers-model' };
}

function main(): void {
  const artifacts = randomArtifacts(resnet50Topology());
  const before = countModel(artifacts.modelTopology);
  const specs = [...artifacts.weights].map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype }));
  const tv = performance.now();
  validateTopology(artifacts.modelTopology, specs, 'resnet50', { weightsRequired: true });
  validateWeightValues(artifacts.weights, 'resnet50');
  const t0 = performance.now();
  const plan = planPrune(artifacts, { ratio: 0.5 });
  const t1 = performance.now();
  const { artifacts: pruned } = applyPlanDetailed(artifacts, plan);
  const t2 = performance.now();
  const after = countModel(pruned.modelTopology);
  const fmt = (ms: number): string => (ms / 1000).toFixed(2);
  process.stdout.write(
    `ResNet50 (${before.params.total.toLocaleString('en-US')} params): ratio 0.5 removed ${plan.prunedChannels} of ${plan.candidateChannels} channels ` +
      `in ${plan.groups.length} groups → ${after.params.total.toLocaleString('en-US')} params\n` +
      `validate ${fmt(t0 - tv)} s, planPrune ${fmt(t1 - t0)} s, applyPlan ${fmt(t2 - t1)} s, ` +
      `total ${fmt(t2 - tv)} s (plan + apply ${fmt(t2 - t0)} s)\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (err: unknown) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
