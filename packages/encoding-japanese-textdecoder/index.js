'use strict';
/**
 * Stands in for encoding-japanese under libmime (package.json "overrides"),
 * so the deliver bundle does not carry its ≈ 90 kB of JIS tables. libmime
 * 5.6.4 makes one call (dist/{esm,cjs}/charset.js, decode()):
 *
 *   convert(bytes, { to: 'UNICODE', from: <charset>, type: 'string' })
 *
 * for a charset matching /^jis|^iso-?2022-?jp|^EUCJP/i. Both are decoded as
 * EUC-JP by TextDecoder, ISO-2022-JP after rewriting it as EUC-JP
 * (iso-2022-jp.js). Anything else throws; libmime then decodes with its
 * iconv-lite (packages/iconv-lite-textdecoder), as it does when
 * encoding-japanese fails. test/events/japanese-adapter.test.ts holds this to
 * the real encoding-japanese 2.5.0.
 */
const { toEucJp } = require('./iso-2022-jp.js');

const ISO_2022_JP = /^jis|^iso-?2022-?jp/i;
const EUC_JP = /^euc-?jp/i;

function convert(data, options) {
  const { to, from, type } = options ?? {};
  if (`${to}`.toUpperCase() !== 'UNICODE' || type !== 'string') {
    throw new Error('encoding-japanese-textdecoder converts to a UNICODE string only');
  }
  const bytes = typeof data === 'string' ? Buffer.from(data, 'binary') : Buffer.from(data);
  if (ISO_2022_JP.test(`${from}`)) return new TextDecoder('euc-jp').decode(toEucJp(bytes));
  if (EUC_JP.test(`${from}`)) return new TextDecoder('euc-jp').decode(bytes);
  throw new Error(`encoding-japanese-textdecoder: no decoder for ${JSON.stringify(`${from}`.slice(0, 64))}`);
}

module.exports = { convert };
