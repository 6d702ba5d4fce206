/** Finding a layer's weights in a WeightMap by manifest name (`…/<layer>/<role>`). */
import type { Weight, WeightMap } from '../model/topology.js';
import type { RoleWeights } from '../layers/types.js';

/** layer name → role → manifest name. Names like `conv/kernel`, `outer/conv/kernel`, `conv/kernel:0`. */
export function indexWeights(weights: WeightMap): Map<string, Map<string, string>> {
  const index = new Map<string, Map<string, string>>();
  for (const name of weights.keys()) {
    const parts = name.replace(/:\d+$/, '').split('/');
    if (parts.length < 2) continue;
    const role = parts[parts.length - 1];
    const layer = parts[parts.length - 2];
    let roles = index.get(layer);
    if (roles === undefined) index.set(layer, (roles = new Map<string, string>()));
    roles.set(role, name);
  }
  return index;
}

export function roleWeightsOf(weights: WeightMap, index: Map<string, Map<string, string>>, layer: string): RoleWeights {
  const out: RoleWeights = new Map();
  for (const [role, name] of index.get(layer) ?? []) out.set(role, weights.get(name) as Weight);
  return out;
}
