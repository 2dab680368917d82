// The SAIL engine in the browser's model worker (wasm): a run-sail request on the shipped base
// with tiny settings streams the engine's events unchanged and delivers each finished round.
// There is no studio UI for runs yet, so the spec drives the app's own worker client.
import { expect, openStudio, test } from './studio';

test('run-sail in the worker streams events and delivers every round', async ({ page }) => {
  await openStudio(page, { backend: 'wasm' });
  const outcome = await page.evaluate(async () => {
    type Stream = { kind: string; event?: { type: string; round: number; phase?: string }; round?: number; weights?: ArrayBuffer; selfPairs?: { winner: ArrayBuffer }[]; record?: { curve: unknown[] } };
    const client = (globalThis as unknown as { __sailStudioClient: { runSail: (...args: unknown[]) => { reply: Promise<{ rounds: number }> } } }).__sailStudioClient;
    const size = 32;
    const image = (v: number) => ({ width: size, height: size, data: new Uint8Array(size * size * 3).map((_, i) => (i * 7 + v) % 256) });
    const seedPairs = [0, 1, 2].map((i) => ({ caption: i === 1 ? 'red heart' : 'grinning face', image0: image(10 * i), image1: image(10 * i + 99), label0: 1, source: 'seed' }));
    const settings = { rounds: 1, candidatesPerPrompt: 2, rewardDraws: 1, alpha: 0.25, beta: 500, learningRate: 1e-4, stepsPerRound: 2, batchSize: 2, marginThreshold: 0, pairing: 'best-worst', judge: 'current', promptsPerRound: 1, guidance: 3, ddimSteps: 2, seed: 1 };
    const seen: Stream[] = [];
    const { reply } = client.runSail({ seedPairs, promptPools: [['dog face']], settings }, (m: Stream) => seen.push(m));
    const done = await reply;
    return {
      rounds: done.rounds,
      events: seen.filter((m) => m.kind === 'sail-event').map((m) => `${m.event!.type}:${m.event!.round}${m.event!.phase ? `:${m.event!.phase}` : ''}`),
      deliveredRounds: seen.filter((m) => m.kind === 'sail-round').map((m) => ({ round: m.round, weightBytes: m.weights!.byteLength, selfPairs: m.selfPairs!.length, winnerBytes: m.selfPairs![0]?.winner.byteLength ?? 0, curve: m.record!.curve.length })),
    };
  });
  expect(outcome.rounds).toBe(2);
  expect(outcome.events).toEqual(expect.arrayContaining(['phase:0:train', 'step:0', 'round-done:0', 'phase:1:generate', 'phase:1:score', 'phase:1:train', 'round-done:1']));
  expect(outcome.deliveredRounds.map((r) => r.round)).toEqual([0, 1]);
  for (const r of outcome.deliveredRounds) {
    expect(r.weightBytes).toBeGreaterThan(1_000_000);
    expect(r.curve).toBe(2);
  }
  expect(outcome.deliveredRounds[1].selfPairs).toBe(1);
  expect(outcome.deliveredRounds[1].winnerBytes).toBe(32 * 32 * 4);
});
