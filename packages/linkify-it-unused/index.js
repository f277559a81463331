'use strict';
/**
 * linkify-it 5.0.2's factory for mailparser 3.14.2, which builds one linkifier when it is
 * loaded (`linkifyIt().tlds(…).tlds(…).add(…).add(…).set(…)`, then `.add('@', …)`) and
 * uses it only in `textToHtml` (`findLinks`: `pretest`, `match`). The bridge parses with
 * `skipTextToHtml: true` and `skipTextLinks: true` (functions/events/parse-mime.ts), so
 * `findLinks` never runs: the configuration calls are accepted and kept, and every call that
 * would look for a link throws. See README.md.
 */

const NOT_INCLUDED =
  'linkify-it-unused (packages/linkify-it-unused): mailparser asked to find links, but the bridge ' +
  'bundles no link finder: parse with skipTextToHtml and skipTextLinks (functions/events/parse-mime.ts)';

function refuse() {
  throw new Error(NOT_INCLUDED);
}

class UnusedLinkifier {
  constructor(schemas, options) {
    /** What mailparser configured, kept only so a debugger shows it. */
    this.configured = [];
    if (schemas !== undefined || options !== undefined) this.configured.push(['new', schemas, options]);
  }
  add(schema, definition) {
    this.configured.push(['add', schema, definition]);
    return this;
  }
  set(options) {
    this.configured.push(['set', options]);
    return this;
  }
  tlds(list, keepOld) {
    this.configured.push(['tlds', Array.isArray(list) ? list.length : list, keepOld]);
    return this;
  }
}
for (const method of ['test', 'pretest', 'testSchemaAt', 'match', 'matchAtStart', 'normalize', 'onCompile']) {
  UnusedLinkifier.prototype[method] = refuse;
}

/** linkify-it's export: a factory that also works with `new`. */
function linkifyIt(schemas, options) {
  return new UnusedLinkifier(schemas, options);
}

module.exports = linkifyIt;
module.exports.NOT_INCLUDED = NOT_INCLUDED;
