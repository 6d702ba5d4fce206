/**
 * Bench: `slim prune` core on a ~25M-parameter model.
 * Builds a Keras-style ResNet50 topology (keras.applications layer names) with random weights as
 * plain typed arrays (no tfjs allocation), random BN γ, and times planPrune + applyPlan at ratio 0.5.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/prune-large.js
 */
import { pathToFileURL } from 'node:url';
import type { LayerJson, ModelArtifacts, ModelJson, WeightMap } from '../src/model/topology.js';
import { applyPlanDetailed } from '../src/prune/apply.js';
import { planPrune } from '../src/prune/plan.js';
import { countModel } from '../src/report/count.js';

/** Layer JSON plus the weights (name → shape) tfjs would create for it, in manifest order. */
interface Built {
  topology: ModelJson;
  weightShapes: [string, number[]][];
}

/** ResNet50 v1 as keras.applications writes it: 224×224×3 input, 1000 classes, 25,636,712 params. */
export function resnet50Topology(inputSize = 224, classes = 1000): Built {
  const layers: LayerJson[] = [];
  const weightShapes: [string, number[]][] = [];
  const channels = new Map<string, number>();
  const call = (className: string, name: string, config: Record<string, unknown>, inputs: string[], outChannels: number): string => {
    layers.push({
      class_name: className,
      name,
      config: { name, trainable: true, ...config },
      inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])],
    });
    channels.set(name, outChannels);
    return name;
  };
  const conv = (name: string, x: string, filters: number, k: number, stride = 1, padding = 'valid'): string => {
    weightShapes.push([`${name}/kernel`, [k, k, channels.get(x)!, filters]], [`${name}/bias`, [filters]]);
    return call(
      'Conv2D',
      name,
      {
        filters,
        kernel_size: [k, k],
        strides: [stride, stride],
        padding,
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: 'linear',
        use_bias: true,
      },
      [x],
      filters,
    );
  };
  const bn = (name: string, x: string): string => {
    const c = channels.get(x)!;
    for (const role of ['gamma', 'beta', 'moving_mean', 'moving_variance']) weightShapes.push([`${name}/${role}`, [c]]);
    return call('BatchNormalization', name, { axis: 3, momentum: 0.99, epsilon: 1.001e-5, center: true, scale: true }, [x], c);
  };
  const act = (name: string, x: string): string => call('Activation', name, { activation: 'relu' }, [x], channels.get(x)!);

  layers.push({
    class_name: 'InputLayer',
    name: 'input_1',
    config: { name: 'input_1', batch_input_shape: [null, inputSize, inputSize, 3], dtype: 'float32', sparse: false },
    inbound_nodes: [],
  });
  channels.set('input_1', 3);
  let x = call(
    'ZeroPadding2D',
    'conv1_pad',
    {
      padding: [
        [3, 3],
        [3, 3],
      ],
    },
    ['input_1'],
    3,
  );
  x = act('conv1_relu', bn('conv1_bn', conv('conv1_conv', x, 64, 7, 2)));
  x = call(
    'ZeroPadding2D',
    'pool1_pad',
    {
      padding: [
        [1, 1],
        [1, 1],
      ],
    },
    [x],
    64,
  );
  x = call('MaxPooling2D', 'pool1_pool', { pool_size: [3, 3], strides: [2, 2], padding: 'valid' }, [x], 64);

  const stages: [number, number, number][] = [
    [64, 3, 1],
    [128, 4, 2],
    [256, 6, 2],
    [512, 3, 2],
  ];
  stages.forEach(([filters, blocks, stride], s) => {
    for (let b = 1; b <= blocks; b++) {
      const p = `conv${s + 2}_block${b}`;
      const st = b === 1 ? stride : 1;
      const shortcut = b === 1 ? bn(`${p}_0_bn`, conv(`${p}_0_conv`, x, 4 * filters, 1, st)) : x;
      let y = act(`${p}_1_relu`, bn(`${p}_1_bn`, conv(`${p}_1_conv`, x, filters, 1, st)));
      y = act(`${p}_2_relu`, bn(`${p}_2_bn`, conv(`${p}_2_conv`, y, filters, 3, 1, 'same')));
      y = bn(`${p}_3_bn`, conv(`${p}_3_conv`, y, 4 * filters, 1));
      x = act(`${p}_out`, call('Add', `${p}_add`, {}, [shortcut, y], 4 * filters));
    }
  });
  x = call('GlobalAveragePooling2D', 'avg_pool', { data_format: 'channels_last' }, [x], 2048);
  weightShapes.push(['predictions/kernel', [2048, classes]], ['predictions/bias', [classes]]);
  call('Dense', 'predictions', { units: classes, activation: 'softmax', use_bias: true }, [x], classes);

  return {
    topology: {
      class_name: 'Functional',
      config: { name: 'resnet50', layers, input_layers: [['input_1', 0, 0]], output_layers: [['predictions', 0, 0]] },
    },
    weightShapes,
  };
}

/** Random weights (deterministic xorshift), BN variance positive, γ spread over [0, 1). */
export function randomArtifacts(built: Built, seed = 1): ModelArtifacts {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const weights: WeightMap = new Map();
  for (const [name, shape] of built.weightShapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const variance = name.endsWith('moving_variance');
    for (let i = 0; i < data.length; i++) data[i] = variance ? 0.5 + next() : (next() - 0.5) * 0.1;
    if (name.endsWith('/gamma')) for (let i = 0; i < data.length; i++) data[i] = next();
    weights.set(name, { shape, dtype: 'float32', data });
  }
  return { modelTopology: built.topology, weights, format: 'layers-model' };
}

async function main(): Promise<void> {
  const artifacts = randomArtifacts(resnet50Topology());
  const before = countModel(artifacts.modelTopology);
  const t0 = performance.now();
  const plan = planPrune(artifacts, { ratio: 0.5 });
  const t1 = performance.now();
  const { artifacts: pruned } = applyPlanDetailed(artifacts, plan);
  const t2 = performance.now();
  const after = countModel(pruned.modelTopology);
  const fmt = (ms: number): string => (ms / 1000).toFixed(2);
  process.stdout.write(
    `ResNet50 (${before.params.total.toLocaleString('en-US')} params): ratio 0.5 removed ${plan.prunedChannels} of ${plan.candidateChannels} channels ` +
      `in ${plan.groups.length} groups → ${after.params.total.toLocaleString('en-US')} params\n` +
      `planPrune ${fmt(t1 - t0)} s, applyPlan ${fmt(t2 - t1)} s, total ${fmt(t2 - t0)} s\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
