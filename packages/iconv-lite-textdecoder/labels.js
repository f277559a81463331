'use strict';
/**
 * Charset name → how to decode it. Names are compared the way iconv-lite
 * compares them (lowercase, every character but a-z and 0-9 dropped, a
 * trailing ":YYYY" year dropped), so any spelling iconv-lite accepted for
 * these charsets still resolves.
 *
 * Targets:
 * - a WHATWG encoding name: every label of the Encoding Standard
 *   (https://encoding.spec.whatwg.org/#names-and-labels), plus iconv-lite's
 *   own names for the same encodings (cp936, cp949, cp950, shiftjis, cp932,
 *   eucjp, maccyrillic …). The single-byte ones are decoded from iconv-lite's
 *   tables (single-byte.js), the rest by TextDecoder;
 * - 'latin1': true ISO-8859-1 (bytes 0x80-0x9F are C1 controls). iconv-lite
 *   decodes latin1 that way, while WHATWG maps the label to windows-1252;
 *   libmime already renames iso-8859-1 to windows-1252 before it asks, so
 *   this only keeps a direct decode(buf, 'latin1') as it was;
 * - 'utf16': byte order from the BOM or guessed, as iconv-lite does
 *   (utf16.js); WHATWG's "utf-16" is plain UTF-16LE;
 * - iso-8859-9, iso-8859-11 and tis-620 as iconv-lite reads them (WHATWG
 *   maps them to windows-1254 and windows-874, which differ at 0x80-0x9F);
 * - maccenteuro and macukraine: single-byte charsets the Encoding Standard
 *   lacks (it folds Mac Ukrainian into x-mac-cyrillic, which differs at 0xA2
 *   and 0xB6) and libmime names for x-mac-ce and x-mac-ukrainian.
 *
 * Refused: names iconv-lite knows but that are not a charset a message can
 * be written in (utf7, utf7imap, base64, hex), and UTF-32, which TextDecoder
 * lacks. getCodec() returns a codec for them, because libmime looks their
 * codecs up when it loads (to refuse UTF-7 by identity, and to size the
 * byte-order guess of UTF-16 and UTF-32), but encodingExists() is false and
 * decoding throws, so libmime decodes such text as UTF-8 and marks the
 * stream unsupported, exactly as for a charset nobody knows.
 */

/** iconv-lite's canonical form of a charset name. */
function canonicalize(name) {
  return `${name}`.toLowerCase().replace(/:\d{4}$|[^0-9a-z]/g, '');
}

