/** The report stage: count a model (topology only; weight files may be absent) and an optional baseline. */
import { readModel } from '../model/io.js';
import { countModel } from '../report/count.js';
import { analyzeChannels } from '../prune/groups.js';
import { buildReport, type Report } from '../report/render.js';
import type { ModelJson } from '../model/topology.js';

export async function reportFor(modelPath: string, baselinePath?: string): Promise<Report> {
  const model = await readModel(modelPath, { weights: false });
  const baseline = baselinePath !== undefined ? await readModel(baselinePath, { weights: false }) : undefined;
  return buildReport(
    model.path,
    countModel(model.modelTopology),
    baseline ? { path: baseline.path, count: countModel(baseline.modelTopology) } : undefined,
    wallsOf(model.modelTopology),
  );
}

/** Layers slim cannot prune through in this topology (from the same channel analysis prune uses). */
export function wallsOf(topology: ModelJson) {
  return analyzeChannels(topology).walls.map((w) => ({ layer: w.layer, className: w.className, reason: w.reason }));
}

/** Report of in-memory topologies (used by `run`, where the models are already loaded). */
export function reportOfTopologies(model: { path: string; topology: ModelJson }, baseline?: { path: string; topology: ModelJson }): Report {
  return buildReport(
    model.path,
    countModel(model.topology),
    baseline ? { path: baseline.path, count: countModel(baseline.topology) } : undefined,
    wallsOf(model.topology),
  );
}
