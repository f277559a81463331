/**
 * The per-container config cache: entries are kept by parameter version with no
 * TTL, bounded by count (least recently used out), and dropped when their
 * parameter is no longer listed.
 */
import { describe, expect, it } from 'vitest';
import { VersionedCache } from '../../functions/aws/versioned-cache.js';

describe('VersionedCache', () => {
  it('returns what was set, with its version, until a new version replaces it', () => {
    const cache = new VersionedCache<string>(10);
    cache.set('support', 1, 'v1');
    expect(cache.get('support')).toEqual({ version: 1, value: 'v1' });
    cache.set('support', 2, 'v2');
    expect(cache.get('support')).toEqual({ version: 2, value: 'v2' });
    expect(cache.size).toBe(1);
    expect(cache.get('other')).toBeUndefined();
  });

  it('keeps at most maxEntries, evicting the least recently used', () => {
    const cache = new VersionedCache<number>(3);
    for (const [i, name] of ['a', 'b', 'c'].entries()) cache.set(name, 1, i);
    // Reading `a` makes `b` the oldest.
    expect(cache.get('a')?.value).toBe(0);
    cache.set('d', 1, 3);
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((n) => cache.get(n)?.value)).toEqual([0, 2, 3]);
    // 10,000 more names never grow it past the bound.
    for (let i = 0; i < 10_000; i += 1) cache.set(`m${i}`, 1, i);
    expect(cache.size).toBe(3);
    expect(cache.get('m9999')?.value).toBe(9999);
  });

  it('drops single entries on request', () => {
    const cache = new VersionedCache<string>(10);
    cache.set('b', 4, 'y');
    cache.set('c', 2, 'z');
    cache.delete('c');
    expect(cache.get('c')).toBeUndefined();
    expect(cache.get('b')).toEqual({ version: 4, value: 'y' });
    expect(cache.size).toBe(1);
  });

  it('rejects a bound that is not a positive integer', () => {
    expect(() => new VersionedCache(0)).toThrow(RangeError);
    expect(() => new VersionedCache(1.5)).toThrow(RangeError);
  });
});
