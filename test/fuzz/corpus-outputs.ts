/**
 * Output flags and stdout: every flag that names a file slim writes against the bad targets of the
 * output-path policy (exit 2, the case folder unchanged), and every command with its stdout sent
 * down `| true`, `| head -c 1` (exit 0, outputs written whole, no error line) and `> /dev/full`
 * (exit 1, one `error:` line). Device files are left to the in-process tests (no real device is
 * handed to the binary here); cheap inputs only (the base's tiny model and one-epoch config).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { STDOUT_PIPELINES, type Base, type Corpus, type StdoutPipeline } from './corpus.js';

/** Each file-output flag: argv with the target in place (paths relative to the case folder). */
function fileOutputFlags(base: Base): Record<string, (target: string) => string[]> {
  return {
    'report-html': (t) => ['report', '--model', base.goodModel, '--html', t],
    'sweep-html': (t) => ['sweep', '--model', base.goodModel, '--config', base.goodConfig, '--ratios', '0.5', '--html', t],
    // `--out=` keeps the target out of the case's snapshotted outputs (`/` and `..` are not ours to walk).
    'export-keras': (t) => ['export', '--model', base.goodModel, '--format', 'keras', `--out=${t}`, '--backend', 'cpu', '--overwrite'],
    'export-h5': (t) => ['export', '--model', base.goodModel, '--format', 'h5', `--out=${t}`, '--backend', 'cpu', '--overwrite'],
  };
}

/** Bad targets: each prepares the case folder and returns the flag's value. */
const BAD_FILE_TARGETS: Record<string, (cwd: string, base: Base) => Promise<string>> = {
  dot: async () => '.',
  'dot-dot': async () => '..',
  root: async () => '/',
  'existing-folder': async (cwd) => {
    await mkdir(path.join(cwd, 'a-folder'));
    return 'a-folder';
  },
  fifo: async (cwd) => {
    execFileSync('mkfifo', [path.join(cwd, 'fifo')]);
    return 'fifo';
  },
  symlink: async (cwd) => {
    await writeFile(path.join(cwd, 'target.html'), 'not yours\n');
    await symlink(path.join(cwd, 'target.html'), path.join(cwd, 'link'));
    return 'link';
  },
  'input-model-json': async (_cwd, base) => path.join(base.goodModel, 'model.json'),
  'input-weights': async (_cwd, base) => path.join(base.goodModel, 'weights.bin'),
  'through-file': async (cwd) => path.join(cwd, 'keep.txt', 'page.html'),
  'dangling-symlink': async (cwd) => {
    await symlink(path.join(cwd, 'nowhere'), path.join(cwd, 'dangling'));
    return 'dangling';
  },
};

export async function addOutputFlagCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [flagName, argvOf] of Object.entries(fileOutputFlags(base))) {
    for (const [targetName, prepare] of Object.entries(BAD_FILE_TARGETS)) {
      const id = `outputs/${flagName}/${targetName}`;
      const cwd = await corpus.caseDir(id);
      const target = await prepare(cwd, base);
      // The case folder (and so every target in it) must come out as it went in; --out is not a folder here.
      await corpus.add(id, 'outputs', 2, () => argvOf(target), { cwd, outputs: [cwd] });
    }
  }
  // --html - and --json both want stdout; --log without --html would be ignored.
  await corpus.add('outputs/report-html-stdout-with-json', 'outputs', 2, () => [
    'report',
    '--model',
    base.goodModel,
    '--html',
    '-',
    '--json',
  ]);
  await corpus.add('outputs/report-log-without-html', 'outputs', 2, (cwd) => [
    'report',
    '--model',
    base.goodModel,
    '--log',
    path.join(cwd, 'keep.txt'),
  ]);
}

/** Every command, cheap: argv of the case folder. */
function pipeCommands(base: Base): Record<string, (cwd: string) => string[]> {
  return {
    schema: () => ['schema'],
    doctor: () => ['doctor', '--json'],
    help: () => ['--help'],
    version: () => ['--version', '--json'],
    report: () => ['report', '--model', base.goodModel, '--json'],
    'report-html-stdout': () => ['report', '--model', base.goodModel, '--html', '-'],
    'prune-dry-run': () => ['prune', '--model', base.goodModel, '--ratio', '0.5', '--dry-run'],
    prune: (cwd) => ['prune', '--model', base.goodModel, '--ratio', '0.5', '--out', path.join(cwd, 'out')],
    export: (cwd) => ['export', '--model', base.goodModel, '--out', path.join(cwd, 'out'), '--backend', 'wasm'],
    eval: () => ['eval', '--model', base.goodModel, '--config', base.goodConfig, '--json'],
    train: (cwd) => ['train', '--config', base.goodConfig, '--out', path.join(cwd, 'out'), '--backend', 'wasm'],
    finetune: (cwd) => ['finetune', '--model', base.goodModel, '--config', base.goodConfig, '--out', path.join(cwd, 'out'), '--json'],
    sweep: () => ['sweep', '--model', base.goodModel, '--config', base.goodConfig, '--ratios', '0.5'],
    run: (cwd) => ['run', '--config', base.goodConfig, '--out', path.join(cwd, 'out'), '--json'],
  };
}

export async function addPipeCases(corpus: Corpus, base: Base): Promise<void> {
  for (const [name, argvOf] of Object.entries(pipeCommands(base))) {
    for (const pipeline of Object.keys(STDOUT_PIPELINES) as StdoutPipeline[]) {
      await corpus.add(`pipes/${name}/${pipeline}`, 'pipes', pipeline === 'dev-full' ? 1 : 0, argvOf, { stdoutTo: pipeline });
    }
  }
}
