/**
 * Reading the Keras files slim writes with h5py, an HDF5 reader that is not slim's (Debian's
 * python3-h5py under /usr/bin/python3; .ci/run installs it). Tests skip with H5PY_SKIP without it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';
const h5pyMissing = spawnSync(PYTHON, ['-c', 'import h5py'], { encoding: 'utf8' }).status !== 0;
/** The skip reason of a test that needs h5py, or false when it is there. */
export const H5PY_SKIP: string | false = h5pyMissing ? 'h5py is not installed (apt-get install python3-h5py)' : false;

export interface KerasSummary {
  /** Class names of the model's top-level layers, in config order. */
  classes: string[];
  /** Names of those layers. */
  names: string[];
  /** The number of BatchNormalization weight datasets in the weights file. */
  bnWeights: number;
  kerasVersion: string | null;
}

/** Layers, BN weight count and keras_version of a Keras file as h5py reads it (.keras: its model.weights.h5 inside the zip). */
export function kerasSummary(file: string): KerasSummary {
  const script = `
import h5py, io, json, sys, zipfile
path = sys.argv[1]
if zipfile.is_zipfile(path):
    z = zipfile.ZipFile(path)
    config = json.loads(z.read('config.json'))
    meta = json.loads(z.read('metadata.json'))
    weights = h5py.File(io.BytesIO(z.read('model.weights.h5')), 'r')
    version = meta.get('keras_version')
else:
    weights = h5py.File(path, 'r')
    config = json.loads(weights.attrs['model_config'])
    version = weights.attrs.get('keras_version')
    version = version.decode() if isinstance(version, bytes) else version
layers = config['config']['layers']
count = []
def visit(name, obj):
    if isinstance(obj, h5py.Dataset) and ('batch_normalization' in name or 'moving' in name):
        count.append(name)
weights.visititems(visit)
print(json.dumps({'classes': [l['class_name'] for l in layers], 'names': [l['config']['name'] for l in layers], 'bnWeights': len(count), 'kerasVersion': version}))
`;
  const result = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as KerasSummary;
}
