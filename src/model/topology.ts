/**
 * Plain-data view of a tfjs layers model, as stored on disk.
 * The pruning core works on these values only: topology JSON plus typed arrays.
 */

/** One layer entry of a Keras/tfjs topology: `{class_name, config, name?, inbound_nodes?}`. */
export interface LayerJson {
  class_name: string;
  // Keras configs are open-ended; handlers read the fields they know.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  config: Record<string, any>;
  name?: string;
  // Functional models: [[ [layerName, nodeIndex, tensorIndex, kwargs], ... ], ...] (one entry per call).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  inbound_nodes?: any[];
}

/**
 * The model topology (`modelTopology` in model.json, unwrapped from `model_config` when present):
 * `{class_name: 'Sequential' | 'Model' | 'Functional', config: {...}}`.
 */
export interface ModelJson {
  class_name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  config: Record<string, any>;
  keras_version?: string;
  backend?: string;
}

import type { Weight } from '../layers/types.js';
import type { WeightQuantization } from './io-manifest.js';

// The weight types are shared with the per-layer handlers, whose module imports nothing from slim.
export type { Weight, WeightDType } from '../layers/types.js';

/** Weights by manifest name (e.g. `conv2d_1/kernel`); iteration order is the manifest's order. */
export type WeightMap = Map<string, Weight>;

/** A whole model in memory: topology plus weights plus the metadata model.json carries along. */
export interface ModelArtifacts {
  modelTopology: ModelJson;
  weights: WeightMap;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  trainingConfig?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  userDefinedMetadata?: Record<string, any>;
}

/** A weight as the manifest describes it (dtype before slim's bool→int32 widening). */
export interface WeightSpecSummary {
  name: string;
  shape: number[];
  dtype: string;
  /** How the file stored it, when quantized (the weight itself is read back dequantized). */
  quantization?: WeightQuantization;
}

export type LoadedModel = ModelArtifacts & {
  /** Every weight in manifest order; available even when weights were not read. */
  weightSpecs: WeightSpecSummary[];
  /** Absolute path of the model.json that was read. */
  path: string;
};

export interface ReadModelOptions {
  /** Read the weight shards (default true). With false only model.json is read and `weights` is empty. */
  weights?: boolean;
  /**
   * Check the model (src/model/validate.ts) before returning it (default true). Only tests of the
   * raw reader turn it off, to decode weights that belong to no layer; every command validates.
   */
  validate?: boolean;
}
