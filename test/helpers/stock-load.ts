/**
 * Loads a model from disk through stock tfjs code paths only, so tests prove that what slim
 * writes is what tfjs itself accepts (not merely what slim's own reader accepts).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';

/** A host no request can reach: the fetchFunc below answers every request from disk. */
const DISK_ORIGIN = 'http://slim-disk.invalid';

function toDiskUrl(filePath: string): string {
  return DISK_ORIGIN + pathToFileURL(path.resolve(filePath)).pathname;
}

async function fetchFromDisk(input: RequestInfo | URL): Promise<Response> {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const filePath = fileURLToPath('file://' + url.pathname);
  try {
    const bytes = await fs.readFile(filePath);
    return new Response(bytes, { status: 200 });
  } catch {
    return new Response(null, { status: 404, statusText: `not found: ${filePath}` });
  }
}

/**
 * `tf.loadLayersModel(url, {fetchFunc})`: tfjs's http IOHandler resolves the manifest's shard paths,
 * fetches them, and decodes the weights exactly as it does in a browser.
 */
export async function loadWithStockTfjs(modelJsonPath: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(toDiskUrl(modelJsonPath), { fetchFunc: fetchFromDisk });
}

/**
 * Like `tf.io.browserFiles([model.json, ...shards])` (which needs the browser's FileReader):
 * tfjs's own `getModelArtifactsForJSON` turns model.json + shard buffers into artifacts,
 * and `tf.loadLayersModel` decodes them.
 */
export async function loadWithStockTfjsFiles(modelJsonPath: string): Promise<tf.LayersModel> {
  const modelDir = path.dirname(path.resolve(modelJsonPath));
  const modelJson = JSON.parse(await fs.readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const shard of group.paths) {
            const bytes = await fs.readFile(path.join(modelDir, shard));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
          }
        }
        return [specs, buffers];
      }),
  };
  return tf.loadLayersModel(handler);
}

/** `tf.loadGraphModel(url, {fetchFunc})`: a graph-model folder read the way a browser would fetch it. */
export async function loadGraphWithStockTfjs(modelJsonPath: string): Promise<tf.GraphModel> {
  return tf.loadGraphModel(toDiskUrl(modelJsonPath), { fetchFunc: fetchFromDisk });
}
