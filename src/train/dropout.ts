/**
 * Dropout layers whose random mask the training loop reseeds every step (tfjs otherwise draws
 * from Math.random); shared by the loop and its replica workers so both find the same layers.
 */
import * as tf from '#tfjs';

const DROPOUT_CLASSES = new Set(['Dropout', 'SpatialDropout1D']);

/** tfjs's Dropout keeps its seed in a field its typings don't expose. */
interface SeedHolder {
  seed?: number;
}

/** Dropout layers of a model in layer order, descending into nested models. */
export function dropoutLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) out.push(...dropoutLayers(layer));
    else if (DROPOUT_CLASSES.has(layer.getClassName())) out.push(layer);
  }
  return out;
}

export function getDropoutSeed(layer: tf.layers.Layer): number | undefined {
  return (layer as unknown as SeedHolder).seed;
}

export function setDropoutSeed(layer: tf.layers.Layer, seed: number | undefined): void {
  (layer as unknown as SeedHolder).seed = seed;
}
