/** Picks the backend and says which one on stderr (and what was tried before it, with --verbose). */
import { selectBackend, type BackendInfo } from '../backend/select.js';
import type { Backend } from '../config/schema.js';
import type { Output } from '../io/output.js';

export async function startBackend(preference: Backend, out: Output): Promise<BackendInfo> {
  const info = await selectBackend(preference);
  out.info(`backend: ${info.detail}`);
  for (const t of info.tried) out.debug(`  not used: ${t.package}: ${t.error}`);
  return info;
}
