/**
 * HDF5 through h5wasm, kept in memory: files are copied into the wasm module's in-memory file
 * system, opened there, and read back as bytes, so slim never hands h5wasm a host path.
 */
import { randomUUID } from 'node:crypto';
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { InputError } from '../../errors.js';

export type { Dataset, Group, H5File };

type H5wasm = typeof import('h5wasm').default;

/**
 * h5wasm is imported on first use, not at start-up: loading it compiles its wasm binary (about a
 * sixth of a second of CPU), which every slim process would otherwise pay, Keras file or not.
 */
let h5wasm: H5wasm | undefined;
let module: Awaited<H5wasm['ready']> | undefined;

async function h5Module(): Promise<Awaited<H5wasm['ready']>> {
  if (module === undefined) {
    h5wasm = (await import('h5wasm')).default;
    module = await h5wasm.ready;
    // Without this, libhdf5 prints its error stack to stderr and the call goes on with a bad id.
    module.activate_throwing_error_handler();
  }
  return module;
}

/** The innermost reason of libhdf5's error stack (`… in H5F__super_read(): truncated file: …`), if it is one. */
function hdf5Reason(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  if (!message.includes('HDF5-DIAG')) return undefined;
  const reasons = [...message.matchAll(/#\d+: .* in \w+\(\): (.*)$/gm)].map((m) => m[1].trim());
  return reasons.at(-1) ?? 'unreadable';
}

/** Opens HDF5 bytes read-only, runs `use`, and always closes and forgets the file; `where` names it in errors. */
export async function withHdf5Bytes<T>(bytes: Uint8Array, where: string, use: (file: H5File) => T): Promise<T> {
  const { FS } = await h5Module();
  const name = `/slim-read-${randomUUID()}.h5`;
  FS.writeFile(name, bytes);
  let file: H5File | undefined;
  try {
    file = new (loaded().File)(name, 'r');
    return use(file);
  } catch (error) {
    const reason = hdf5Reason(error);
    if (reason === undefined) throw error;
    throw new InputError(`${where}: not a readable HDF5 file (${reason})`, { cause: error });
  } finally {
    file?.close();
    FS.unlink(name);
  }
}

/** Creates a fresh HDF5 file, lets `fill` write into it, and returns the file's bytes. */
export async function buildHdf5(fill: (file: H5File) => void): Promise<Uint8Array> {
  const { FS } = await h5Module();
  const name = `/slim-write-${randomUUID()}.h5`;
  try {
    const file = new (loaded().File)(name, 'w');
    try {
      fill(file);
    } finally {
      file.close();
    }
    return FS.readFile(name);
  } finally {
    try {
      FS.unlink(name);
    } catch {
      // never created: fill failed before the file existed
    }
  }
}

/** h5wasm once h5Module() has loaded it; every caller below runs inside withHdf5Bytes or buildHdf5. */
function loaded(): H5wasm {
  if (h5wasm === undefined) throw new Error('h5wasm used before h5Module() loaded it');
  return h5wasm;
}

export function isGroup(entity: unknown): entity is Group {
  return entity instanceof loaded().Group;
}

export function isDataset(entity: unknown): entity is Dataset {
  return entity instanceof loaded().Dataset;
}

/** An attribute as a JS value (strings decoded), or undefined when absent. */
export function attribute(holder: Group | Dataset, name: string): unknown {
  const attrs = holder.attrs;
  if (!(name in attrs)) return undefined;
  return attrs[name].json_value;
}
