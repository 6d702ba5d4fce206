/**
 * `slim doctor`: what slim will run on and why. Tries every backend of selectBackend's chain,
 * reads the NVIDIA driver (nvidia-smi) and looks for the CUDA 11.2 runtime and cuDNN 8 that
 * tfjs-node-gpu 4.x links against, then gives a verdict with the fix. The machine is read
 * through DoctorProbes, so tests can stand in for nvidia-smi, ldconfig and the packages.
 */
import * as tf from '#tfjs';
import { findCudaLibraries, REQUIRED_CUDA, REQUIRED_CUDNN, type CudaLibraryProbes, type CudaLibraryReport } from './cuda-libs.js';
import {
  activateCpu,
  activateNodePackage,
  activateWasm,
  CPU_PACKAGE,
  NODE_CPU_PACKAGE,
  NODE_GPU_PACKAGE,
  oneLine,
  WASM_PACKAGE,
  type BackendDeps,
} from './select.js';

export interface CommandOutcome {
  ok: boolean;
  /** stdout when ok, the one-line reason otherwise. */
  output: string;
}

export interface DoctorProbes extends CudaLibraryProbes, BackendDeps {
  /** A package's installed version and the @tensorflow/tfjs-core version it resolves; undefined when not installed. */
  packageInfo(name: string): { version: string; coreVersion?: string } | undefined;
  /** Runs nvidia-smi with these arguments; undefined when there is no nvidia-smi. */
  nvidiaSmi(args: string[]): CommandOutcome | undefined;
  nodeVersion: string;
}

export type BackendStatus = 'works' | 'fails' | 'not installed' | 'not tried';

export interface BackendCheck {
  /** npm package ('@tensorflow/tfjs-backend-wasm' for wasm, '@tensorflow/tfjs-backend-cpu' for cpu). */
  package: string;
  status: BackendStatus;
  /** The backend's one-line description when it works, else why not. */
  detail: string;
  /** tfjs-node-gpu only, when it works: whether TensorFlow sees a GPU. */
  gpu?: boolean;
}

export interface NvidiaReport {
  present: boolean;
  gpus: string[];
  driver?: string;
  /** Newest CUDA version the driver supports (nvidia-smi's "CUDA Version"). */
  driverCuda?: string;
  /** Why nvidia-smi gave nothing, when it did not. */
  error?: string;
}

export interface DoctorReport {
  node: string;
  tfjs: { tfjs: string; core: string };
  backends: BackendCheck[];
  /** The backend slim's --backend auto picks here. */
  best: { package: string; detail: string; gpu: boolean };
  gpuPackage: { installed: boolean; version?: string; coreVersion?: string; coreMatches?: boolean };
  nvidia: NvidiaReport;
  cudaLibraries: CudaLibraryReport;
  verdict: { gpuUsable: boolean; summary: string; fixes: string[] };
  /** 0: the best backend works; 1: a GPU is present that tfjs-node-gpu cannot use (or nothing works). */
  exitCode: 0 | 1;
}

/** Why a native package is usually absent. */
const NOT_INSTALLED: Record<string, string> = {
  [NODE_GPU_PACKAGE]:
    "not installed (slim's optional dependency; its install script downloads libtensorflow, so it fails offline and outside Linux x64)",
  [NODE_CPU_PACKAGE]: `not installed (not a dependency of slim; npm i ${NODE_CPU_PACKAGE} for native CPU speed)`,
};

function isNotInstalled(error: unknown, pkg: string): boolean {
  const code = (error as { code?: string } | null)?.code;
  // The package itself, not one of its dependencies (whose message names a path inside it).
  return code === 'ERR_MODULE_NOT_FOUND' && oneLine(error).startsWith(`Cannot find package '${pkg}'`);
}

/** The chain, in selectBackend's order; each check leaves its backend active if it works. */
async function checkBackends(probes: DoctorProbes): Promise<BackendCheck[]> {
  const checks: BackendCheck[] = [];
  for (const pkg of [NODE_GPU_PACKAGE, NODE_CPU_PACKAGE]) {
    if (checks.some((c) => c.status === 'works')) {
      checks.push({ package: pkg, status: 'not tried', detail: `${checks[0].package} already provides the 'tensorflow' backend` });
      continue;
    }
    try {
      const info = await activateNodePackage(pkg, probes);
      checks.push({ package: pkg, status: 'works', detail: info.detail, ...(pkg === NODE_GPU_PACKAGE ? { gpu: info.gpu } : {}) });
    } catch (error) {
      const missing = isNotInstalled(error, pkg);
      checks.push({ package: pkg, status: missing ? 'not installed' : 'fails', detail: missing ? NOT_INSTALLED[pkg] : oneLine(error) });
    }
  }
  for (const [pkg, activate] of [
    [WASM_PACKAGE, () => activateWasm(probes)],
    [CPU_PACKAGE, activateCpu],
  ] as const) {
    try {
      checks.push({ package: pkg, status: 'works', detail: (await activate()).detail });
    } catch (error) {
      checks.push({ package: pkg, status: 'fails', detail: oneLine(error) });
    }
  }
  return checks;
}

