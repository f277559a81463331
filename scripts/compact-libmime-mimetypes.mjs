// Writes libmime's MIME-type tables (dist/cjs and dist/esm mimetypes.js in node_modules/libmime) as two compact
// strings decoded once at load, giving the very same `list` and `extensions` objects. The source of truth is
// the release, installed beside it as `libmime-5.6.4`. After running it, `npx patch-package libmime` writes
// patches/libmime+5.6.4.patch; test/events/patched-libmime.test.ts compares the tables with the release's.
//
// Why: the deliver Lambda bundle has a 1 MB budget (issue 5), and the two object literals were its largest
// single file (70 kB minified), for a lookup mailparser and mailsplit make only for an attachment named but
// typed application/octet-stream. Encoded, the data is about a third of that.
//
// Run: node scripts/compact-libmime-mimetypes.mjs && npx patch-package libmime

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const release = require('libmime-5.6.4/lib/mimetypes.js');

// Separators: the tables hold only [$*+\-./0-9_a-z], checked below.
const SAFE = /^[$*+\-./0-9_a-z]+$/;
const values = (v) => (typeof v === 'string' ? v : `${v.join(',')}${v.length === 1 ? ',' : ''}`);

const types = Object.keys(release.list);
const index = new Map(types.map((t, i) => [t, i]));
const groups = [];
for (const [type, exts] of Object.entries(release.list)) {
  const slash = type.indexOf('/');
  if (slash <= 0 || type.indexOf('/', slash + 1) >= 0) throw new Error(`unexpected type ${type}`);
  for (const s of [type, ...[].concat(exts)]) if (!SAFE.test(s)) throw new Error(`unexpected characters in ${s}`);
  const major = type.slice(0, slash);
  const entry = `${type.slice(slash + 1)}=${values(exts)}`;
  const last = groups.at(-1);
  if (last?.major === major) last.entries.push(entry);
  else groups.push({ major, entries: [entry] });
}
const list = groups.map((g) => `${g.major}:${g.entries.join('|')}`).join(';');
const extensions = Object.entries(release.extensions)
  .map(([ext, t]) => {
    if (!SAFE.test(ext)) throw new Error(`unexpected characters in ${ext}`);
    const ids = [].concat(t).map((type) => {
      const i = index.get(type);
      if (i === undefined) throw new Error(`extension ${ext}: type ${type} is not in list`);
      return i.toString(36);
    });
    return `${ext}=${ids.join(',')}${Array.isArray(t) && t.length === 1 ? ',' : ''}`;
  })
  .join('|');

const decoder = `// MIME type to file extension and file extension to MIME type tables. When a key maps to
// several values, the ones that match the key by name are preferred, then the first one
// pop3-bridge patch: the release's two object literals, written as two strings and decoded here into the same
// objects (scripts/compact-libmime-mimetypes.mjs; test/events/patched-libmime.test.ts compares them).
const LIST = '${list}';
const EXTENSIONS = '${extensions}';
const valuesOf = (text) => (text.includes(',') ? text.split(',').filter((v) => v !== '') : text);
const types = [];
const decodedList = {};
for (const group of LIST.split(';')) {
    const colon = group.indexOf(':');
    const major = group.slice(0, colon);
    for (const entry of group.slice(colon + 1).split('|')) {
        const eq = entry.indexOf('=');
        const type = major + '/' + entry.slice(0, eq);
        types.push(type);
        decodedList[type] = valuesOf(entry.slice(eq + 1));
    }
}
const decodedExtensions = {};
for (const entry of EXTENSIONS.split('|')) {
    const eq = entry.indexOf('=');
    const ids = valuesOf(entry.slice(eq + 1));
    decodedExtensions[entry.slice(0, eq)] = typeof ids === 'string' ? types[parseInt(ids, 36)] : ids.map((id) => types[parseInt(id, 36)]);
}
`;

const cjs = `"use strict";
${decoder}Object.defineProperty(exports, "__esModule", { value: true });
exports.extensions = exports.list = void 0;
exports.list = decodedList;
exports.extensions = decodedExtensions;
exports.default = { list: exports.list, extensions: exports.extensions };
Object.defineProperty(exports, 'default', { value: exports, enumerable: false, writable: true, configurable: true });
`;
const esm = `${decoder}export const list = decodedList;
export const extensions = decodedExtensions;
export default { list, extensions };
`;
writeFileSync(new URL('../node_modules/libmime/dist/cjs/mimetypes.js', import.meta.url), cjs);
writeFileSync(new URL('../node_modules/libmime/dist/esm/mimetypes.js', import.meta.url), esm);
console.log(`list ${list.length} chars, extensions ${extensions.length} chars`);
