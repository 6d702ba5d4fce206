/**
 * `slim doctor` with injected probes (fake `ldconfig -p`, nvidia-smi, folders and package
 * importers), in the situations users meet: no GPU; a GPU with CUDA 12 only; a GPU with CUDA 11.2 +
 * cuDNN 8; a tfjs-core mismatch; the libraries present but not visible. Then the real command here.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { NODE_CPU_PACKAGE, NODE_GPU_PACKAGE, WASM_PACKAGE } from '../src/backend/index.js';
import { parseLdconfig } from '../src/backend/cuda-libs.js';
import { renderDoctor, runDoctor, type CommandOutcome, type DoctorProbes, type DoctorReport } from '../src/backend/doctor.js';
import { fakeImporter, removeFakeNodeBackend, type FakeOutcome } from './helpers/backend-fakes.js';
import { describeRun, runSlim } from './helpers/cli.js';

tf.env().set('PROD', true);

const CORE = tf.version_core;
const RTX = 'NVIDIA GeForce RTX 4090, 550.54.14';
const NVIDIA_HEADER = '| NVIDIA-SMI 550.54.14    Driver Version: 550.54.14    CUDA Version: 12.4     |';

/** `ldconfig -p` as glibc prints it, for these libraries (name → folder). */
function ldconfig(libs: Record<string, string>): string {
  const lines = Object.entries(libs).map(([name, dir]) => `\t${name} (libc6,x86-64) => ${dir}/${name}`);
  return [
    `${lines.length + 2} libs found in cache \`/etc/ld.so.cache'`,
    '\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1',
    ...lines,
  ].join('\n');
}

interface Machine {
  packages?: Record<string, FakeOutcome>;
  gpuPackage?: { version: string; coreVersion?: string };
  nvidia?: { query: CommandOutcome; header?: string };
  ldconfig?: string;
  ldLibraryPath?: string;
  folders?: Record<string, string[]>;
}

function probesFor(machine: Machine): DoctorProbes {
  const importer = fakeImporter(machine.packages ?? {});
  return {
    importModule: importer.importModule,
    initWasm: async () => ({ simd: true, threads: 1, wasmDir: '/fake/wasm/' }),
    packageInfo: (name) => (name === NODE_GPU_PACKAGE ? machine.gpuPackage : undefined),
    nvidiaSmi: (args) => {
      if (!machine.nvidia) return undefined;
      return args.length === 0 ? { ok: true, output: machine.nvidia.header ?? '' } : machine.nvidia.query;
    },
    ldconfigOutput: () => machine.ldconfig,
    env: { LD_LIBRARY_PATH: machine.ldLibraryPath },
    listDir: (dir) => machine.folders?.[dir] ?? [],
    nodeVersion: 'v20.0.0',
  };
}

function statuses(report: DoctorReport): string[] {
  return report.backends.map((c) => `${c.package}: ${c.status}`);
}

const GPU = { query: { ok: true, output: `${RTX}\n` }, header: NVIDIA_HEADER };
const MATCHING = { version: CORE, coreVersion: CORE };
const CUDA12 = ldconfig({ 'libcudart.so.12': '/usr/local/cuda-12.4/lib64', 'libcudnn.so.9': '/usr/lib/x86_64-linux-gnu' });

