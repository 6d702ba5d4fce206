/**
 * Cases about how slim is called rather than what it reads: config files (and stdin configs),
 * flag values, --out targets, and SIGKILLs in the middle of an overwrite.
 */
import { chmod, cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Base, Corpus } from './corpus.js';

/** Config texts that are not a usable config; each goes through `slim train` unless named in RUN_CONFIGS. */
function configTexts(base: Base): Record<string, string> {
  const good = base.goodConfigJson as Record<string, Record<string, unknown>>;
  const withSection = (section: string, values: Record<string, unknown>) =>
    JSON.stringify({ ...good, [section]: { ...(good[section] ?? {}), ...values } });
  const withTop = (values: Record<string, unknown>) => JSON.stringify({ ...good, ...values });
  const deep = (n: number) => `{"train": ${'['.repeat(n)}${']'.repeat(n)}}`;
  return {
    'bad-json': '{"train": {"epochs": 1,',
    'trailing-comma': '{"seed": 1,}',
    comments: '// my config\n{"seed": 1}',
    'deep-json': deep(500_000),
    'deep-object': `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`,
    'json-array': '[]',
    'json-null': 'null',
    'json-number': '7',
    'json-string': '"config"',
    'empty-file': '',
    'whitespace-only': '  \n\t\n',
    'binary-garbage': '\u0000\u0001\u0002\u00ff',
    'lr-string': withSection('train', { lr: '0.1' }),
    'epochs-string': withSection('train', { epochs: '1' }),
    'seed-string': withTop({ seed: '1' }),
    'data-null': withTop({ data: null }),
    'train-array': withTop({ train: [] }),
    'cfg-string': withTop({ model: { type: 'vgg', cfg: '2' } }),
    'unknown-top-key': withTop({ trian: { epochs: 1 } }),
    'unknown-train-key': withSection('train', { learningRate: 0.1 }),
    'unknown-data-key': withSection('data', { datset: 'npy' }),
    'backend-gpu': withTop({ backend: 'gpu' }),
    'dataset-imagenet': withSection('data', { dataset: 'imagenet' }),
    'importance-median': withSection('prune', { importance: 'median' }),
    'head-unknown': withTop({ model: { type: 'vgg', cfg: [2], head: 'avg' } }),
    'model-type-unknown': withTop({ model: { type: 'resnet', depth: 18 } }),
    'cifar-labels-unknown': withSection('data', { dataset: 'cifar100', dir: base.npyDir, labels: 'medium' }),
    'epochs-negative': withSection('train', { epochs: -1 }),
    'epochs-fraction': withSection('train', { epochs: 1.5 }),
    'epochs-zero-for-train': withSection('train', { epochs: 0 }),
    'lr-zero': withSection('train', { lr: 0 }),
    'lr-negative': withSection('train', { lr: -0.1 }),
    'batch-size-zero': withSection('train', { batchSize: 0 }),
    'momentum-one': withSection('train', { momentum: 1 }),
    'milestones-over-one': withSection('train', { milestones: [1.5] }),
    'gamma-zero': withSection('train', { gamma: 0 }),
    'weight-decay-negative': withSection('train', { weightDecay: -1 }),
    'sparsity-negative': withSection('train', { sparsity: -1e-4 }),
    'seed-negative': withTop({ seed: -1 }),
    'replicas-zero': withTop({ replicas: 0 }),
    'replicas-text': withTop({ replicas: 'many' }),
    'validation-split-one': withSection('data', { validationSplit: 1 }),
    'train-limit-zero': withSection('data', { trainLimit: 0 }),
    'std-zero': withSection('data', { preprocess: { std: [0] } }),
    'mean-empty': withSection('data', { preprocess: { mean: [] } }),
    'mean-per-channel-mismatch': withSection('data', { preprocess: { mean: [0.1, 0.2] } }),
    'scale-zero': withSection('data', { preprocess: { scale: 0 } }),
    'channels-two': withSection('data', { channels: 2 }),
    'prefetch-zero': withSection('data', { prefetch: 0 }),
    'augment-pad-negative': withSection('data', { augment: { pad: -1 } }),
    'resize-zero': withSection('data', { resize: [0, 8] }),
    'resize-one-value': withSection('data', { resize: [8] }),
    'resize-huge': withSection('data', { resize: [100000, 100000] }),
    'cfg-empty': withTop({ model: { type: 'vgg', cfg: [] } }),
    'cfg-zero': withTop({ model: { type: 'vgg', cfg: [0] } }),
    'cfg-fraction': withTop({ model: { type: 'vgg', cfg: [2.5] } }),
    'cfg-unknown-token': withTop({ model: { type: 'vgg', cfg: [2, 'X'] } }),
    'cfg-width-1e9': withTop({ model: { type: 'vgg', cfg: [1e9] } }),
    'cfg-widths-huge': withTop({ model: { type: 'vgg', cfg: [200000, 200000] } }),
    'cfg-too-many-pools': withTop({ model: { type: 'vgg', cfg: [2, 'M', 2, 'M', 2, 'M', 2, 'M', 2] } }),
    'hidden-negative': withTop({ model: { type: 'vgg', cfg: [2], head: 'flatten', hidden: [-1] } }),
    'dropout-one': withTop({ model: { type: 'vgg', cfg: [2], dropout: 1 } }),
    'model-file-empty-path': withTop({ model: { type: 'file', path: '' } }),
    'model-file-missing': withTop({ model: { type: 'file', path: path.join(base.npyDir, 'no-model.json') } }),
    'model-missing': JSON.stringify({ ...good, model: undefined }),
    'data-missing': JSON.stringify({ ...good, data: undefined }),
    'prune-ratio-one': withSection('prune', { ratio: 1 }),
    'prune-ratio-and-threshold': withSection('prune', { ratio: 0.5, threshold: 0.1 }),
    'prune-min-channels-zero': withSection('prune', { minChannels: 0 }),
    'fold-bn-string': withSection('export', { foldBatchNorm: 'yes' }),
    'out-number': withTop({ out: 123 }),
    'schema-number': withTop({ $schema: 5 }),
  };
}

