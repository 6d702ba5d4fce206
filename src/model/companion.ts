/**
 * The metadata file some exporters put beside model.json (Teachable Machine image, pose and audio
 * models: labels, imageSize, tmVersion, ...; their loaders, e.g. tmImage.load, read both files).
 * It is read with the model and carried in the model's userDefinedMetadata under COMPANION_KEY, so
 * every model written from it writes the file again (with a note from slim, the labels unchanged)
 * and the exporter's loader keeps working on slim's output.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { printable } from './printable.js';

export const COMPANION_FILE = 'metadata.json';
/** userDefinedMetadata key holding the companion file's content. */
export const COMPANION_KEY = 'companionMetadata';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** metadata.json beside `modelJsonFile`, parsed; undefined when there is none. */
export async function readCompanion(modelJsonFile: string): Promise<JsonObject | undefined> {
  const file = path.join(path.dirname(modelJsonFile), COMPANION_FILE);
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new InputError(`${file}: not valid JSON (${printable((error as Error).message)})`, { cause: error });
  }
  if (!isObject(json)) throw new InputError(`${file}: expected a JSON object (the metadata written beside a model)`);
  return json;
}

/** The companion file to write beside a model with this metadata: the carried content plus slim's note. */
export function companionText(userDefinedMetadata: JsonObject | undefined): string | undefined {
  const carried = userDefinedMetadata?.[COMPANION_KEY];
  if (!isObject(carried)) return undefined;
  const slim = isObject(userDefinedMetadata?.slim) ? userDefinedMetadata.slim : {};
  const note = {
    note: 'written by slim (network slimming); labels and input size unchanged, preprocessing as recorded in model.json userDefinedMetadata.slim',
    ...(slim.preprocess !== undefined ? { preprocess: slim.preprocess } : {}),
  };
  return `${JSON.stringify({ ...carried, slim: note }, null, 2)}\n`;
}
