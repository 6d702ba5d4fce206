/**
 * Where the CUDA runtime and cuDNN libraries are on a Linux machine, as tfjs-node-gpu's
 * libtensorflow would look for them: the dynamic loader's cache (`ldconfig -p`), then
 * LD_LIBRARY_PATH; plus the usual install folders, which the loader does not search unless
 * they are configured (a library only there is "present, not visible").
 */
import path from 'node:path';

/** What tfjs-node-gpu 4.x (libtensorflow 2.x built against CUDA 11.2 / cuDNN 8.1) opens. */
export const REQUIRED_CUDA_LIBS = ['libcudart.so.11.0', 'libcudnn.so.8'] as const;
export const REQUIRED_CUDA = 'CUDA 11.2 runtime';
export const REQUIRED_CUDNN = 'cuDNN 8.1';

export type LibrarySource = 'ldconfig' | 'LD_LIBRARY_PATH' | 'folder';

export interface LibraryFile {
  name: string;
  path: string;
  source: LibrarySource;
}

export interface CudaLibraryReport {
  /** Per required library: every place it was found (empty = absent). */
  required: { name: string; found: LibraryFile[]; visible: boolean }[];
  /** Versions present, from file names: e.g. ['CUDA 12', 'cuDNN 9']. */
  versionsPresent: string[];
  /** Folders searched besides the loader cache. */
  searched: string[];
}

export interface CudaLibraryProbes {
  /** `ldconfig -p` output, or undefined when it cannot run. */
  ldconfigOutput(): string | undefined;
  env: Record<string, string | undefined>;
  /** File names in a folder ([] when it does not exist). */
  listDir(dir: string): string[];
}

/** Folders the loader searches even without a cache entry (glibc's trusted directories on x86-64). */
const LOADER_DEFAULT_DIRS = new Set(['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64']);

const CUDA_LIB = /^lib(cudart|cudnn)\.so\.(\d+)(?:\.\d+)*$/;

/** The usual CUDA install folders: /usr/local/cuda*, /opt/cuda and the distribution's lib folders. */
export function usualCudaFolders(probes: CudaLibraryProbes): string[] {
  const local = probes
    .listDir('/usr/local')
    .filter((name) => /^cuda(-[\d.]+)?$/.test(name))
    .sort()
    .flatMap((name) => [`/usr/local/${name}/lib64`, `/usr/local/${name}/lib`, `/usr/local/${name}/targets/x86_64-linux/lib`]);
  return [...local, '/opt/cuda/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib'];
}

/** Entries of `ldconfig -p` ("\tlibcudart.so.11.0 (libc6,x86-64) => /path") for CUDA libraries. */
export function parseLdconfig(output: string): LibraryFile[] {
  const files: LibraryFile[] = [];
  for (const line of output.split('\n')) {
    const match = /^\s*(\S+)\s+\(.*\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (match && CUDA_LIB.test(match[1])) files.push({ name: match[1], path: match[2], source: 'ldconfig' });
  }
  return files;
}

function versionLabel(name: string): string | undefined {
  const match = CUDA_LIB.exec(name);
  if (!match) return undefined;
  return `${match[1] === 'cudart' ? 'CUDA' : 'cuDNN'} ${match[2]}`;
}

export function findCudaLibraries(probes: CudaLibraryProbes): CudaLibraryReport {
  const ldconfig = probes.ldconfigOutput();
  const files: LibraryFile[] = ldconfig === undefined ? [] : parseLdconfig(ldconfig);
  const ldPath = (probes.env['LD_LIBRARY_PATH'] ?? '').split(':').filter((dir) => dir !== '');
  const folders = usualCudaFolders(probes).filter((dir) => !ldPath.includes(dir));
  for (const [dirs, source] of [
    [ldPath, 'LD_LIBRARY_PATH'],
    [folders, 'folder'],
  ] as const) {
    for (const dir of dirs) {
      for (const name of probes.listDir(dir)) {
        if (CUDA_LIB.test(name)) files.push({ name, path: path.posix.join(dir, name), source });
      }
    }
  }
  const required = REQUIRED_CUDA_LIBS.map((name) => {
    const found = files.filter((f) => f.name === name);
    return { name, found, visible: found.some((f) => f.source !== 'folder' || LOADER_DEFAULT_DIRS.has(path.posix.dirname(f.path))) };
  });
  const versionsPresent = [...new Set(files.map((f) => versionLabel(f.name)).filter((v): v is string => v !== undefined))].sort();
  return { required, versionsPresent, searched: [...ldPath, ...folders] };
}
