// Minimal `--name value` / `--flag` parser for the CLIs: unknown options are an error, so a typo
// never silently trains with a default.
export type ArgSpec = Record<string, { default: string | number | boolean; help: string }>;

export function parseArgs<S extends ArgSpec>(argv: string[], spec: S, usage: string): { [K in keyof S]: S[K]['default'] } {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(`${usage}\n\nOptions:`);
      for (const [k, v] of Object.entries(spec)) console.log(`  --${k.padEnd(18)} ${v.help} (default: ${String(v.default)})`);
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new Error(`Unexpected argument "${arg}" (see --help)`);
    const key = arg.slice(2);
    if (!(key in spec)) throw new Error(`Unknown option --${key} (see --help)`);
    const def = spec[key].default;
    if (typeof def === 'boolean') {
      out[key] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    if (typeof def === 'number') {
      const num = Number(value);
      if (!Number.isFinite(num)) throw new Error(`--${key} must be a number, got "${value}"`);
      out[key] = num;
    } else out[key] = value;
  }
  return out as { [K in keyof S]: S[K]['default'] };
}
