#!/usr/bin/env node
// Finds the Chromium the e2e tests drive: $CHROMIUM_PATH, else /usr/bin/chromium, else `chromium`
// on PATH. Prints what it found, or exactly what to install, and exits 1 when there is none.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (executable(fromEnv)) return fromEnv;
    console.error(`CHROMIUM_PATH is set to ${fromEnv}, but that is not an executable file.`);
    process.exit(1);
  }
  if (executable('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'chromium'))) return join(dir, 'chromium');
  }
  return null;
}

const found = findChromium();
if (!found) {
  console.error(
    [
      'The browser tests need Chromium, and none was found (looked at $CHROMIUM_PATH, /usr/bin/chromium, and chromium on PATH).',
      'On Debian or Ubuntu install it with:',
      '',
      '    apt-get update && apt-get install -y chromium',
      '',
      'or point CHROMIUM_PATH at a Chromium or Chrome binary:',
      '',
      '    CHROMIUM_PATH=/path/to/chrome npm run test:e2e',
    ].join('\n'),
  );
  process.exit(1);
}

let version = '';
try {
  version = execFileSync(found, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).trim();
} catch {
  // The version is for the log only.
}
console.log(`Chromium: ${found}${version ? ` (${version})` : ''}`);