/** Config faults that only `slim run` reads (prune section, out), or that must also fail there. */
// (Not out-number: run's --out replaces the config's out before validation, so that run is valid.)
const RUN_CONFIGS = new Set([
  'prune-ratio-one',
  'prune-ratio-and-threshold',
  'prune-min-channels-zero',
  'fold-bn-string',
  'importance-median',
  'resize-huge',
  'cfg-width-1e9',
]);

export async function addConfigCases(corpus: Corpus, base: Base): Promise<void> {
  const dir = corpus.fixture('configs', 'bad');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(configTexts(base))) {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, text);
    await corpus.add(`config/${name}/train`, 'config', 2, (cwd) => ['train', '--config', file, '--out', path.join(cwd, 'out')]);
    if (RUN_CONFIGS.has(name))
      await corpus.add(`config/${name}/run`, 'config', 2, (cwd) => ['run', '--config', file, '--out', path.join(cwd, 'out')]);
  }
  // (No diverging-training case: whether lr 1e12 ends in NaN depends on the net and the backend, not on
  // the input; test/cli.test.ts covers divergence → exit 1 on a net where it is certain.)
  await corpus.add('config/missing-file/train', 'config', 2, (cwd) => [
    'train',
    '--config',
    path.join(dir, 'absent.json'),
    '--out',
    path.join(cwd, 'out'),
  ]);
  await corpus.add('config/folder/train', 'config', 2, (cwd) => ['train', '--config', dir, '--out', path.join(cwd, 'out')]);
  // prune and eval read configs too.
  const median = path.join(dir, 'importance-median.json');
  await corpus.add('config/importance-median/prune', 'config', 2, (cwd) => [
    'prune',
    '--model',
    base.goodModel,
    '--config',
    median,
    '--out',
    path.join(cwd, 'out'),
  ]);
  const badJson = path.join(dir, 'bad-json.json');
  await corpus.add('config/bad-json/eval', 'config', 2, () => ['eval', '--model', base.goodModel, '--config', badJson]);
  await corpus.add('config/data-missing/eval', 'config', 2, () => [
    'eval',
    '--model',
    base.goodModel,
    '--config',
    path.join(dir, 'data-missing.json'),
  ]);
  // stdin configs.
  const stdinCases: Record<string, string> = {
    'stdin-bad-json': '{"seed": ',
    'stdin-empty': '',
    'stdin-deep-json': `{"data": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`,
    'stdin-unknown-key': JSON.stringify({ ...base.goodConfigJson, trian: {} }),
    'stdin-lr-zero': JSON.stringify({ ...base.goodConfigJson, train: { epochs: 1, lr: 0 } }),
  };
  for (const [name, stdin] of Object.entries(stdinCases)) {
    await corpus.add(`config/${name}/train`, 'config', 2, (cwd) => ['train', '--config', '-', '--out', path.join(cwd, 'out')], { stdin });
  }
  await corpus.add('config/stdin-bad-json/run', 'config', 2, (cwd) => ['run', '--config', '-', '--out', path.join(cwd, 'out')], {
    stdin: '{"seed": ',
  });
  await corpus.add('config/stdin-empty/eval', 'config', 2, () => ['eval', '--model', base.goodModel, '--config', '-'], { stdin: '' });
}

