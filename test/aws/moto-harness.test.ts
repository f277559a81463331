import { expect, it } from 'vitest';
import { startMoto } from '../support/moto.js';

it('a missing moto_server fails with how to install it', async () => {
  const err = await startMoto({ command: '/nonexistent/moto_server' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain("pip install 'moto[server]==5.2.*'");
});

it('starts on its own loopback port, answers, and is gone after stop() (which may be called twice)', async () => {
  const [a, b] = await Promise.all([startMoto(), startMoto()]);
  try {
    expect(a.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(b.endpoint).not.toBe(a.endpoint);
    expect((await fetch(`${a.endpoint}/moto-api/`)).ok).toBe(true);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  await a.stop();
  await expect(fetch(`${a.endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
});
