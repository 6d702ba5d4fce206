/**
 * Loading a config: read the file (or stdin for '-'), parse JSON once, apply flag overrides,
 * validate with the zod schema. Every error names the file and the config path that is wrong.
 */
import { checkJsonDepth } from '../model/json-depth.js';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

/**
 * A flag value to put at a config path before validation, e.g. ['train', 'lr'] = 0.05.
 * `undefined` leaves the config alone (flag not given); `null` removes the config's value.
 */
export interface Override {
  path: string[];
  value: unknown;
  flag: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function readConfigText(source: string): Promise<string> {
  if (source === '-') return readStdin();
  try {
    return await readFile(source, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const words: Record<string, string> = { ENOENT: 'no such file', EISDIR: 'is a folder, not a JSON file', EACCES: 'permission denied' };
    throw new InputError(`cannot read config ${source}: ${words[code ?? ''] ?? String(code ?? err)}`);
  }
}

function formatPath(path: PropertyKey[]): string {
  return path.length === 0
    ? '(root)'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
        .join('.')
        .replace(/\.\[/g, '[');
}

/**
 * One line: the first problem with its path (`config.json: train.lr: expected number, received string`),
 * plus how many more there are (all of them with --verbose).
 */
export function describeZodError(error: z.ZodError, source: string, overrides: Override[] = [], all = false): string {
  const lines = error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => formatPath([...issue.path, k]));
      return `${source}: unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    const where = formatPath(issue.path);
    // Only a flag that was actually given can be the source of a bad value.
    const flag = overrides.find((o) => o.value !== undefined && o.path.join('.') === issue.path.map(String).join('.'));
    const from = flag ? ` (from ${flag.flag})` : '';
    return `${source}: ${where}${from}: ${issue.message}`.replace(/\s*\n\s*/g, ' ');
  });
  if (all || lines.length === 1) return lines.join('; ');
  // The rest by their paths only, so the line stays short but every place to fix is named.
  const rest = error.issues.slice(1).map((issue) => formatPath(issue.path));
  const shown = rest.length > 6 ? [...rest.slice(0, 6), '…'] : rest;
  return `${lines[0]} (and ${rest.length} more: ${shown.join(', ')})`;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) {
      throw new InputError(`config: ${path.join('.')}: cannot set a flag value inside "${key}", which is not an object`);
    }
    node = node[key] as Record<string, unknown>;
  }
  const leaf = path[path.length - 1];
  if (value === null) delete node[leaf];
  else node[leaf] = value;
}

/** Validates raw JSON text (plus overrides) into a Config; `source` names it in errors. */
export function parseConfig(text: string, source: string, overrides: Override[] = []): Config {
  let raw: unknown;
  try {
    raw = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new InputError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InputError(`${source}: the config must be a JSON object`);
  }
  checkJsonDepth(raw, source);
  const merged = structuredClone(raw) as Record<string, unknown>;
  for (const o of overrides) if (o.value !== undefined) setPath(merged, o.path, o.value);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new InputError(describeZodError(result.error, source, overrides), {
      detail: describeZodError(result.error, source, overrides, true),
    });
  }
  return result.data;
}

/**
 * Loads `--config` (a path, '-' for stdin, or none for defaults) and applies flag overrides. An
 * empty file or stdin is refused by name: it is a mistake (nothing piped, a file not yet written),
 * not a request for the defaults, which `{}` or no --config give.
 */
export async function loadConfig(source: string | undefined, overrides: Override[] = []): Promise<Config> {
  if (source === undefined) return parseConfig('{}', 'flags', overrides);
  const text = await readConfigText(source);
  const name = source === '-' ? 'stdin' : source;
  if (text.trim() === '') throw new InputError(`${name}: the config is empty; give a JSON object ({} for the defaults)`);
  return parseConfig(text, name, overrides);
}
