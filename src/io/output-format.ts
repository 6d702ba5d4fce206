/**
 * What a model output path means: the one decision every command that writes a model makes
 * (pure: no file system). A trailing slash is a folder (a tfjs layers model); `.keras` is a
 * Keras 3 file and `.h5`/`.hdf5` a Keras 2 HDF5 file (a graph model is a folder too, named by --format); any other name is a layers folder unless
 * --format says otherwise. A --format that contradicts the name is refused in one line.
 */
import * as path from 'node:path';
import { InputError } from '../errors.js';

export type ModelFormat = 'layers' | 'graph' | 'keras' | 'h5';

/** The formats a name can imply (a graph model is named by --format only). */
type NamedFormat = 'layers' | 'keras' | 'h5';

/** The format a name implies, or undefined when it implies none. */
function impliedFormat(out: string): NamedFormat | undefined {
  if (/[/\\]$/.test(out)) return 'layers';
  const ext = path.extname(out).toLowerCase();
  if (ext === '.keras') return 'keras';
  if (ext === '.h5' || ext === '.hdf5') return 'h5';
  return undefined;
}

const WHAT: Record<ModelFormat, string> = {
  layers: 'a tfjs layers folder',
  graph: 'a tfjs graph-model folder',
  keras: 'a Keras 3 .keras file',
  h5: 'a Keras 2 .h5 file',
};

/** The format to write `out` in; `flag` is --format as given (undefined when absent). */
export function outputFormat<F extends ModelFormat>(out: string, flag: F | undefined, option = '--out'): F | NamedFormat {
  const implied = impliedFormat(out);
  if (flag === undefined) return implied ?? 'layers';
  // A trailing slash says "a folder", which a graph model is too.
  const folder = implied === 'layers' && flag === 'graph';
  if (implied !== undefined && implied !== flag && !folder) {
    const name = /[/\\]$/.test(out) ? 'a trailing slash (a folder)' : `the extension ${path.extname(out)}`;
    throw new InputError(`${option} ${out}: ${name} means ${WHAT[implied]}, but --format ${flag} asks for ${WHAT[flag]}`);
  }
  return flag;
}
