/**
 * The contract of a per-layer handler (Torch-Pruning's "pruner box" idea, keyed by Keras class name).
 *
 * A handler always knows how to count a layer. It may also have a channel facet, which says
 * how the layer's channels (the last axis, channels-last) relate between input and output and
 * how to slice its weights; a layer without one is a WALL for pruning.
 *
 * Slicing works on "rows": indices into the last axis of a tensor. A row of a plain tensor is a
 * channel; after Flatten a channel occupies several rows, after a DepthwiseConv2D with
 * depth_multiplier m it occupies m consecutive rows, after Concatenate it sits at an offset.
 * The channel analysis (groups.ts) turns kept channels into kept rows for each layer.
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

/** Width of the layer's output last axis before and after pruning (for config rewrites). */
export interface ChannelChange {
  oldChannels: number;
  newChannels: number;
}

/** Rows (last-axis indices) kept on a tied layer's input and output. */
export interface KeptRows {
  input: number[];
  output: number[];
}

export interface ChannelFacet {
  /**
   * free:   output channels are the layer's own (Conv2D filters, Dense units); it reads its input's channels.
   * tied:   output channels are derived from input channels (BN, activations, pooling, Flatten, Add, Concatenate,
   *         DepthwiseConv2D).
   * source: a model input; its channels are fixed.
   */
  role: 'free' | 'tied' | 'source';
  /** Null when this call can take part in pruning, else why it is a wall (config-dependent cases). */
  wallReason?(call: LayerCall): string | null;
  /**
   * Tied, several inputs: 'tied' = elementwise (all inputs share channels: Add, Multiply…),
   * 'concat' = the output is the inputs laid side by side on the last axis.
   */
  merge?: 'tied' | 'concat';
  /** Tied only: how many positions each input row occupies in the output (Flatten: H·W). */
  expand?(call: LayerCall): number;
  /** Tied only: output rows per input row, consecutive (DepthwiseConv2D: depth_multiplier). */
  multiplier?(call: LayerCall): number;
  /** Tied only: the weight role whose |value| per row is the importance (BN: 'gamma'), or null. */
  importanceRole?(call: LayerCall): string | null;
  /** Tied with per-channel weights (BN, DepthwiseConv2D, PReLU…): slice them to the kept rows. */
  sliceChannels?(weights: RoleWeights, rows: KeptRows, call: LayerCall): RoleWeights;
  /**
   * Free only: why the layer's own output channels cannot be pruned (a fused softmax normalises
   * over them), or null. Its input channels stay prunable.
   */
  outputWall?(call: LayerCall): string | null;
  /** Free only: keep these output channels (kernel out-axis, bias). */
  sliceOutputs?(weights: RoleWeights, keep: number[], call: LayerCall): RoleWeights;
  /** Free only: keep these input rows. */
  sliceInputs?(weights: RoleWeights, keepRows: number[], call: LayerCall): RoleWeights;
  /**
   * Free only: the bias change that reproduces a constant input (`rowValues`, one per input row;
   * 0 for rows that stay), or a reason string when that is not exact.
   */
  foldConstantInput?(weights: RoleWeights, rowValues: Float64Array, call: LayerCall): Float64Array | string;
  /** Free only: may read an input whose channels are spread over positions (Dense after Flatten). */
  acceptsExpandedInput?: boolean;
  /**
   * Tied, one input: per-row values this layer outputs when each input row is the constant in
   * `values` (NaN = not constant). Lets applyPlan fold the constant output of removed channels
   * (BN with γ = 0 outputs β) into the next layer's bias. Absent = output never constant.
   */
  mapConstant?(values: Float64Array, weights: RoleWeights, call: LayerCall): Float64Array;
  /** Tied merge: per-row output for constant inputs (NaN = not constant). */
  mergeConstants?(inputs: Float64Array[], call: LayerCall): Float64Array;
  /**
   * Tied only: set when removing rows changes the values of the rows that stay (LayerNormalization
   * renormalises over the kept channels), so pruning through it is not output-preserving.
   */
  inexact?(call: LayerCall): string | null;
  /**
   * Tied, one input: where a bias-less producer's fold can go instead. Adding `sign·Δ` to this
   * per-row weight gives the same output as the input shifted by +Δ (BN: moving_mean with sign −1,
   * since BN(x + Δ; μ) = BN(x; μ − Δ)). Absent = it cannot absorb a shift.
   */
  absorbsInputShift?: { role: string; sign: 1 | -1 };
  /** New config after the width of its output's last axis changed (filters/units/target_shape). */
  rewriteConfig?(config: LayerConfig, change: ChannelChange, call: LayerCall): LayerConfig;
}

/** The per-channel affine map y = scale·x + shift a layer computes at inference (BN with its moving stats). */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

/**
 * How a layer absorbs a per-output-channel affine map applied after it (BatchNorm folding at export):
 * kernel values of output channel c are multiplied by scale[c] and the bias becomes bias·scale + shift.
 */
export interface AffineFoldFacet {
  /** Weight role of the kernel that produces the output channels ('kernel', 'depthwise_kernel', 'pointwise_kernel'). */
  kernelRole: string;
  /**
   * Consecutive kernel axes (negative, from the end) whose row-major index is the output channel:
   * Conv2D [kh,kw,in,out] → [-1]; DepthwiseConv2D [kh,kw,in,m] → [-2, -1] (channel c·m+j);
   * Conv2DTranspose [kh,kw,out,in] → [-2].
   */
  kernelOutputAxes: number[];
  /** Weight role of the per-output-channel bias (shape [out]). */
  biasRole: string;
  /** The config once the layer uses a bias (it may have had none). */
  enableBias(config: LayerConfig): LayerConfig;
  /** Why this call cannot take the fold (a non-linear fused activation, channels_first…), or null. */
  refuse?(call: LayerCall): string | null;
}

export interface LayerHandler {
  className: string;
  /** Params and MACs from config + shapes only (no weights). */
  count(call: LayerCall): LayerCost;
  /**
   * Output shapes of one call (batch dim first, null when unknown) from its config and input
   * shapes, without any tfjs object. Absent, or undefined for a config it does not cover
   * (channels_first, keepdims…): the graph asks tfjs's computeOutputShape instead.
   */
  outputShapes?(config: LayerConfig, inputShapes: Shape[]): Shape[] | undefined;
  channels?: ChannelFacet;
  /** Present when a per-channel affine layer right after this one can be folded into it (export). */
  foldsAffine?: AffineFoldFacet;
  /**
   * Present for layers that are a per-channel affine map at inference (BatchNormalization):
   * that map from the layer's weights, or why this call is not one (e.g. it normalises another axis).
   */
  inferenceAffine?(weights: RoleWeights, call: LayerCall): ChannelAffine | string;
}