describe('slim doctor, injected probes', () => {
  afterEach(removeFakeNodeBackend);

  test('no GPU: the best backend is wasm, exit 0, the native packages say why they are absent', async () => {
    const report = await runDoctor(probesFor({ ldconfig: ldconfig({}) }));
    assert.equal(report.exitCode, 0);
    assert.deepEqual(statuses(report), [
      `${NODE_GPU_PACKAGE}: not installed`,
      `${NODE_CPU_PACKAGE}: not installed`,
      `${WASM_PACKAGE}: works`,
      '@tensorflow/tfjs-backend-cpu: works',
    ]);
    assert.match(report.backends[0].detail, /optional dependency; its install script downloads libtensorflow/);
    assert.equal(report.best.package, WASM_PACKAGE);
    assert.deepEqual(report.nvidia, { present: false, gpus: [], error: 'nvidia-smi not found' });
    assert.match(report.verdict.summary, /^no NVIDIA GPU \(nvidia-smi not found\); slim runs on wasm/);
    assert.deepEqual(
      report.cudaLibraries.required.map((l) => l.found.length),
      [0, 0],
    );
    const text = renderDoctor(report);
    assert.ok(text.includes('NVIDIA: no GPU (nvidia-smi not found)'), text.join('\n'));
    assert.ok(text.some((line) => line.startsWith('verdict: no NVIDIA GPU')));
  });

  test('GPU + CUDA 12 only: tfjs-node-gpu loads but sees no GPU -> exit 1, install CUDA 11.2 runtime and cuDNN 8.1', async () => {
    const report = await runDoctor(
      probesFor({ packages: { [NODE_GPU_PACKAGE]: { ok: true, gpu: false } }, gpuPackage: MATCHING, nvidia: GPU, ldconfig: CUDA12 }),
    );
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.nvidia, { present: true, gpus: ['NVIDIA GeForce RTX 4090'], driver: '550.54.14', driverCuda: '12.4' });
    assert.deepEqual(statuses(report).slice(0, 2), [`${NODE_GPU_PACKAGE}: works`, `${NODE_CPU_PACKAGE}: not tried`]);
    assert.equal(report.best.package, NODE_GPU_PACKAGE);
    assert.equal(report.best.gpu, false);
    assert.deepEqual(report.cudaLibraries.versionsPresent, ['CUDA 12', 'cuDNN 9']);
    assert.match(
      report.verdict.summary,
      /NVIDIA GPU is present \(NVIDIA GeForce RTX 4090\) but @tensorflow\/tfjs-node-gpu cannot use it: it loads, but TensorFlow sees no GPU/,
    );
    assert.equal(report.verdict.fixes.length, 2);
    assert.match(
      report.verdict.fixes[0],
      /^libcudart\.so\.11\.0 not found \(CUDA\/cuDNN present: CUDA 12, cuDNN 9\): install the CUDA 11\.2 runtime/,
    );
    assert.match(report.verdict.fixes[1], /^libcudnn\.so\.8 not found .*install the cuDNN 8\.1/);
    assert.ok(renderDoctor(report).includes('NVIDIA: NVIDIA GeForce RTX 4090; driver 550.54.14, supports CUDA up to 12.4'));
  });

  test('GPU + CUDA 11.2 + cuDNN 8 (beside CUDA 12): tfjs-node-gpu on the GPU, exit 0, no fix', async () => {
    const libs = ldconfig({
      'libcudart.so.12': '/usr/local/cuda-12.4/lib64',
      'libcudart.so.11.0': '/usr/local/cuda-11.2/lib64',
      'libcudnn.so.8': '/usr/local/cuda-11.2/lib64',
    });
    const report = await runDoctor(
      probesFor({ packages: { [NODE_GPU_PACKAGE]: { ok: true, gpu: true } }, gpuPackage: MATCHING, nvidia: GPU, ldconfig: libs }),
    );
    assert.equal(report.exitCode, 0);
    assert.equal(report.verdict.gpuUsable, true);
    assert.deepEqual(report.best, { package: NODE_GPU_PACKAGE, detail: `tensorflow (${NODE_GPU_PACKAGE}), GPU`, gpu: true });
    assert.deepEqual(
      report.cudaLibraries.required.map((l) => [l.name, l.visible, l.found.map((f) => f.path)]),
      [
        ['libcudart.so.11.0', true, ['/usr/local/cuda-11.2/lib64/libcudart.so.11.0']],
        ['libcudnn.so.8', true, ['/usr/local/cuda-11.2/lib64/libcudnn.so.8']],
      ],
    );
    assert.deepEqual(report.verdict.fixes, []);
  });

  test('tfjs version mismatch: tfjs-node-gpu on another tfjs-core registers nothing -> exit 1, install the matching version', async () => {
    const libs = ldconfig({ 'libcudart.so.11.0': '/usr/local/cuda-11.2/lib64', 'libcudnn.so.8': '/usr/local/cuda-11.2/lib64' });
    const report = await runDoctor(
      probesFor({
        packages: { [NODE_GPU_PACKAGE]: { ok: true, registersNothing: true } },
        gpuPackage: { version: '4.10.0', coreVersion: '4.10.0' },
        nvidia: GPU,
        ldconfig: libs,
      }),
    );
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.gpuPackage, { installed: true, version: '4.10.0', coreVersion: '4.10.0', coreMatches: false });
    assert.equal(report.backends[0].status, 'fails');
    assert.match(report.backends[0].detail, /registered no 'tensorflow' backend/);
    assert.equal(report.best.package, WASM_PACKAGE);
    assert.deepEqual(report.verdict.fixes, [
      `${NODE_GPU_PACKAGE} 4.10.0 uses @tensorflow/tfjs-core 4.10.0, slim uses ${CORE}: npm i ${NODE_GPU_PACKAGE}@${CORE}`,
    ]);
    assert.ok(renderDoctor(report).includes(`${NODE_GPU_PACKAGE} 4.10.0: tfjs-core 4.10.0 (does not match slim's ${CORE})`));
  });

  test('CUDA 11.2 installed in a folder the loader does not search: the fix names that folder', async () => {
    const report = await runDoctor(
      probesFor({
        packages: {
          [NODE_GPU_PACKAGE]: { ok: false, error: 'libcudart.so.11.0: cannot open shared object file: No such file or directory' },
        },
        gpuPackage: MATCHING,
        nvidia: GPU,
        ldconfig: CUDA12,
        ldLibraryPath: '/opt/other',
        folders: {
          '/usr/local': ['cuda', 'cuda-11.2', 'bin'],
          '/usr/local/cuda-11.2/lib64': ['libcudart.so.11.0', 'libcudnn.so.8', 'libcublas.so.11'],
        },
      }),
    );
    assert.equal(report.exitCode, 1);
    assert.match(report.verdict.summary, /it fails to load: libcudart\.so\.11\.0: cannot open shared object file/);
    assert.deepEqual(
      report.cudaLibraries.required.map((l) => l.visible),
      [false, false],
    );
    assert.ok(report.cudaLibraries.searched.includes('/usr/local/cuda-11.2/lib64') && report.cudaLibraries.searched[0] === '/opt/other');
    for (const fix of report.verdict.fixes)
      assert.match(
        fix,
        /is in \/usr\/local\/cuda-11\.2\/lib64, which the loader does not search: export LD_LIBRARY_PATH=\/usr\/local\/cuda-11\.2\/lib64:\$LD_LIBRARY_PATH/,
      );
    assert.equal(report.backends[1].status, 'not installed', 'tfjs-node is tried after tfjs-node-gpu failed');
  });

  test('nvidia-smi that fails (driver not loaded) is no GPU, with its reason', async () => {
    const report = await runDoctor(
      probesFor({
        nvidia: { query: { ok: false, output: 'exit 9: NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' } },
      }),
    );
    assert.equal(report.exitCode, 0);
    assert.equal(report.nvidia.present, false);
    assert.match(report.verdict.summary, /^no NVIDIA GPU \(nvidia-smi failed: exit 9: NVIDIA-SMI has failed/);
  });

  test('parseLdconfig keeps only CUDA runtime and cuDNN entries', () => {
    const files = parseLdconfig(
      ldconfig({ 'libcudart.so.11.0': '/a', 'libcudnn.so.8': '/b', 'libcublas.so.11': '/c', 'libcudart.so': '/a' }),
    );
    assert.deepEqual(
      files.map((f) => f.path),
      ['/a/libcudart.so.11.0', '/b/libcudnn.so.8'],
    );
  });
});

describe('slim doctor on this machine', () => {
  test('text and --json agree; exit code as reported; every backend of the chain listed once', async () => {
    const [text, json] = await Promise.all([runSlim(['doctor']), runSlim(['doctor', '--json'])]);
    const report = JSON.parse(json.stdout) as DoctorReport;
    assert.equal(json.code, report.exitCode, describeRun(json));
    assert.equal(text.code, report.exitCode, describeRun(text));
    assert.deepEqual(
      report.backends.map((c) => c.package),
      [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE, WASM_PACKAGE, '@tensorflow/tfjs-backend-cpu'],
    );
    assert.ok(text.stdout.includes(`verdict: ${report.verdict.summary}`), describeRun(text));
    if (report.exitCode === 1) assert.ok(text.stderr.includes(`error: ${report.verdict.summary}`));
    else assert.equal(text.stderr, '');
  });
});
