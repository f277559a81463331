/**
 * patches/libmime+5.6.4.patch writes libmime's two MIME-type tables as compact strings decoded at load
 * (scripts/compact-libmime-mimetypes.mjs), which took 42 kB off the deliver bundle. These tests hold the
 * patched tables, in both builds (mailsplit requires the CommonJS one, mailparser imports the ESM one), to the
 * unpatched release installed as `libmime-5.6.4` (which patch-package leaves alone): the same keys in the same
 * order, the same values, and the same answers from the two lookups that read them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

interface MimeTypes {
  list: Record<string, string | string[]>;
  extensions: Record<string, string | string[]>;
  default: unknown;
}
interface Libmime {
  detectMimeType(filename: string): string;
  detectExtension(mimeType: string): string;
}

const require = createRequire(import.meta.url);
const builds = {
  cjs: {
    patched: require('libmime/lib/mimetypes.js') as MimeTypes,
    unpatched: require('libmime-5.6.4/lib/mimetypes.js') as MimeTypes,
    libmime: require('libmime') as Libmime,
    release: require('libmime-5.6.4') as Libmime,
  },
  esm: {
    patched: (await import('libmime/lib/mimetypes.js')) as unknown as MimeTypes,
    unpatched: (await import('libmime-5.6.4/lib/mimetypes.js')) as unknown as MimeTypes,
    libmime: (await import('libmime')).default as unknown as Libmime,
    release: (await import('libmime-5.6.4')).default as unknown as Libmime,
  },
};

describe('patched libmime MIME-type tables (patches/libmime+5.6.4.patch)', () => {
  it('is applied to both builds, the alias is not, and mailsplit loads the patched copy', () => {
    for (const build of ['cjs', 'esm']) {
      const file = (name: string) =>
        readFileSync(require.resolve(`${name}/package.json`).replace(/package\.json$/, `dist/${build}/mimetypes.js`));
      expect(file('libmime').toString()).toContain('const EXTENSIONS = ');
      expect(file('libmime-5.6.4').toString()).not.toContain('EXTENSIONS');
      expect(file('libmime').length).toBeLessThan(file('libmime-5.6.4').length / 2);
    }
    const fromMailsplit = createRequire(require.resolve('@zone-eu/mailsplit')).resolve('libmime');
    expect(fromMailsplit).toBe(require.resolve('libmime'));
  });

  for (const build of ['cjs', 'esm'] as const) {
    const { patched, unpatched, libmime, release } = builds[build];

    it(`${build}: the same tables as the release, keys in the same order`, () => {
      expect(Object.keys(patched.list)).toEqual(Object.keys(unpatched.list));
      expect(Object.keys(patched.extensions)).toEqual(Object.keys(unpatched.extensions));
      expect(patched.list).toStrictEqual(unpatched.list);
      expect(patched.extensions).toStrictEqual(unpatched.extensions);
      expect(patched.default).toStrictEqual(unpatched.default);
      // A table of a thousand entries each: an empty or truncated decode would pass nothing above by accident.
      expect(Object.keys(patched.list).length).toBeGreaterThan(900);
      expect(Object.keys(patched.extensions).length).toBeGreaterThan(900);
    });

    it(`${build}: detectMimeType and detectExtension answer as the release's for every entry and some misses`, () => {
      const names = [...Object.keys(unpatched.extensions).map((ext) => `file.${ext}`), 'noext', 'a.unknownext', ''];
      for (const name of names) expect(libmime.detectMimeType(name)).toBe(release.detectMimeType(name));
      const types = [...Object.keys(unpatched.list), 'application/x-unknown', 'text/plain', 'image/jpeg'];
      for (const type of types) expect(libmime.detectExtension(type)).toBe(release.detectExtension(type));
    });
  }
});
