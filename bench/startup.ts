/**
 * What one slim process costs before it does any work: `--version`, `--help`, a usage error, a
 * flag refused after parsing, and `report` of a tiny model, each timed as a whole process (CPU =
 * user + system of the child, read with the shell's `times`; wall around the spawn), beside two
 * references measured in the same rounds: `node -e 0` (Node alone) and `node -e
 * "require('@tensorflow/tfjs')"` (the least any tfjs process pays).
 *
 *   node dist/bench/startup.js [--rounds 7] [--baseline DIR]
 *
 * --baseline DIR: another built checkout of slim (its bin/slim.js and dist/), e.g. the commit before
 *   a change; its rows are measured in the same rounds, so before → after is a paired comparison.
 * Every round runs every setup once, in a rotated order, so load drift hits all setups alike. Each
 * row: median CPU and wall over the rounds, the ratio of its CPU to `node -e 0`'s, and the mean
 * 1-minute load average while it ran.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { buildVgg } from '../src/model/architectures.js';
import { fromLayersModel } from '../src/model/convert.js';
import { writeModel } from '../src/model/io.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Setup {
  name: string;
  /** Arguments to `node`. */
  args: string[];
  /** Exit code the setup must end with (a wrong one means it measured something else). */
  exitCode: number;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The slim invocations measured, for the checkout at `root` (label prefix `label`). */
function slimSetups(root: string, label: string, model: string, scratch: string): Setup[] {
  const bin = path.join(root, 'bin', 'slim.js');
  return [
    { name: `${label}--version`, args: [bin, '--version'], exitCode: 0 },
    { name: `${label}--help`, args: [bin, '--help'], exitCode: 0 },
    { name: `${label}usage error (train, no --out)`, args: [bin, 'train', '--config', '/nonexistent.json'], exitCode: 2 },
    {
      name: `${label}refusal (prune, missing --model)`,
      args: [bin, 'prune', '--model', path.join(scratch, 'missing', 'model.json'), '--out', path.join(scratch, 'out')],
      exitCode: 2,
    },
    { name: `${label}report of a tiny model`, args: [bin, 'report', '--model', model], exitCode: 0 },
  ];
}

interface Sample {
  cpu: number;
  wall: number;
  load: number;
}

/** Runs `node ...args` under sh, whose `times` prints the children's user and system seconds. */
function measure(setup: Setup): Sample {
  const quoted = [process.execPath, ...setup.args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const load = loadavg()[0];
  const start = process.hrtime.bigint();
  const result = spawnSync('/bin/sh', ['-c', `${quoted} >/dev/null 2>&1; code=$?; times; exit $code`], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== setup.exitCode) throw new Error(`${setup.name}: exit ${result.status}, expected ${setup.exitCode}`);
  // `times`: the shell's own user/system line, then its children's ("0m0.830000s 0m0.060000s").
  const children = result.stdout.trim().split('\n').at(-1) ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (seconds.length !== 2) throw new Error(`${setup.name}: cannot read times output ${JSON.stringify(result.stdout)}`);
  return { cpu: seconds[0] + seconds[1], wall, load };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function tinyModel(dir: string): Promise<string> {
  await tf.setBackend('cpu');
  const model = buildVgg({ cfg: [4, 'M', 8], inputShape: [8, 8, 1], numClasses: 3, head: 'gap', seed: 1 });
  return writeModel(path.join(dir, 'tiny'), await fromLayersModel(model));
}

async function main(): Promise<void> {
  const rounds = Number(flag('--rounds') ?? 7);
  const baseline = flag('--baseline');
  const scratch = mkdtempSync(path.join(tmpdir(), 'slim-startup-'));
  try {
    tf.env().set('PROD', true);
    const model = await tinyModel(scratch);
    const reference = { name: 'node -e 0', args: ['-e', '0'], exitCode: 0 };
    const setups: Setup[] = [
      reference,
      { name: 'node -e "require(\'@tensorflow/tfjs\')"', args: ['-e', "require('@tensorflow/tfjs')"], exitCode: 0 },
      ...(baseline !== undefined ? slimSetups(path.resolve(baseline), 'baseline ', model, scratch) : []),
      ...slimSetups(REPO_ROOT, baseline !== undefined ? 'this ' : '', model, scratch),
    ];
    const samples = new Map<string, Sample[]>(setups.map((s) => [s.name, []]));
    for (const setup of setups) measure(setup); // warm the file cache; not counted
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < setups.length; i++) {
        const setup = setups[(i + round) % setups.length];
        samples.get(setup.name)!.push(measure(setup));
      }
    }
    const referenceCpu = median(samples.get(reference.name)!.map((s) => s.cpu));
    console.log(`slim start-up, ${rounds} interleaved rounds, median per process (node ${process.version})`);
    console.log(`${'setup'.padEnd(44)} ${'cpu s'.padStart(6)} ${'wall s'.padStart(7)} ${'cpu/node'.padStart(8)} ${'load'.padStart(5)}`);
    for (const setup of setups) {
      const runs = samples.get(setup.name)!;
      const cpu = median(runs.map((s) => s.cpu));
      const wall = median(runs.map((s) => s.wall));
      const load = runs.reduce((sum, s) => sum + s.load, 0) / runs.length;
      console.log(
        `${setup.name.padEnd(44)} ${cpu.toFixed(2).padStart(6)} ${wall.toFixed(2).padStart(7)} ${(cpu / referenceCpu).toFixed(1).padStart(8)} ${load.toFixed(1).padStart(5)}`,
      );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