export async function addFlagCases(corpus: Corpus, base: Base): Promise<void> {
  const model = base.goodModel;
  const config = base.goodConfig;
  const prune = (cwd: string, ...flags: string[]) => ['prune', '--model', model, '--out', path.join(cwd, 'out'), ...flags];
  const train = (cwd: string, ...flags: string[]) => ['train', '--config', config, '--out', path.join(cwd, 'out'), ...flags];
  const cases: Record<string, (cwd: string) => string[]> = {
    'prune-ratio-empty': (cwd) => prune(cwd, '--ratio', ''),
    'prune-ratio-2': (cwd) => prune(cwd, '--ratio', '2'),
    'prune-ratio-1': (cwd) => prune(cwd, '--ratio', '1'),
    'prune-ratio-negative': (cwd) => prune(cwd, '--ratio', '-1'),
    'prune-ratio-text': (cwd) => prune(cwd, '--ratio', 'half'),
    'prune-ratio-nan': (cwd) => prune(cwd, '--ratio', 'NaN'),
    'prune-ratio-infinity': (cwd) => prune(cwd, '--ratio', 'Infinity'),
    'prune-ratio-twice': (cwd) => prune(cwd, '--ratio', '0.3', '--ratio', '0.5'),
    'prune-ratio-missing-value': (cwd) => prune(cwd, '--ratio'),
    'prune-threshold-negative': (cwd) => prune(cwd, '--threshold', '-1'),
    'prune-threshold-text': (cwd) => prune(cwd, '--threshold', 'low'),
    'prune-ratio-and-threshold': (cwd) => prune(cwd, '--ratio', '0.5', '--threshold', '0.1'),
    'prune-no-amount': (cwd) => prune(cwd),
    'prune-importance-median': (cwd) => prune(cwd, '--ratio', '0.5', '--importance', 'median'),
    'prune-min-channels-zero': (cwd) => prune(cwd, '--ratio', '0.5', '--min-channels', '0'),
    'prune-min-channels-fraction': (cwd) => prune(cwd, '--ratio', '0.5', '--min-channels', '1.5'),
    'prune-round-to-zero': (cwd) => prune(cwd, '--ratio', '0.5', '--round-to', '0'),
    'prune-round-to-negative': (cwd) => prune(cwd, '--ratio', '0.5', '--round-to', '-8'),
    'prune-round-mode-down': (cwd) => prune(cwd, '--ratio', '0.5', '--round-to', '8', '--round-mode', 'down'),
    'prune-round-mode-empty': (cwd) => prune(cwd, '--ratio', '0.5', '--round-mode', ''),
    'prune-unknown-flag': (cwd) => prune(cwd, '--ratoi', '0.5'),
    'prune-out-twice': (cwd) => [...prune(cwd, '--ratio', '0.5'), '--out', path.join(cwd, 'out2')],
    'prune-model-twice': (cwd) => [...prune(cwd, '--ratio', '0.5'), '--model', model],
    'prune-missing-model': (cwd) => ['prune', '--ratio', '0.5', '--out', path.join(cwd, 'out')],
    'prune-missing-out': () => ['prune', '--model', model, '--ratio', '0.5'],
    'prune-positional': (cwd) => [...prune(cwd, '--ratio', '0.5'), 'extra'],
    'train-backend-gpu': (cwd) => train(cwd, '--backend', 'gpu'),
    'train-dataset-imagenet': (cwd) => train(cwd, '--dataset', 'imagenet'),
    'train-replicas-zero': (cwd) => train(cwd, '--replicas', '0'),
    'train-replicas-negative': (cwd) => train(cwd, '--replicas', '-1'),
    'train-replicas-fraction': (cwd) => train(cwd, '--replicas', '1.5'),
    'train-replicas-text': (cwd) => train(cwd, '--replicas', 'lots'),
    'train-replicas-empty': (cwd) => train(cwd, '--replicas', ''),
    'train-epochs-negative': (cwd) => train(cwd, '--epochs', '-1'),
    'train-epochs-fraction': (cwd) => train(cwd, '--epochs', '1.5'),
    'train-epochs-text': (cwd) => train(cwd, '--epochs', 'one'),
    'train-lr-zero': (cwd) => train(cwd, '--lr', '0'),
    'train-lr-empty': (cwd) => train(cwd, '--lr', ''),
    'train-batch-size-zero': (cwd) => train(cwd, '--batch-size', '0'),
    'train-seed-negative': (cwd) => train(cwd, '--seed', '-1'),
    'train-lambda-negative': (cwd) => train(cwd, '--lambda', '-1'),
    'train-missing-out': () => ['train', '--config', config],
    'train-unknown-flag': (cwd) => train(cwd, '--learning-rate', '0.1'),
    'export-backend-gpu': (cwd) => ['export', '--model', model, '--out', path.join(cwd, 'out'), '--backend', 'gpu'],
    'export-missing-out': () => ['export', '--model', model],
    'finetune-missing-model': (cwd) => ['finetune', '--config', config, '--out', path.join(cwd, 'out')],
    'finetune-epochs-zero': (cwd) => ['finetune', '--config', config, '--model', model, '--out', path.join(cwd, 'out'), '--epochs', '0'],
    'run-missing-config': (cwd) => ['run', '--out', path.join(cwd, 'out')],
    'run-ratio-2': (cwd) => ['run', '--config', config, '--out', path.join(cwd, 'out'), '--ratio', '2'],
    'run-ratio-empty': (cwd) => ['run', '--config', config, '--out', path.join(cwd, 'out'), '--ratio', ''],
    'run-train-limit-zero': (cwd) => ['run', '--config', config, '--out', path.join(cwd, 'out'), '--train-limit', '0'],
    'run-train-epochs-negative': (cwd) => ['run', '--config', config, '--out', path.join(cwd, 'out'), '--train-epochs', '-1'],
    'run-backend-gpu': (cwd) => ['run', '--config', config, '--out', path.join(cwd, 'out'), '--backend', 'gpu'],
    'run-no-out': () => ['run', '--config', config],
    'eval-missing-config': () => ['eval', '--model', model],
    'eval-backend-gpu': () => ['eval', '--model', model, '--config', config, '--backend', 'gpu'],
    'report-missing-model': () => ['report'],
    'report-baseline-missing': () => ['report', '--model', model, '--baseline', path.join(model, 'nowhere')],
    'unknown-command': () => ['prun', '--model', model],
    'schema-extra-positional': () => ['schema', 'extra'],
  };
  for (const [name, argv] of Object.entries(cases)) await corpus.add(`flags/${name}`, 'flags', 2, argv);
}