function readNvidia(probes: DoctorProbes): NvidiaReport {
  const query = probes.nvidiaSmi(['--query-gpu=name,driver_version', '--format=csv,noheader']);
  if (query === undefined) return { present: false, gpus: [], error: 'nvidia-smi not found' };
  if (!query.ok) return { present: false, gpus: [], error: `nvidia-smi failed: ${query.output}` };
  const rows = query.output
    .split('\n')
    .map((line) => line.split(',').map((cell) => cell.trim()))
    .filter((row) => row[0]);
  if (rows.length === 0) return { present: false, gpus: [], error: 'nvidia-smi lists no GPU' };
  const header = probes.nvidiaSmi([]);
  const driverCuda = header?.ok ? /CUDA Version:\s*([\d.]+)/.exec(header.output)?.[1] : undefined;
  return { present: true, gpus: rows.map((row) => row[0]), driver: rows[0][1], ...(driverCuda ? { driverCuda } : {}) };
}

export async function runDoctor(probes: DoctorProbes): Promise<DoctorReport> {
  const info = probes.packageInfo(NODE_GPU_PACKAGE);
  const core = tf.version_core;
  const gpuPackage: DoctorReport['gpuPackage'] =
    info === undefined
      ? { installed: false }
      : {
          installed: true,
          version: info.version,
          coreVersion: info.coreVersion,
          coreMatches: info.coreVersion === undefined ? undefined : info.coreVersion === core,
        };
  const backends = await checkBackends(probes);
  const bestCheck = backends.find((c) => c.status === 'works');
  const best = bestCheck
    ? { package: bestCheck.package, detail: bestCheck.detail, gpu: bestCheck.gpu === true }
    : { package: 'none', detail: 'no backend works', gpu: false };
  const nvidia = readNvidia(probes);
  const cudaLibraries = findCudaLibraries(probes);
  const verdict = verdictOf({ backends, best, gpuPackage, nvidia, cudaLibraries, core });
  const failed = bestCheck === undefined || (nvidia.present && !verdict.gpuUsable);
  return {
    node: probes.nodeVersion,
    tfjs: { tfjs: tf.version.tfjs ?? core, core },
    backends,
    best,
    gpuPackage,
    nvidia,
    cudaLibraries,
    verdict,
    exitCode: failed ? 1 : 0,
  };
}

interface VerdictInput {
  backends: BackendCheck[];
  best: DoctorReport['best'];
  gpuPackage: DoctorReport['gpuPackage'];
  nvidia: NvidiaReport;
  cudaLibraries: CudaLibraryReport;
  core: string;
}

const MAKE_VISIBLE =
  'export LD_LIBRARY_PATH=<folder>:$LD_LIBRARY_PATH, or list the folder in a file under /etc/ld.so.conf.d/ and run `sudo ldconfig`';

/** One fix per missing or invisible library, in the terms a user acts on. */
function libraryFixes(libraries: CudaLibraryReport): string[] {
  const fixes: string[] = [];
  const present = libraries.versionsPresent.length > 0 ? libraries.versionsPresent.join(', ') : 'none';
  for (const lib of libraries.required) {
    if (lib.visible) continue;
    const needs = lib.name.startsWith('libcudart') ? REQUIRED_CUDA : REQUIRED_CUDNN;
    const hidden = lib.found.map((f) => f.path.slice(0, f.path.lastIndexOf('/')));
    fixes.push(
      hidden.length > 0
        ? `${lib.name} is in ${hidden.join(', ')}, which the loader does not search: ${MAKE_VISIBLE.replace('<folder>', hidden[0])}`
        : `${lib.name} not found (CUDA/cuDNN present: ${present}): install the ${needs} (${lib.name}); it can sit beside a newer CUDA, e.g. in /usr/local/cuda-11.2; then make its folder visible: ${MAKE_VISIBLE}`,
    );
  }
  return fixes;
}

