/** The hook `readModel` calls: a Keras file becomes the same LoadedModel a model.json does. */
import * as fs from 'node:fs/promises';
import { InputError } from '../../errors.js';
import type { LoadedModel, ReadModelOptions } from '../topology.js';
import { readKerasBytes, sniffKerasFile } from './read.js';

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Reads `file` as a Keras model when its first bytes say it is one; undefined otherwise. */
export async function readKerasFileIfKeras(file: string, options: ReadModelOptions = {}): Promise<LoadedModel | undefined> {
  let head: Uint8Array;
  try {
    head = await readHead(file);
  } catch (error) {
    throw new InputError(`${file}: cannot read (${(error as Error).message})`, { cause: error });
  }
  if (sniffKerasFile(head) === undefined) return undefined;
  const { artifacts, droppedAugmentation } = await readKerasBytes(new Uint8Array(await fs.readFile(file)), file, options);
  if (droppedAugmentation.length > 0) {
    // stderr, once: these layers do nothing at inference; slim's own augmentation config replaces them in training.
    process.stderr.write(
      `${file}: left out augmentation layer(s) ${droppedAugmentation.join(', ')} (identity at inference); ` +
        "slim's own augmentation config offers random pad-crop (data.augment.pad) and horizontal flip " +
        '(data.augment.flip), no rotation, zoom, contrast or brightness\n',
    );
  }
  const weightSpecs = [...artifacts.weights].map(([name, w]) => ({ name, shape: [...w.shape], dtype: w.dtype }));
  return { ...artifacts, weightSpecs, path: file };
}
