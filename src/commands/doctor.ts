import type { CommandModule } from 'yargs';
import { versioned } from '../config/outputs.js';
import { renderDoctor, runDoctor } from '../backend/doctor.js';
import { ProblemError } from '../errors.js';
import { outputFor, type GlobalFlags } from './common.js';

export const doctorCommand: CommandModule<GlobalFlags, GlobalFlags> = {
  command: 'doctor',
  describe: 'what slim will run on and why: backends, tfjs versions, NVIDIA driver, CUDA/cuDNN libraries',
  builder: (y) =>
    y.epilog(
      'Tries @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node, wasm and cpu (one line each), compares ' +
        "tfjs-node-gpu's tfjs-core with slim's, reads nvidia-smi, and looks for libcudart.so.11.0 and libcudnn.so.8 " +
        '(CUDA 11.2 runtime, cuDNN 8.1: what tfjs-node-gpu 4.x needs) in `ldconfig -p`, LD_LIBRARY_PATH and the usual CUDA folders; ' +
        'then a verdict with the fix. --json: the same as one document. ' +
        'Exit 0 when the best available backend works, 1 when a GPU is present but tfjs-node-gpu cannot use it.',
    ),
  handler: async (argv) => {
    const out = outputFor(argv);
    const { machineProbes } = await import('../backend/doctor-probes.js');
    const report = await runDoctor(machineProbes);
    if (argv.json) out.json(versioned('doctor', report));
    else for (const line of renderDoctor(report)) out.data(line);
    if (report.exitCode !== 0) throw new ProblemError(report.verdict.summary);
  },
};
