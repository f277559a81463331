/** Empty: mailparser hands this list only to its (unused) linkifier. See packages/linkify-it-unused. */
declare const tlds: readonly string[];
export = tlds;