/** WHATWG encoding → its labels (Encoding Standard, "Names and labels") and iconv-lite's names for it. */
const WHATWG_LABELS = {
  'utf-8': ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8'],
  ibm866: ['866', 'cp866', 'csibm866', 'ibm866'],
  'iso-8859-2': [
    'csisolatin2',
    'iso-8859-2',
    'iso-ir-101',
    'iso8859-2',
    'iso88592',
    'iso_8859-2',
    'iso_8859-2:1987',
    'l2',
    'latin2',
    'cp28592',
  ],
  'iso-8859-3': ['csisolatin3', 'iso-8859-3', 'iso-ir-109', 'iso8859-3', 'iso_8859-3', 'l3', 'latin3', 'cp28593'],
  'iso-8859-4': ['csisolatin4', 'iso-8859-4', 'iso-ir-110', 'iso8859-4', 'iso_8859-4', 'l4', 'latin4', 'cp28594'],
  'iso-8859-5': ['csisolatincyrillic', 'cyrillic', 'iso-8859-5', 'iso-ir-144', 'iso8859-5', 'iso_8859-5', 'cp28595'],
  'iso-8859-6': [
    'arabic',
    'asmo-708',
    'csiso88596e',
    'csiso88596i',
    'csisolatinarabic',
    'ecma-114',
    'iso-8859-6',
    'iso-8859-6-e',
    'iso-8859-6-i',
    'iso-ir-127',
    'iso_8859-6',
    'cp28596',
  ],
  'iso-8859-7': [
    'csisolatingreek',
    'ecma-118',
    'elot_928',
    'greek',
    'greek8',
    'iso-8859-7',
    'iso-ir-126',
    'iso_8859-7',
    'sun_eu_greek',
    'cp28597',
  ],
  'iso-8859-8': [
    'csiso88598e',
    'csisolatinhebrew',
    'hebrew',
    'iso-8859-8',
    'iso-8859-8-e',
    'iso-ir-138',
    'iso_8859-8',
    'visual',
    'cp28598',
  ],
  'iso-8859-8-i': ['csiso88598i', 'iso-8859-8-i', 'logical'],
  'iso-8859-10': ['csisolatin6', 'iso-8859-10', 'iso-ir-157', 'l6', 'latin6'],
  'iso-8859-13': ['iso-8859-13', 'latin7', 'l7'],
  'iso-8859-14': ['iso-8859-14', 'latin8', 'l8'],
  'iso-8859-15': ['csisolatin9', 'iso-8859-15', 'iso_8859-15', 'l9', 'latin9', 'cp28605'],
  'iso-8859-16': ['iso-8859-16', 'iso_8859-16', 'latin10', 'l10', 'iso-ir-226'],
  'koi8-r': ['cskoi8r', 'koi', 'koi8', 'koi8-r', 'koi8_r'],
  'koi8-u': ['koi8-ru', 'koi8-u'],
  macintosh: ['csmacintosh', 'mac', 'macintosh', 'x-mac-roman', 'macroman'],
  'windows-874': ['dos-874', 'windows-874', 'cp874', 'win874'],
  'windows-1250': ['cp1250', 'windows-1250', 'x-cp1250', 'win1250'],
  'windows-1251': ['cp1251', 'windows-1251', 'x-cp1251', 'win1251'],
  'windows-1252': ['ansi_x3.4-1968', 'ascii', 'cp1252', 'us-ascii', 'windows-1252', 'x-cp1252', 'win1252', 'usascii'],
  'windows-1253': ['cp1253', 'windows-1253', 'x-cp1253', 'win1253'],
  'windows-1254': ['cp1254', 'windows-1254', 'x-cp1254', 'win1254'],
  'windows-1255': ['cp1255', 'windows-1255', 'x-cp1255', 'win1255'],
  'windows-1256': ['cp1256', 'windows-1256', 'x-cp1256', 'win1256'],
  'windows-1257': ['cp1257', 'windows-1257', 'x-cp1257', 'win1257'],
  'windows-1258': ['cp1258', 'windows-1258', 'x-cp1258', 'win1258'],
  'x-mac-cyrillic': ['x-mac-cyrillic', 'maccyrillic'],
  gbk: [
    'chinese',
    'csgb2312',
    'csiso58gb231280',
    'gb2312',
    'gb_2312',
    'gb_2312-80',
    'gbk',
    'iso-ir-58',
    'x-gbk',
    'cp936',
    'ms936',
    'windows-936',
    'euc-cn',
  ],
  gb18030: ['gb18030'],
  big5: ['big5', 'big5-hkscs', 'cn-big5', 'csbig5', 'x-x-big5', 'cp950'],
  'euc-jp': ['cseucpkdfmtjapanese', 'euc-jp', 'x-euc-jp'],
  'iso-2022-jp': ['csiso2022jp', 'iso-2022-jp'],
  shift_jis: ['csshiftjis', 'ms932', 'ms_kanji', 'shift-jis', 'shift_jis', 'sjis', 'windows-31j', 'x-sjis', 'cp932'],
  'euc-kr': [
    'cseuckr',
    'csksc56011987',
    'euc-kr',
    'iso-ir-149',
    'korean',
    'ks_c_5601-1987',
    'ks_c_5601-1989',
    'ksc5601',
    'ksc_5601',
    'windows-949',
    'cp949',
    'ms949',
  ],
  'utf-16be': ['unicodefffe', 'utf-16be'],
  'utf-16le': ['csunicode', 'iso-10646-ucs-2', 'ucs-2', 'unicode', 'unicodefeff', 'utf-16le'],
};

