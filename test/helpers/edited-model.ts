/**
 * A model written by slim whose model.json is then edited by hand: the way the validation tests
 * make one bad model at a time (the weights file stays as written).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeModel } from '../../src/model/io.js';
import type { ModelArtifacts } from '../../src/model/topology.js';

/** Writes `artifacts` into `dir`, then rewrites its model.json with `edit`; returns `dir`. */
export async function writeEditedModel(dir: string, artifacts: ModelArtifacts, edit: (json: Record<string, any>) => void): Promise<string> {
  await writeModel(dir, artifacts);
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
  return dir;
}
