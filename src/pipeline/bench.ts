/** What `slim bench` and `slim report --bench` compare: two model files, or a run folder's exported model against its input, exported. */
import path from 'node:path';
import { selectBackend } from '../backend/select.js';
import type { LoadedModel } from '../model/topology.js';
import { runFolderOf } from '../report/html/collect.js';
import { exportModel } from './export.js';
import type { BenchModel } from './stages/bench.js';

export async function benchModelsOf(
  model: string,
  baseline: string | undefined,
  read: (p: string) => Promise<LoadedModel>,
): Promise<{ model: BenchModel; baseline?: BenchModel }> {
  const runDir = await runFolderOf(model);
  if (runDir === null) {
    const m = await read(model);
    const b = baseline !== undefined ? await read(baseline) : undefined;
    return { model: { path: m.path, artifacts: m }, ...(b !== undefined ? { baseline: { path: b.path, artifacts: b } } : {}) };
  }
  // A run folder: what it deploys (exported/, else finetuned/) against its input exported the same way (BN folded).
  let final: LoadedModel;
  try {
    final = await read(path.join(runDir, 'exported'));
  } catch {
    final = await read(path.join(runDir, 'finetuned'));
  }
  if (baseline !== undefined) {
    const b = await read(baseline);
    return { model: { path: final.path, artifacts: final }, baseline: { path: b.path, artifacts: b } };
  }
  const input = await read(path.join(runDir, 'input'));
  return { model: { path: final.path, artifacts: final }, baseline: await exportedBaseline(input) };
}

/** The input model as `slim export` would write it (BatchNorm folded), in memory: the fair baseline of an exported model. */
export async function exportedBaseline(input: LoadedModel): Promise<BenchModel> {
  // The export's output check needs a backend; bench switches to each runtime's own afterwards.
  await selectBackend('auto');
  const exported = await exportModel(input);
  return { path: `${input.path} (exported in memory)`, artifacts: exported.artifacts };
}
