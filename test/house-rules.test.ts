// The house rules of the codebase (the brief; issue 13): src/core never imports the app or a
// worker, and the app never imports TF.js (all TF.js work runs in the workers). Every import and
// dynamic import() of every source file is resolved against these rules; a test file fails CI
// the day someone breaks one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

/** Module specifiers a file imports: static imports and exports, and dynamic import(); `values` leaves out `import type`. */
function importsOf(file: string, values = false): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s([^'"]*?)from\s*['"]([^'"]+)['"]/g)) if (!values || !/^type\s/.test(m[1])) found.push(m[2]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.push(m[1]);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]);
  return found;
}

/** A relative specifier as a path from the repo root ('src/app/x'); a package name as it is. */
function target(file: string, spec: string): string {
  return spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : spec;
}

function violations(dir: string, forbidden: (t: string) => boolean): string[] {
  return sources(join(root, dir)).flatMap((file) =>
    importsOf(file)
      .map((spec) => target(file, spec))
      .filter(forbidden)
      .map((t) => `${relative(root, file)} imports ${t}`),
  );
}

/** The file a relative specifier names (x.ts, x.tsx or x/index.ts), or null for a package or an asset. */
function fileOf(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec.replace(/\?.*$/, ''));
  for (const f of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    try {
      if (statSync(f).isFile() && /\.(ts|tsx)$/.test(f)) return f;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Every package reached from `entry` through value imports (type-only imports erase at build). */
function packagesReached(entry: string): Map<string, string> {
  const reached = new Map<string, string>();
  const seen = new Set<string>();
  const walk = (file: string, chain: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of importsOf(file, true)) {
      const next = fileOf(file, spec);
      if (next) walk(next, `${chain} -> ${relative(root, next)}`);
      else if (!spec.startsWith('.') && !reached.has(spec)) reached.set(spec, chain);
    }
  };
  walk(entry, relative(root, entry));
  return reached;
}

describe('house rules', () => {
  it('src/core imports neither the app nor a worker', () => {
    const files = sources(join(root, 'src/core'));
    expect(files.length).toBeGreaterThan(20);
    expect(violations('src/core', (t) => t.startsWith('src/app') || t.startsWith('workers') || t === 'src/main' || t.startsWith('react') || t === 'zustand')).toEqual([]);
  });

  it('the app never imports TF.js', () => {
    expect(sources(join(root, 'src/app')).length).toBeGreaterThan(20);
    expect(violations('src/app', (t) => t.startsWith('@tensorflow/') || t.startsWith('workers'))).toEqual([]);
  });

  it('the main thread reaches no TF.js through the core modules it uses', () => {
    const reached = packagesReached(join(root, 'src/main.tsx'));
    expect(reached.has('react')).toBe(true);
    const tfjs = [...reached].filter(([p]) => p.startsWith('@tensorflow/')).map(([p, chain]) => `${p} via ${chain}`);
    expect(tfjs).toEqual([]);
    // ...while the worker does reach it, so the walk follows imports through core.
    expect([...packagesReached(join(root, 'workers/model.worker.ts')).keys()]).toContain('@tensorflow/tfjs-core');
  });

  it('the checks see a forbidden import when there is one', () => {
    // The same resolution on a line written as the rule would forbid it.
    const fake = join(root, 'src/core/sail/loop.ts');
    expect(target(fake, '../../app/runStore')).toBe(join('src', 'app', 'runStore'));
    expect(importsOf(join(root, 'src/core/service/modelService.ts'))).toContain('@tensorflow/tfjs-core');
  });

  it('the model worker and its helper are shells over core\'s services (their logic is where Node tests reach it)', () => {
    // Besides its service, a worker may import only the wasm binaries' URLs (workers/wasmPaths.ts).
    const shells: [string, string, number][] = [
      ['workers/model.worker.ts', 'modelService', 80],
      ['workers/helper.worker.ts', 'helperService', 30],
    ];
    for (const [file, service, maxLines] of shells) {
      const worker = join(root, file);
      const local = importsOf(worker, true).filter((spec) => spec.startsWith('.')).map((spec) => target(worker, spec));
      expect(local.sort()).toEqual([join('src', 'core', 'service', service), join('workers', 'wasmPaths')].sort());
      expect(readFileSync(worker, 'utf8').split('\n').length).toBeLessThan(maxLines);
    }
    const paths = join(root, 'workers/wasmPaths.ts');
    expect(importsOf(paths, true).filter((spec) => !spec.endsWith('?url'))).toEqual([]);
  });
});
