/**
 * The bench page a browser runs: tfjs from the bench server, the models from models/<i>/ (layers or
 * graph models, loaded by tfjs's own loaders), and the
 * same interleaved timing as Node (pairing.js, served from slim's own build). Driven mode: slim
 * calls window.slimBench through the DevTools protocol. Serve mode (`slim bench --serve`): the
 * page runs plan.json by itself and POSTs each row to `report`.
 */

/**
 * The function slim exposes to a page it drives (src/bench/chromium.ts), called before and after
 * each timed predict: the page's main-thread CPU time, ms.
 */
export const CPU_CLOCK_BINDING = 'slimMainThreadCpuMs';

/** The page's HTML; the webgpu backend's script only when its package is installed. */
export function benchPageHtml(withWebgpu: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>slim bench</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:1em}pre{white-space:pre-wrap}</style></head>
<body><h1>slim bench</h1><p id="status">loading tfjs…</p><pre id="rows"></pre>
<script src="tf.min.js"></script>
<script src="tf-backend-wasm.min.js"></script>
${withWebgpu ? '<script src="tf-backend-webgpu.min.js"></script>' : ''}
<script type="module" src="bench.js"></script>
</body></html>
`;
}

/** The page's module (plain browser JavaScript). */
export function benchPageScript(): string {
  return `import { interleavedRuns } from './pairing.js';
const tf = window.tf;
tf.env().set('PROD', true);
const base = new URL('./', location.href).href;
const status = (text) => { document.getElementById('status').textContent = text; };
let models = [];
let adapterInfo;

async function settle(output) {
  const outputs = Array.isArray(output) ? output : [output];
  await Promise.all(outputs.map((t) => t.data()));
  tf.dispose(outputs);
}

function webglRenderer() {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
  if (!gl) return 'no WebGL context';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

/** Activates a tfjs backend; { unavailable: reason } when this browser cannot run it. */
async function setBackend(name) {
  models.forEach((m) => m.dispose());
  models = [];
  if (name === 'wasm') tf.wasm.setWasmPaths(base);
  if (name === 'webgpu') {
    if (!navigator.gpu) return { unavailable: 'this browser has no WebGPU (navigator.gpu is missing)' };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { unavailable: 'no WebGPU adapter' };
    adapterInfo = adapter.info || {};
    if (!tf.findBackendFactory('webgpu')) return { unavailable: 'the tfjs webgpu backend is not installed' };
  }
  if (!tf.findBackendFactory(name)) return { unavailable: 'tfjs has no ' + name + ' backend here' };
  let ok = false;
  try { ok = await tf.setBackend(name); await tf.ready(); } catch (e) { return { unavailable: name + ' failed to start: ' + e.message }; }
  if (!ok || tf.getBackend() !== name) return { unavailable: name + ' failed to start' };
  let device;
  let software = false;
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = tf.wasm.getThreadsCount();
    device = 'wasm (' + (simd ? 'SIMD' : 'no SIMD') + ', ' + threads + ' thread' + (threads === 1 ? '' : 's') + ')';
  } else if (name === 'webgl') {
    const renderer = webglRenderer();
    software = /swiftshader|llvmpipe|software/i.test(renderer);
    device = 'WebGL ' + tf.env().get('WEBGL_VERSION') + ': ' + renderer;
  } else if (name === 'webgpu') {
    const words = [adapterInfo.vendor, adapterInfo.architecture, adapterInfo.device, adapterInfo.description].filter(Boolean).join(' ');
    software = adapterInfo.isFallbackAdapter === true || /swiftshader|llvmpipe|software/i.test(words);
    device = 'WebGPU: ' + (words || 'adapter without a name');
  } else device = name;
  return { device, software };
}

/** formats[i] 'graph-model': model i is a graph model (tf.loadGraphModel); a layers model otherwise. */
async function loadModels(count, formats = []) {
  models = [];
  for (let i = 0; i < count; i++) {
    const url = base + 'models/' + i + '/model.json';
    models.push(formats[i] === 'graph-model' ? await tf.loadGraphModel(url) : await tf.loadLayersModel(url));
  }
}

/** Every model's outputs on the given inputs ({ shape, values } each), read back as plain arrays. */
async function outputs(inputs) {
  const xs = inputs.map((t) => tf.tensor(t.values, t.shape, 'float32'));
  const x = xs.length === 1 ? xs[0] : xs;
  try {
    const results = [];
    for (const model of models) {
      const y = model.predict(x);
      const ys = Array.isArray(y) ? y : [y];
      results.push(await Promise.all(ys.map(async (t) => ({ shape: t.shape, values: Array.from(await t.data()) }))));
      tf.dispose(ys);
    }
    return results;
  } finally {
    tf.dispose(xs);
  }
}

async function time(request) {
  const inputs = request.inputShapes.map((shape, i) => tf.randomUniform([request.batch, ...shape], 0, 1, 'float32', request.seed + i));
  const x = inputs.length === 1 ? inputs[0] : inputs;
  try {
    const predicts = models.map((model) => () => settle(model.predict(x, { batchSize: request.batch })));
    // Driven by slim, the page can read its main thread's CPU time through slim (${CPU_CLOCK_BINDING});
    // a browser a person opened has no such clock, and its rows have wall time only.
    const cpuClock = typeof window.${CPU_CLOCK_BINDING} === 'function' ? () => window.${CPU_CLOCK_BINDING}() : undefined;
    const { firstMs, timesMs, cpuMs } = await interleavedRuns(predicts, request.warmup, request.runs, undefined, undefined, cpuClock);
    const peakBytes = [];
    for (const model of models) {
      const info = await tf.profile(() => model.predict(x, { batchSize: request.batch }));
      tf.dispose(info.result);
      peakBytes.push(typeof info.peakBytes === 'number' ? info.peakBytes : null);
    }
    return cpuMs === undefined ? { firstMs, timesMs, peakBytes } : { firstMs, timesMs, peakBytes, cpuMs };
  } finally {
    tf.dispose(inputs);
  }
}

async function post(message) {
  await fetch(base + 'report', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(message) });
}

/** Serve mode: every backend of the plan, every request, each row sent back as it is measured. */
async function runPlan(plan) {
  await post({ type: 'hello', userAgent: navigator.userAgent });
  for (const backend of plan.backends) {
    status('measuring on ' + backend + '…');
    const started = await setBackend(backend);
    if (started.unavailable) {
      await post({ type: 'unavailable', backend, reason: started.unavailable });
      continue;
    }
    await loadModels(plan.modelCount);
    for (const request of plan.requests) {
      const timing = await time(request);
      document.getElementById('rows').textContent += backend + ' batch ' + request.batch + ': done\\n';
      await post({ type: 'row', backend, batch: request.batch, device: started.device, software: started.software, timing });
    }
  }
  await post({ type: 'done' });
  status('done: the results are in the terminal that started slim bench');
}

window.slimBench = { setBackend, loadModels, time, outputs, userAgent: navigator.userAgent };
const plan = await (await fetch(base + 'plan.json')).json();
if (plan.mode === 'serve') {
  runPlan(plan).catch((e) => post({ type: 'error', message: String(e && e.message ? e.message : e) }));
} else status('ready');
window.slimBenchReady = true;
`;
}
