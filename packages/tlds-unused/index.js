'use strict';
/**
 * tlds 1.261.0 is a list of every top-level domain (index.json). mailparser 3.14.2 loads it
 * only to hand it to its linkifier, which the bridge replaces with packages/linkify-it-unused
 * (see that package's README): the list is never read, so it is empty here. Frozen, so
 * nothing can quietly start relying on it.
 */
module.exports = Object.freeze([]);
