/**
 * HDF5 through h5wasm, kept in memory: files are copied into the wasm module's in-memory file
 * system, opened there, and read back as bytes, so slim never hands h5wasm a host path.
 */
import { randomUUID } from 'node:crypto';
import h5wasm from 'h5wasm';
import type { Dataset, File as H5File, Group } from 'h5wasm';
import { InputError } from '../../errors.js';

export type { Dataset, Group, H5File };

let module: Awaited<typeof h5wasm.ready> | undefined;

async function h5Module(): Promise<Awaited<typeof h5wasm.ready>> {
  module ??= await h5wasm.ready;
  return module;
}

/**
 * Opens a file of the wasm file system read-only, or undefined when HDF5 cannot open it. The
 * library prints its own multi-line diagnostics on stderr while failing; slim reports one line
 * instead, so stderr is muted for the (synchronous) open only.
 */
function openQuietly(name: string): H5File | undefined {
  const stderr = process.stderr as { write: unknown };
  const own = Object.getOwnPropertyDescriptor(stderr, 'write');
  stderr.write = (): boolean => true;
  let file: H5File;
  try {
    file = new h5wasm.File(name, 'r');
  } finally {
    // Normally `write` comes from the prototype: dropping the own property restores it.
    if (own === undefined) delete (stderr as { write?: unknown }).write;
    else Object.defineProperty(stderr, 'write', own);
  }
  return file.file_id >= 0 ? file : undefined;
}

/** Opens HDF5 bytes read-only, runs `use`, and always closes and forgets the file; `where` names the bytes in errors. */
export async function withHdf5Bytes<T>(bytes: Uint8Array, where: string, use: (file: H5File) => T): Promise<T> {
  const { FS } = await h5Module();
  const name = `/slim-read-${randomUUID()}.h5`;
  FS.writeFile(name, bytes);
  let file: H5File | undefined;
  try {
    file = openQuietly(name);
    if (file === undefined) throw new InputError(`${where}: starts like an HDF5 file but HDF5 cannot open it (damaged or not HDF5)`);
    return use(file);
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
    const file = new h5wasm.File(name, 'w');
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

export function isGroup(entity: unknown): entity is Group {
  return entity instanceof h5wasm.Group;
}

export function isDataset(entity: unknown): entity is Dataset {
  return entity instanceof h5wasm.Dataset;
}

/** An attribute as a JS value (strings decoded), or undefined when absent. */
export function attribute(holder: Group | Dataset, name: string): unknown {
  const attrs = holder.attrs;
  if (!(name in attrs)) return undefined;
  return attrs[name].json_value;
}