/** --out targets each writing command must refuse, with the command's other flags valid. */
export async function addOutCases(corpus: Corpus, base: Base): Promise<void> {
  const commands: Record<string, (out: string) => string[]> = {
    prune: (out) => ['prune', '--model', base.goodModel, '--ratio', '0.5', '--out', out],
    export: (out) => ['export', '--model', base.goodModel, '--out', out, '--backend', 'cpu'],
    train: (out) => ['train', '--config', base.goodConfig, '--out', out],
    run: (out) => ['run', '--config', base.goodConfig, '--out', out],
  };
  /** Each target: a function of the case folder that prepares it and returns the --out value. */
  const targets: Record<string, (cwd: string) => Promise<string>> = {
    empty: async () => '',
    dot: async () => '.',
    'dot-dot': async () => '..',
    proc: async () => '/proc/x/y',
    sys: async () => '/sys/x',
    'through-file': async (cwd) => path.join(cwd, 'keep.txt', 'sub'),
    'existing-file': async (cwd) => path.join(cwd, 'keep.txt'),
    'dev-null': async () => '/dev/null',
    'dangling-symlink': async (cwd) => {
      await symlink(path.join(cwd, 'nowhere'), path.join(cwd, 'link'));
      return path.join(cwd, 'link');
    },
    'folder-with-other-files': async (cwd) => {
      await mkdir(path.join(cwd, 'busy'), { recursive: true });
      await writeFile(path.join(cwd, 'busy', 'notes.txt'), 'mine');
      return path.join(cwd, 'busy');
    },
    'name-too-long': async (cwd) => path.join(cwd, 'x'.repeat(300)),
  };
  for (const [targetName, prepare] of Object.entries(targets)) {
    for (const [command, argvOf] of Object.entries(commands)) {
      const id = `out/${targetName}/${command}`;
      const cwd = await corpus.caseDir(id);
      const out = await prepare(cwd);
      // The folder that holds other files and the case folder itself (for '', '.') must survive.
      await corpus.add(id, 'out', 2, () => argvOf(out), { cwd, outputs: [cwd] });
    }
  }
  // The input model's own folder, without --overwrite.
  for (const command of ['prune', 'export']) {
    const id = `out/input-folder/${command}`;
    const cwd = await corpus.caseDir(id);
    const model = path.join(cwd, 'model');
    await cp(base.goodModel, model, { recursive: true });
    await corpus.add(id, 'out', 2, () => commands[command](model).map((a) => (a === base.goodModel ? model : a)), { cwd });
  }
  // A parent folder nobody may write to (root ignores permissions, so only as another user).
  for (const [command, argvOf] of Object.entries(commands)) {
    const id = `out/unwritable-parent/${command}`;
    const cwd = await corpus.caseDir(id);
    const locked = path.join(cwd, 'locked');
    await mkdir(locked, { recursive: true });
    await chmod(locked, 0o555);
    await corpus.add(id, 'out', 2, () => argvOf(path.join(locked, 'out')), { cwd, needsNonRoot: true });
  }
}

/** SIGKILL during `prune --overwrite` onto an existing model: random delays and the two rename windows. */
export async function addKillCases(corpus: Corpus, base: Base): Promise<void> {
  const triggers: Array<[string, 'delay' | 'temp' | 'aside', number]> = [
    ...Array.from({ length: 5 }, (_, i): [string, 'delay', number] => [`random-${i + 1}`, 'delay', Math.round(200 + Math.random() * 2300)]),
    ['temp-appears', 'temp', 0],
    ['temp-appears-5ms', 'temp', 5],
    ['aside-appears', 'aside', 0],
  ];
  for (const [name, trigger, delayMs] of triggers) {
    const id = `kill/${name}`;
    const cwd = await corpus.caseDir(id);
    const out = path.join(cwd, 'out');
    await cp(base.goodModel, out, { recursive: true });
    await corpus.add(id, 'kill', 0, () => ['prune', '--model', base.goodModel, '--ratio', '0.5', '--out', out, '--overwrite'], {
      cwd,
      kill: { trigger, delayMs },
    });
  }
}
