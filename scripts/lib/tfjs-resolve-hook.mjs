// Node ESM resolve hook: the ES-module build of @tensorflow/tfjs-core (dist/*.js) imports its own
// files without extensions ("./gradients/Abs_grad"), which browsers' bundlers accept and Node
// does not. Node needs that build for one thing: dist/register_all_gradients.js (the gradient
// functions, absent from the CommonJS bundle). Both copies share one engine and one gradient
// registry through globalThis, so loading it this way registers gradients for the whole process.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL ?? '';
  if ((specifier.startsWith('./') || specifier.startsWith('../')) && parent.includes('/@tensorflow/') && !/\.[cm]?js$/.test(specifier)) {
    const base = new URL(specifier, parent);
    for (const candidate of [`${base.href}.js`, `${base.href}/index.js`]) {
      const path = fileURLToPath(candidate);
      if (existsSync(path) && statSync(path).isFile()) return nextResolve(candidate, context);
    }
  }
  return nextResolve(specifier, context);
}
