/**
 * The contract of a per-layer handler (Torch-Pruning's "pruner box" idea, keyed by Keras class name).
 *
 * src/layers is the bottom of slim's import graph (only errors.ts is below it). The small pure
 * types the rest of slim shares with the handlers (Shape, LayerConfig, Weight) live here and
 * model/ re-exports them.
 *
 * A handler always knows how to count a layer. It may also have a channel facet, which says
 * how the layer's channels (the last axis, channels-last) relate between input and output and
 * how to slice its weights; a layer without one is a WALL for pruning. The facet is a union
 * discriminated by `role`, so the compiler checks that a handler has every member its role needs.
 *
 * Slicing works on "rows": indices into the last axis of a tensor. A row of a plain tensor is a
 * channel; after Flatten a channel occupies several rows, after a DepthwiseConv2D with
 * depth_multiplier m it occupies m consecutive rows, after Concatenate it sits at an offset.
 * The channel analysis (src/prune) turns kept channels into kept rows for each layer.
 */

/** A tensor shape, batch dimension first (null when unknown). */
export type Shape = (number | null)[];

// Keras configs are open-ended JSON; each handler narrows it to its own typed config.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LayerConfig = Record<string, any>;

export type WeightDType = 'float32' | 'int32';

/** One weight tensor, dequantized: row-major data of `shape`. */
export interface Weight {
  shape: number[];
  dtype: WeightDType;
  data: Float32Array | Int32Array;
}