function gpuPackageFixes(input: VerdictInput): string[] {
  const { gpuPackage, core } = input;
  if (!gpuPackage.installed)
    return [`npm i ${NODE_GPU_PACKAGE}@${core} (Linux x64; its install downloads libtensorflow, so it needs network access)`];
  if (gpuPackage.coreMatches === false) {
    return [
      `${NODE_GPU_PACKAGE} ${gpuPackage.version} uses @tensorflow/tfjs-core ${gpuPackage.coreVersion}, slim uses ${core}: npm i ${NODE_GPU_PACKAGE}@${core}`,
    ];
  }
  return [];
}

function verdictOf(input: VerdictInput): DoctorReport['verdict'] {
  const { best, nvidia, backends } = input;
  const gpuCheck = backends.find((c) => c.package === NODE_GPU_PACKAGE)!;
  if (best.gpu) return { gpuUsable: true, summary: `slim trains on the GPU: ${best.detail}`, fixes: [] };
  if (!nvidia.present) {
    const fixes = best.package === WASM_PACKAGE ? [`for native CPU speed: npm i ${NODE_CPU_PACKAGE}@${input.core}`] : [];
    if (input.gpuPackage.coreMatches === false) fixes.push(...gpuPackageFixes(input));
    return { gpuUsable: false, summary: `no NVIDIA GPU (${nvidia.error}); slim runs on ${best.detail}`, fixes };
  }
  const why =
    gpuCheck.status === 'works'
      ? 'it loads, but TensorFlow sees no GPU (it opens libcudart.so.11.0 and libcudnn.so.8 and only warns when they are missing)'
      : gpuCheck.status === 'not installed'
        ? 'it is not installed'
        : `it fails to load: ${gpuCheck.detail}`;
  const fixes = [...gpuPackageFixes(input), ...libraryFixes(input.cudaLibraries)];
  if (fixes.length === 0) {
    fixes.push(
      `the libraries are visible; check that driver ${nvidia.driver ?? '?'} supports CUDA 11.2 (it needs >= 450.80.02) and run with TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's own messages`,
    );
  }
  return {
    gpuUsable: false,
    summary: `an NVIDIA GPU is present (${nvidia.gpus[0]}) but ${NODE_GPU_PACKAGE} cannot use it: ${why}; slim runs on ${best.detail}`,
    fixes,
  };
}

/** The human report (stdout of `slim doctor`). */
export function renderDoctor(report: DoctorReport): string[] {
  const mark = (status: BackendStatus): string => (status === 'works' ? 'ok  ' : status === 'not tried' ? '-   ' : 'no  ');
  const width = Math.max(...report.backends.map((c) => c.package.length));
  const lines = [
    `node ${report.node}, @tensorflow/tfjs ${report.tfjs.tfjs} (tfjs-core ${report.tfjs.core})`,
    'backends, in the order --backend auto tries them:',
    ...report.backends.map((c) => `  ${mark(c.status)}${c.package.padEnd(width)}  ${c.detail}`),
  ];
  const pkg = report.gpuPackage;
  if (pkg.installed) {
    const match =
      pkg.coreMatches === undefined
        ? 'tfjs-core version unknown'
        : pkg.coreMatches
          ? 'matches slim'
          : `does not match slim's ${report.tfjs.core}`;
    lines.push(`${NODE_GPU_PACKAGE} ${pkg.version}: tfjs-core ${pkg.coreVersion ?? '?'} (${match})`);
  }
  const nv = report.nvidia;
  lines.push(
    nv.present
      ? `NVIDIA: ${nv.gpus.join(', ')}; driver ${nv.driver ?? '?'}${nv.driverCuda ? `, supports CUDA up to ${nv.driverCuda}` : ''}`
      : `NVIDIA: no GPU (${nv.error})`,
  );
  lines.push(`CUDA libraries (tfjs-node-gpu 4.x needs the ${REQUIRED_CUDA} and ${REQUIRED_CUDNN}):`);
  for (const lib of report.cudaLibraries.required) {
    const where = lib.found.map((f) => `${f.path} (${f.source})`).join(', ');
    lines.push(`  ${lib.name}: ${lib.found.length === 0 ? 'not found' : `${where}${lib.visible ? '' : ' - not visible to the loader'}`}`);
  }
  lines.push(`  CUDA/cuDNN present: ${report.cudaLibraries.versionsPresent.join(', ') || 'none'}`);
  lines.push(`verdict: ${report.verdict.summary}`);
  for (const fix of report.verdict.fixes) lines.push(`  fix: ${fix}`);
  return lines;
}
