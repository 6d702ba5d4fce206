/**
 * Size estimates made before anything big is allocated: a built-in model's weights and layer
 * outputs, and a decoded image split. What cannot fit is refused as bad input (one line naming the
 * config path to change) instead of failing inside tfjs or V8 with "Invalid typed array length".
 *
 * The bounds are what the machine can hold, not a taste for small models: every tensor (and every
 * in-memory split) lives in one typed array indexed with 32-bit ints (the bound model files are
 * held to, src/model/validate.ts), and the total must fit in RAM.
 */
import * as os from 'node:os';
import { InputError } from '../errors.js';
import type { VggItem } from '../model/architectures.js';
import { MAX_TENSOR_ELEMENTS } from '../model/validate.js';
import type { TargetShape } from '../data/transform.js';

/** float32 weights while training: the weights, their gradients and SGD's momentum. */
const TRAINING_COPIES = 3;
const FLOAT32_BYTES = 4;

/** The bounds a plan is checked against (tests pass small ones). */
export interface MemoryBounds {
  /** Most values one tensor may hold; an in-memory split (one typed array, sliced into batches) too. */
  maxValues: number;
  /** Bytes the machine has; a plan needing more cannot run here. */
  memoryBytes: number;
}

export function machineBounds(): MemoryBounds {
  return { maxValues: MAX_TENSOR_ELEMENTS, memoryBytes: os.totalmem() };
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** What a built-in VGG is made of, as the config gives it. */
export interface VggPlan {
  cfg: readonly VggItem[];
  head: 'gap' | 'flatten';
  hidden: readonly number[];
  inputShape: readonly [number, number, number];
  numClasses: number;
}

/** One weight or activation of the plan, with the config path that sizes it. */
interface Sized {
  values: number;
  what: string;
  configPath: string;
}

/** The largest tensors of a built VGG per layer (kernel and one example's output) and its parameter count. */
function vggTensors(plan: VggPlan): { tensors: Sized[]; params: number } {
  const [height, width, inputChannels] = plan.inputShape;
  const tensors: Sized[] = [];
  let [h, w, channels] = [height, width, inputChannels];
  let params = 0;
  plan.cfg.forEach((item, i) => {
    const configPath = `model.cfg[${i}]`;
    if (item === 'M' || item === 'A') {
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      return;
    }
    const kernel = 9 * channels * item;
    tensors.push({
      values: kernel,
      what: `the 3x3 conv of ${item} filters on ${channels} channel(s) has a kernel of ${kernel} values`,
      configPath,
    });
    tensors.push({ values: h * w * item, what: `its output for one ${h}x${w} image has ${h * w * item} values`, configPath });
    params += kernel + 4 * item;
    channels = item;
  });
  let features = plan.head === 'gap' ? channels : h * w * channels;
  const dense = [...plan.hidden.map((units, i) => ({ units, configPath: `model.hidden[${i}]` }))];
  dense.push({ units: plan.numClasses, configPath: plan.head === 'flatten' ? 'model.head' : 'model.cfg' });
  for (const { units, configPath } of dense) {
    const kernel = features * units;
    tensors.push({
      values: kernel,
      what: `a dense layer of ${units} units on ${features} features has a kernel of ${kernel} values`,
      configPath,
    });
    params += kernel + 4 * units;
    features = units;
  }
  return { tensors, params };
}

/**
 * Refuses a built-in VGG whose tensors exceed what one typed array holds, or whose training state
 * (weights, gradients, momentum) exceeds the machine's memory. Throws InputError naming the config path.
 */
export function checkVggFits(plan: VggPlan, bounds: MemoryBounds = machineBounds()): void {
  const { tensors, params } = vggTensors(plan);
  const tooBig = tensors.find((t) => t.values > bounds.maxValues);
  if (tooBig !== undefined) {
    throw new InputError(
      `config: ${tooBig.configPath}: ${tooBig.what}, more than one tensor can hold (${bounds.maxValues}); use smaller widths or images`,
    );
  }
  const bytes = params * FLOAT32_BYTES * TRAINING_COPIES;
  if (bytes > bounds.memoryBytes) {
    throw new InputError(
      `config: model.cfg: the model has ${params} parameters; training them needs ${gib(bytes)} (weights, gradients, momentum), ` +
        `more than this machine's ${gib(bounds.memoryBytes)}; use smaller widths`,
    );
  }
}

/**
 * Refuses an image split that cannot be held: one image (a streamed batch is made of them) or the
 * whole decoded split (`inMemory`) beyond one typed array or the machine's memory. `configPath`
 * names what sets the size (data.resize, or the data itself when nothing resizes it).
 */
export function checkImagesFit(
  count: number,
  shape: TargetShape,
  options: { inMemory: boolean; bytesPerValue: number; configPath: string; split: string },
  bounds: MemoryBounds = machineBounds(),
): void {
  const perImage = shape.height * shape.width * shape.channels;
  const size = `${shape.height}x${shape.width}x${shape.channels}`;
  if (perImage > bounds.maxValues) {
    throw new InputError(
      `config: ${options.configPath}: one ${size} image has ${perImage} values, more than one tensor can hold (${bounds.maxValues})`,
    );
  }
  if (!options.inMemory) return;
  const values = count * perImage;
  const bytes = values * options.bytesPerValue;
  if (values > bounds.maxValues || bytes > bounds.memoryBytes) {
    throw new InputError(
      `config: ${options.configPath}: the ${options.split} split, ${count} images of ${size}, needs ${gib(bytes)} in memory ` +
        `(at most ${bounds.maxValues} values and ${gib(bounds.memoryBytes)}); use smaller images, data.trainLimit/testLimit or data.stream`,
    );
  }
}
