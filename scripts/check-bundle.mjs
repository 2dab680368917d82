// Fails when the production bundle carries a test hook. `vite build --mode e2e` compiles the hooks
// in (import.meta.env.MODE === 'e2e'); a plain `vite build` must leave every one of them out.
// Usage: node scripts/check-bundle.mjs [dist]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const HOOKS = ['__sailStudioTest', '__sailStudioClient', 'lose-device', 'throw-soon', 'parity-probe', 'checkSettings'];
const dir = process.argv[2] ?? 'dist';

function* files(d) {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(m?js|html)$/.test(name)) yield path;
  }
}

const found = [];
let scanned = 0;
for (const path of files(dir)) {
  if (path.includes(`${join(dir, 'test-models')}`)) continue;
  scanned++;
  const text = readFileSync(path, 'utf8');
  for (const hook of HOOKS) if (text.includes(hook)) found.push(`${path}: ${hook}`);
}
if (scanned === 0) {
  console.error(`check-bundle: no .js or .html under ${dir}; build first (vite build)`);
  process.exit(1);
}
if (found.length > 0) {
  console.error(`check-bundle: the production bundle carries test hooks:\n  ${found.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-bundle: ${scanned} files under ${dir}, no test hooks`);
