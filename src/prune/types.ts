/**
 * The contract of a per-layer handler (Torch-Pruning's "pruner box" idea, keyed by Keras class name).
 *
 * A handler always knows how to count a layer. It may also have a channel facet, which says
 * how the layer's channels (the last axis, channels-last) relate between input and output and
 * how to slice its weights; a layer without one is a WALL for pruning.
 */
import type { LayerConfig, Shape } from '../model/graph.js';
import type { Weight } from '../model/topology.js';

/** One call of a layer, with the shapes the graph inferred (batch dim null). */
export interface LayerCall {
  name: string;
  className: string;
  config: LayerConfig;
  inputShapes: Shape[];
  outputShapes: Shape[];
}

/** Parameters (split by trainability) and multiply-accumulates of one layer call. */
export interface LayerCost {
  trainable: number;
  nonTrainable: number;
  macs: number;
}

/** A layer's weights by role: 'kernel', 'bias', 'gamma', 'beta', 'moving_mean', ... */
export type RoleWeights = Map<string, Weight>;

/** How many channels a group had and has after pruning (for config rewrites). */
export interface ChannelChange {
  oldChannels: number;
  newChannels: number;
}

export interface ChannelFacet {
  /**
   * free:   output channels are the layer's own (Conv2D filters, Dense units); it reads its input's channels.
   * tied:   output channel i is input channel i (BN, activations, pooling, Flatten with a position repeat).
   * source: a model input; its channels are fixed.
   */
  role: 'free' | 'tied' | 'source';
  /** Null when this call can take part in pruning, else why it is a wall (config-dependent cases). */
  wallReason?(call: LayerCall): string | null;
  /** Tied only: how many positions each channel occupies in the output per input position (Flatten: H·W). */
  expand?(call: LayerCall): number;
  /** Tied only: the weight role whose |value| per channel is the importance (BN: 'gamma'), or null. */
  importanceRole?(call: LayerCall): string | null;
  /** Tied with per-channel weights (BN): slice them to the kept channels. Requires an unexpanded layout. */
  sliceChannels?(weights: RoleWeights, keep: number[], call: LayerCall): RoleWeights;
  /** Free only: keep these output channels (kernel out-axis, bias). */
  sliceOutputs?(weights: RoleWeights, keep: number[], call: LayerCall): RoleWeights;
  /** Free only: keep these input rows (already expanded for Flatten layouts). */
  sliceInputs?(weights: RoleWeights, keepRows: number[], call: LayerCall): RoleWeights;
  /**
   * Free only: the bias change that reproduces a constant input (`rowValues`, one per input row,
   * already expanded; 0 for rows that stay), or a reason string when that is not exact.
   */
  foldConstantInput?(weights: RoleWeights, rowValues: Float64Array, call: LayerCall): Float64Array | string;
  /** Free only: may read an input whose channels are spread over positions (Dense after Flatten). */
  acceptsExpandedInput?: boolean;
  /**
   * Tied only: per-channel values this layer outputs when each input channel is the constant
   * in `values` (NaN = not constant). Lets applyPlan fold the constant output of removed channels
   * (BN with γ = 0 outputs β) into the next layer's bias. Absent = output never constant.
   */
  mapConstant?(values: Float64Array, weights: RoleWeights, call: LayerCall): Float64Array;
  /** New config after the channel count of its output group changed (filters/units/target_shape). */
  rewriteConfig?(config: LayerConfig, change: ChannelChange, call: LayerCall): LayerConfig;
}

export interface LayerHandler {
  className: string;
  /** Params and MACs from config + shapes only (no weights). */
  count(call: LayerCall): LayerCost;
  channels?: ChannelFacet;
}
