/** The module-resolution hook behind tfjs-node-hook.ts (runs on Node's loader thread). */
interface HookData {
  packages: string[];
  standin: string;
}

interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
  format?: string | null;
}

type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

let answered = new Set<string>();
let standinUrl = '';

export function initialize(data: HookData): void {
  answered = new Set(data.packages);
  standinUrl = data.standin;
}

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<ResolveResult> {
  if (answered.has(specifier)) return { url: standinUrl, format: 'module', shortCircuit: true };
  return nextResolve(specifier, context);
}
