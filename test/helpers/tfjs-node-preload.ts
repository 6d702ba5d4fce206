/**
 * `node --import dist/test/helpers/tfjs-node-preload.js bin/slim.js ...`: the slim binary, run
 * with the stand-in answering for the packages in SLIM_STANDIN_PACKAGES (comma-separated;
 * default @tensorflow/tfjs-node). See tfjs-node-standin.ts for its other variables.
 */
import { DEFAULT_STANDIN_PACKAGES, registerTfjsNodeHook } from './tfjs-node-hook.js';

const named = process.env['SLIM_STANDIN_PACKAGES'];
registerTfjsNodeHook(named ? named.split(',').map((p) => p.trim()) : DEFAULT_STANDIN_PACKAGES);