/** One call of a layer, with the shapes the graph inferred (batch dim null). */
export interface LayerCall<C = LayerConfig> {
  name: string;
  className: string;
  config: C;
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

/** One weight a layer call must have: its role (the last part of its name) and shape. */
export interface WeightSpec {
  role: string;
  shape: number[];
  trainable: boolean;
}

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

/** Members every role but 'source' may have. */
interface FacetBase<C> {
  /** Null when this call can take part in pruning, else why it is a wall (config-dependent cases). */
  wallReason?(call: LayerCall<C>): string | null;
}

/** A model input: its channels are fixed. */
export interface SourceFacet {
  role: 'source';
}

/** Output channels are the layer's own (Conv2D filters, Dense units); it reads its input's channels. */
export interface FreeFacet<C> extends FacetBase<C> {
  role: 'free';
  /** Keep these output channels (kernel out-axis, bias). */
  sliceOutputs(weights: RoleWeights, keep: number[], call: LayerCall<C>): RoleWeights;
  /** Keep these input rows. */
  sliceInputs(weights: RoleWeights, keepRows: number[], call: LayerCall<C>): RoleWeights;
  /** New config after the number of output channels changed (filters / units). */
  rewriteConfig(config: C, change: ChannelChange, call: LayerCall<C>): C;
  /**
   * Why the layer's own output channels cannot be pruned (a fused softmax normalises over them),
   * or null. Its input channels stay prunable. Absent = always prunable.
   */
  outputWall?(call: LayerCall<C>): string | null;
  /**
   * The bias change that reproduces a constant input (`rowValues`, one per input row; 0 for rows
   * that stay), or a reason string when that is not exact. Absent = it cannot absorb a constant.
   */
  foldConstantInput?(weights: RoleWeights, rowValues: Float64Array, call: LayerCall<C>): Float64Array | string;
  /** May read an input whose channels are spread over positions (Dense after Flatten). */
  acceptsExpandedInput?: boolean;
}

/** Scoring channels needs slicing them: a tied layer with an importance role must slice its per-channel weights. */
type TiedImportance<C> =
  | { importanceRole?: undefined }
  | {
      /** The weight role whose |value| per row is the importance (BN: 'gamma'), or null for this call. */
      importanceRole(call: LayerCall<C>): string | null;
      sliceChannels(weights: RoleWeights, rows: KeptRows, call: LayerCall<C>): RoleWeights;
    };

/**
 * One input; output channels derived from the input's (BN, activations, pooling, Flatten,
 * DepthwiseConv2D). Every member is optional: a weightless, shape-keeping layer needs none.
 */
export type TiedFacet<C> = FacetBase<C> &
  TiedImportance<C> & {
    role: 'tied';
    /** How many positions each input row occupies in the output (Flatten: H·W). Absent = 1. */
    expand?(call: LayerCall<C>): number;
    /** Output rows per input row, consecutive (DepthwiseConv2D: depth_multiplier). Absent = 1. */
    multiplier?(call: LayerCall<C>): number;
    /** Per-channel weights (BN, DepthwiseConv2D, PReLU…): slice them to the kept rows. */
    sliceChannels?(weights: RoleWeights, rows: KeptRows, call: LayerCall<C>): RoleWeights;
    /**
     * Per-row values this layer outputs when each input row is the constant in `values` (NaN = not
     * constant). Lets applyPlan carry constants (BN with γ = 0 outputs β) to the layer that folds
     * them into its bias. Absent = output never constant.
     */
    mapConstant?(values: Float64Array, weights: RoleWeights, call: LayerCall<C>): Float64Array;
    /**
     * Per output row, the layer's mean output over the data its statistics came from, whatever the
     * input (BN: β). applyPlan replaces each REMOVED row by this value, so a removed channel's
     * output is folded even when it is not exactly constant. Absent = not known.
     */
    meanOutput?(weights: RoleWeights, call: LayerCall<C>): Float64Array;
    /**
     * Set when removing rows changes the values of the rows that stay (LayerNormalization
     * renormalises over the kept channels), so pruning through it is not output-preserving.
     */
    inexact?(call: LayerCall<C>): string | null;
    /**
     * Where a bias-less producer's fold can go instead. Adding `sign·Δ` to this per-row weight gives
     * the same output as the input shifted by +Δ (BN: moving_mean with sign −1, since
     * BN(x + Δ; μ) = BN(x; μ − Δ)). Absent = it cannot absorb a shift.
     */
    absorbsInputShift?: { role: string; sign: 1 | -1 };
    /** New config after the width of its output's last axis changed (Reshape's target_shape). */
    rewriteConfig?(config: C, change: ChannelChange, call: LayerCall<C>): C;
  };

/** Several inputs, no weights: elementwise ('tied': Add, Multiply…) or laid side by side ('concat'). */
export interface MergeFacet<C> extends FacetBase<C> {
  role: 'merge';
  combine: 'tied' | 'concat';
  /** Per-row output for constant inputs (NaN = not constant). */
  mergeConstants(inputs: Float64Array[], call: LayerCall<C>): Float64Array;
}

/** How a layer's channels take part in pruning; a handler without one is a wall. */
export type ChannelFacet<C = LayerConfig> = SourceFacet | FreeFacet<C> | TiedFacet<C> | MergeFacet<C>;

/** The per-channel affine map y = scale·x + shift a layer computes at inference (BN with its moving stats). */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

/**
 * How a layer absorbs a per-output-channel affine map applied after it (BatchNorm folding at export):
 * kernel values of output channel c are multiplied by scale[c] and the bias becomes bias·scale + shift.
 */
export interface AffineFoldFacet<C = LayerConfig> {
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
  enableBias(config: C): C;
  /** Why this call cannot take the fold (a non-linear fused activation, channels_first…), or null. */
  refuse?(call: LayerCall<C>): string | null;
}

/** The handler of one Keras class, typed by that class's config `C`. */
export interface LayerHandler<C = LayerConfig> {
  className: string;
  /** Params and MACs from config + shapes only (no weights). */
  count(call: LayerCall<C>): LayerCost;
  /**
   * What is wrong with this config, naming the field (`units: must be a positive integer, got -3`),
   * or null. Config only, checked before any shape is inferred, so tfjs never sees a value it
   * would reject (or allocate from) later. Absent = any config tfjs accepts.
   */
  validateConfig?(config: C): string | null;
  /** The rank (batch dim included) the layer's input must have, when fixed (Conv2D: 4). */
  inputRank?: number;
  /**
   * The weights the layer must have for this call, in tfjs's order, from config + input shapes.
   * Absent for weightless layers.
   */
  weights?(call: LayerCall<C>): WeightSpec[];
  /**
   * Output shapes of one call (batch dim first, null when unknown) from its config and input
   * shapes, without any tfjs object. Absent, or undefined for a config it does not cover
   * (channels_first, keepdims…): the graph asks tfjs's computeOutputShape instead.
   */
  outputShapes?(config: C, inputShapes: Shape[]): Shape[] | undefined;
  channels?: ChannelFacet<C>;
  /** Present when a per-channel affine layer right after this one can be folded into it (export). */
  foldsAffine?: AffineFoldFacet<C>;
  /**
   * Present for layers that are a per-channel affine map at inference (BatchNormalization):
   * that map from the layer's weights, or why this call is not one (e.g. it normalises another axis).
   */
  inferenceAffine?(weights: RoleWeights, call: LayerCall<C>): ChannelAffine | string;
  /** Present for layers that pass their input through unchanged at inference (Dropout, noise, a linear Activation); export drops them. */
  inferenceIdentity?(call: LayerCall<C>): boolean;
  /**
   * Present for weightless activation layers: the tfjs activation name this call computes
   * (Activation('relu') → 'relu', ReLU with max_value 6 → 'relu6'), or null when no fused
   * `activation` setting equals it (a LeakyReLU slope, a ReLU threshold…).
   */
  asActivation?(call: LayerCall<C>): string | null;
  /**
   * Present for layers with a fused `activation` setting (Conv2D, DepthwiseConv2D, SeparableConv2D,
   * Dense): null when an activation layer right after this call may move into that setting (its own
   * activation is linear), else why not. Export uses it to run conv + bias + activation as one kernel.
   */
  fusesActivation?(call: LayerCall<C>): string | null;
}

// ---------------------------------------------------------------------------------------------
// Keras config fields several layer families share.

/** A fused activation: a name, or a serialised activation object. */
export type ActivationConfig = string | { class_name: string } | null;

export type DataFormat = 'channels_last' | 'channels_first' | null;

/** Fields every Keras layer config may carry. */
export interface BaseLayerConfig {
  name?: string;
  trainable?: boolean;
  dtype?: string;
}