const SPECIAL = {
  latin1: ['latin1', 'l1', 'iso-8859-1', 'iso_8859-1', 'iso-ir-100', 'cp819', 'ibm819', 'csisolatin1', 'cp28591'],
  utf16: ['utf-16', 'utf16'],
  // WHATWG reads these three as their Windows supersets (windows-1254, windows-874), which differ at 0x80-0x9F.
  'iso-8859-9': ['csisolatin5', 'iso-8859-9', 'iso-ir-148', 'iso_8859-9', 'l5', 'latin5', 'cp28599'],
  'iso-8859-11': ['iso-8859-11'],
  'tis-620': ['tis-620'],
  maccenteuro: ['maccenteuro', 'x-mac-ce'],
  macukraine: ['macukraine', 'x-mac-ukrainian'],
  'refused:utf7': ['utf-7', 'unicode-1-1-utf-7', 'csunicode11utf7'],
  'refused:utf7imap': ['utf7imap', 'utf-7-imap'],
  'refused:base64': ['base64'],
  'refused:hex': ['hex'],
  'refused:utf32': ['utf-32', 'utf-32le', 'utf-32be', 'ucs-4', 'ucs4', 'ucs-4le', 'ucs-4be'],
};

/**
 * iconv-lite's other aliases for the charsets above, which the Encoding Standard lacks: Windows code pages
 * (cp20866 is KOI8-R, cp28600 ISO-8859-10), IBM and Microsoft names (ibm878, ms-cyrl), ISO-IR numbers and
 * the ASCII names (iconv-lite's "ascii", read here as WHATWG reads "ascii": windows-1252). Without them such a
 * label was "unknown": the text read as UTF-8 and an EVENT_ERR_CHARSET, where iconv-lite decoded it.
 * test/events/charset-adapter.test.ts walks iconv-lite's alias table and fails on any alias missing here.
 * The bare numbers iconv-lite also takes (20866, 1251) are left out: libmime turns a charset name that
 * starts with digits into "iso-8859-<digits>" before it asks (normalizeCharset), so none reaches here.
 */
const ICONV_LITE_ALIASES = {
  'windows-1250': ['ms-ee'],
  'windows-1251': ['ms-cyrl'],
  'windows-1252': [
    'ms-ansi',
    'ascii-8bit',
    'ansi_x3.4',
    'ansi_x3.4-1986',
    'csascii',
    'cp367',
    'ibm367',
    'iso-ir-6',
    'iso646-us',
    'iso_646.irv',
    'us',
  ],
  'windows-1253': ['ms-greek'],
  'windows-1254': ['ms-turk'],
  'windows-1255': ['ms-hebr'],
  'windows-1256': ['ms-arab'],
  'windows-1257': ['winbaltrim'],
  'koi8-r': ['cp20866', 'ibm878'],
  'koi8-u': ['cp21866', 'ibm1168'],
  'iso-8859-6': ['arabic8'],
  'iso-8859-8': ['hebrew8'],
  'iso-8859-9': ['turkish', 'turkish8'],
  'iso-8859-10': ['cp28600'],
  'iso-8859-11': ['cp28601', 'thai', 'thai8'],
  'iso-8859-13': ['cp28603', 'iso-ir-179'],
  'iso-8859-14': ['cp28604', 'iso-ir-199', 'celtic', 'celtic8', 'iso-celtic'],
  'iso-8859-15': ['iso-ir-203'],
  'iso-8859-16': ['cp28606'],
  'tis-620': ['iso-ir-166', 'tis620-0', 'tis620.2529-1', 'tis620.2533-0'],
  shift_jis: ['ms31j', 'windows-932'],
  gbk: ['gb_2312-1980'],
  big5: ['ms950', 'windows-950'],
};

/** canonical name → target ('utf-8', 'windows-1252', 'latin1', 'utf16', 'refused:utf7' …). */
const TARGETS = new Map();
for (const [target, names] of [
  ...Object.entries(SPECIAL),
  ...Object.entries(WHATWG_LABELS),
  ...Object.entries(ICONV_LITE_ALIASES),
]) {
  for (const name of names) {
    const key = canonicalize(name);
    // SPECIAL goes first and wins: latin1 is not windows-1252 here (see above).
    if (!TARGETS.has(key)) TARGETS.set(key, target);
  }
}

/** The target for a charset name, or undefined when it is not known at all. */
function resolveCharset(name) {
  return TARGETS.get(canonicalize(name));
}

module.exports = { canonicalize, resolveCharset, WHATWG_LABELS };
