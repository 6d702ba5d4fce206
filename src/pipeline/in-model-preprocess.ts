/**
 * Preprocessing that lives inside the model: Keras models often start with Rescaling(1/255) or a
 * Normalization layer. slim's own default preprocessing (scale 1/255) would then scale the pixels
 * twice, silently. This module finds such input layers; model-metadata.ts resolvePreprocess asks
 * it when the model records no preprocessing of slim's: the default becomes the identity (said on
 * stderr), and a config that sets one is warned about (applied before the model's own).
 * It also warns when float images already in [0, 1] meet the default 1/255 scale.
 */
import * as tf from '#tfjs';
import { DEFAULT_PREPROCESS } from '../data/formats/shared-fields.js';
import type { Preprocess } from '../data/dataset.js';
import type { Output } from '../io/output.js';

/** Layers that scale or normalise their input (what slim's preprocessing would otherwise do). */
const SCALING_CLASSES = new Set(['Rescaling', 'Normalization']);

/**
 * Layers that may stand between the input and a scaling layer without changing what scaling
 * the pixels need (shape-only or augmentation layers, inactive at inference).
 */
const PASS_THROUGH = /^(InputLayer|Resizing|CenterCrop|Random\w+)$/;

/** The identity: pixels reach the model as stored. */
export const IDENTITY_PREPROCESS: Preprocess = { scale: 1, mean: [0], std: [1] };

function describeLayer(layer: tf.layers.Layer): string {
  const config = layer.getConfig();
  if (layer.getClassName() === 'Rescaling') {
    const offset = typeof config['offset'] === 'number' && config['offset'] !== 0 ? ` + ${config['offset']}` : '';
    return `${layer.name} (Rescaling x${JSON.stringify(config['scale'])}${offset})`;
  }
  return `${layer.name} (${layer.getClassName()})`;
}

/** The leading layers of `model` (entering nested models) that scale or normalise its input. */
export function inputScalingLayers(model: tf.LayersModel): string[] {
  const found: string[] = [];
  const walk = (m: tf.LayersModel): boolean => {
    for (const layer of m.layers) {
      if (layer instanceof tf.LayersModel) {
        if (!walk(layer)) return false;
        continue;
      }
      const className = layer.getClassName();
      if (SCALING_CLASSES.has(className)) found.push(describeLayer(layer));
      else if (!PASS_THROUGH.test(className)) return false;
    }
    return true;
  };
  walk(model);
  return found;
}

function isDefault(p: Preprocess): boolean {
  return p.scale === DEFAULT_PREPROCESS.scale && p.mean.every((m) => m === 0) && p.std.every((s) => s === 1);
}

/**
 * The preprocessing for a model that records none of slim's: the identity when the model scales
 * its input itself and the config leaves the default (said once), else the configured one
 * (with a warning when the model scales too: the pixels are then scaled twice).
 */
export function preprocessBesideModel(configured: Preprocess, model: tf.LayersModel, out: Output): Preprocess {
  const layers = inputScalingLayers(model);
  if (layers.length === 0) return configured;
  if (isDefault(configured)) {
    out.info(`preprocess: identity (scale 1): the model scales its input itself (${layers.join(', ')})`);
    return IDENTITY_PREPROCESS;
  }
  out.warn(
    `config data.preprocess (scale ${configured.scale}, mean [${configured.mean.join(', ')}], std [${configured.std.join(', ')}]) ` +
      `is applied before the model's own ${layers.join(', ')}: the input is scaled twice`,
  );
  return configured;
}

/** Float images whose values all lie in [0, 1]: the default 1/255 scale would squash them to <= 0.004. */
export function warnImplausibleScale(preprocess: Preprocess, floatRange: [number, number] | undefined, out: Output): void {
  if (floatRange === undefined || preprocess.scale !== DEFAULT_PREPROCESS.scale) return;
  const [min, max] = floatRange;
  if (min >= 0 && max <= 1) {
    out.warn(
      `float images already lie in [${min}, ${max}] and data.preprocess.scale is 1/255, which maps them to [0, ${(max / 255).toPrecision(2)}]; ` +
        'set data.preprocess.scale to 1 if they are already scaled',
    );
  }
}
