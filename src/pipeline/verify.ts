/**
 * The last check before a model is written: load it the way stock `tf.loadLayersModel` would
 * (topology + weight manifest + weight bytes, from memory, on the current backend) and, when
 * cheap, run one predict on a zero batch. A model tfjs cannot load, or whose outputs are not
 * finite, is a problem slim found (ProblemError, exit 1) and nothing is written.
 */
import * as tf from '#tfjs';
import { ProblemError } from '../errors.js';
import { encodeWeights, type WeightQuantization } from '../model/io-manifest.js';
import type { ModelArtifacts } from '../model/topology.js';
import { countModel } from '../report/count.js';

/** Above this many multiply-accumulates per example the predict is skipped (loading is still checked). */
export const VERIFY_PREDICT_MAX_MACS = 2e8;

/** Throws ProblemError naming `target` when stock tfjs could not load `artifacts` (or it predicts NaN/Inf). */
export async function checkStockLoadable(
  artifacts: ModelArtifacts,
  target: string,
  quantization?: ReadonlyMap<string, WeightQuantization>,
): Promise<void> {
  // Commands that work on plain data (prune, export) may not have started a backend yet.
  await tf.ready();
  // Encoded as the file will be (quantized weights included), so tfjs decodes what a user loads.
  const encoded = encodeWeights(artifacts.weights, quantization);
  const specs = encoded.specs as tf.io.WeightsManifestEntry[];
  const data = encoded.data.buffer as ArrayBuffer;
  let model: tf.LayersModel;
  try {
    // A JSON round trip: tfjs reads what model.json will hold, not slim's in-memory objects.
    const modelTopology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as tf.io.ModelJSON['modelTopology'];
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: specs, weightData: data }));
  } catch (error) {
    throw new ProblemError(
      `${target}: stock tfjs could not load the model slim was about to write (${oneLine(error)}); nothing was written`,
      { cause: error },
    );
  }
  try {
    if (countModel(artifacts.modelTopology).macs <= VERIFY_PREDICT_MAX_MACS) predictsFinite(model, target);
  } finally {
    model.dispose();
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].slice(0, 300);
}

/** One predict on a batch of zeros (shapes with unknown dims are skipped); every output must be finite. */
function predictsFinite(model: tf.LayersModel, target: string): void {
  const shapes = model.inputs.map((input) => [1, ...input.shape.slice(1)]);
  if (shapes.some((shape) => shape.some((d) => d === null))) return;
  tf.tidy(() => {
    const inputs = model.inputs.map((input, i) => tf.zeros(shapes[i] as number[], input.dtype));
    let outputs: tf.Tensor | tf.Tensor[];
    try {
      outputs = model.predict(inputs.length === 1 ? inputs[0] : inputs);
    } catch (error) {
      throw new ProblemError(
        `${target}: the model slim was about to write fails to predict in tfjs (${oneLine(error)}); nothing was written`,
        { cause: error },
      );
    }
    for (const output of Array.isArray(outputs) ? outputs : [outputs]) {
      if (tf.all(tf.isFinite(output)).dataSync()[0] !== 1) {
        throw new ProblemError(`${target}: the model slim was about to write outputs NaN or Inf on a zero input; nothing was written`);
      }
    }
  });
}
