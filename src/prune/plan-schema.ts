/**
 * The prune plan's shape (prune-plan.json, `slim prune --dry-run --json`, what makePlan returns),
 * as a zod schema: the types below come from it and `slim schema --output prune-plan` prints it.
 * Kept free of Node modules: the core that uses it runs in a page too.
 */
import * as z from 'zod';

/** The version of every JSON document slim writes; raised when a field changes meaning or goes away. */
export const SCHEMA_VERSION = 1;
export const schemaVersionField = z
  .literal(SCHEMA_VERSION)
  .describe("the version of this document's shape (`slim schema --output NAME` prints the schema of this version)");

export const importanceSchema = z.enum(['sum', 'mean', 'max']);

/**
 * How a group's kept count meets a multiple of roundTo: 'up' never keeps fewer channels than the
 * ratio or threshold selects; 'nearest' also rounds down (full SIMD tiles at about the same MACs).
 */
export const roundModeSchema = z.enum(['up', 'nearest']);

export const planRoundingSchema = z
  .strictObject({
    roundTo: z.number().int(),
    mode: roundModeSchema,
    moreChannels: z.number().int().describe('channels kept beyond what the ratio or threshold (and min-channels) selects'),
    moreGroups: z.number().int().describe('groups rounded up'),
    fewerChannels: z.number().int().describe('channels removed beyond what the ratio or threshold selects'),
    fewerGroups: z.number().int().describe('groups rounded down'),
  })
  .describe("what rounding the kept counts to a multiple of roundTo did; present with roundMode 'nearest'");

export const planGroupSchema = z.strictObject({
  id: z.number().int(),
  layers: z.array(z.string()).describe('every layer in the group: producers, tied layers, consumers'),
  bn: z.array(z.string()).describe('the BatchNormalization layers whose gamma scored the channels'),
  channels: z.number().int(),
  keep: z.array(z.number().int()).describe('sorted indices of the channels kept'),
  pruned: z.number().int(),
  notes: z
    .array(z.string())
    .optional()
    .describe('present when removing channels here changes the kept outputs even for dead channels (LayerNormalization)'),
});

export const planWallSchema = z.strictObject({ layer: z.string(), className: z.string(), reason: z.string() });

export const keptWholeGroupSchema = z.strictObject({
  id: z.number().int(),
  layers: z.array(z.string()),
  channels: z.number().int(),
  reason: z.string(),
});

export const prunePlanSchema = z.strictObject({
  schemaVersion: schemaVersionField,
  version: z.literal(1).describe('the plan format (applyPrune refuses any other)'),
  threshold: z.number(),
  ratio: z.number().nullable(),
  importance: importanceSchema,
  candidateChannels: z.number().int(),
  requestedChannels: z
    .number()
    .int()
    .describe('channels the ratio or threshold alone selects, before floors and rounding add some back (or nearest rounding removes more)'),
  prunedChannels: z.number().int(),
  achievedRatio: z.number().describe('prunedChannels / candidateChannels (0 without candidates)'),
  shortfall: z
    .array(z.string())
    .optional()
    .describe(
      'why fewer channels than requested are removed (min-channels floor, round-to; with roundMode nearest the same text says how many groups were rounded down); absent when all are',
    ),
  rounding: planRoundingSchema.optional(),
  groups: z.array(planGroupSchema),
  walls: z.array(planWallSchema),
  keptWhole: z
    .array(keptWholeGroupSchema)
    .optional()
    .describe('groups produced by a prunable layer that cannot be pruned (touch a wall, the model output, no BN gamma)'),
  nearZeroShare: z
    .number()
    .optional()
    .describe('share of candidate channels whose importance is near zero: what sparsity training produces'),
});
