/** What the Node and the browser entries both export: one list, so the two surfaces cannot drift apart. */
export * from './errors.js';
export { planPrune, applyPrune, count, type PlanOptions, type PruneResult, type CountOptions } from './prune.js';
export type {
  PrunePlan,
  PlanGroup,
  PlanWall,
  PlanRounding,
  RoundMode,
  KeptWholeGroup,
  BiasFold,
  UnfoldedConstant,
  ModelCount,
  LayerCount,
  Report,
} from './prune.js';
export { exportForInference, type ExportForInferenceOptions, type ExportResult, type ExportCheck, type QuantizeRule } from './export.js';
export type { ModelInput, ModelArtifacts } from './model.js';
export type { InMemoryData, TensorData, SparsityTrainOptions, SparsityTrainResult, BatchInfo, EpochRecord } from './train.js';
