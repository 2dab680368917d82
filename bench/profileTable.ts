// Prints a tf.profile's kernel time summed by kernel and by kernel + input shapes (bench/profile-*.ts).
// PROFILE_ROWS sets how many shape rows print (30).
import type * as tf from '@tensorflow/tfjs-core';

type Profile = Awaited<ReturnType<typeof tf.profile>>;

export function printProfile(prof: Profile): void {
  const sum = (key: (k: Profile['kernels'][number]) => string) => {
    const agg = new Map<string, { n: number; ms: number }>();
    for (const k of prof.kernels) {
      const a = agg.get(key(k)) ?? { n: 0, ms: 0 };
      a.n++;
      a.ms += k.kernelTimeMs as number;
      agg.set(key(k), a);
    }
    return [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms);
  };
  console.log('\nby kernel (launches, ms):');
  for (const [k, v] of sum((k) => k.name).slice(0, 30)) console.log(`  ${k.padEnd(28)} ${String(v.n).padStart(6)} ${v.ms.toFixed(1).padStart(9)}`);
  console.log('\nby kernel and input shapes:');
  for (const [k, v] of sum((k) => `${k.name} ${JSON.stringify(k.inputShapes?.slice(0, 2))}`).slice(0, Number(process.env.PROFILE_ROWS ?? 30))) {
    console.log(`  ${k.slice(0, 80).padEnd(80)} ${String(v.n).padStart(6)} ${v.ms.toFixed(1).padStart(9)}`);
  }
}
