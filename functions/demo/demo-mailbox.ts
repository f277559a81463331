/**
 * The messages of the demo mailbox: a small, varied, deterministic set —
 * plain text, HTML with a text alternative, an attachment, encoded-word
 * headers, a line that needs dot-stuffing — so the demo exercises what a
 * real mailbox would.
 */
const CRLF = '\r\n';

function message(i: number, headers: Record<string, string>, body: string): Buffer {
  const date = new Date(Date.UTC(2026, 10, 1, 9, i, 0)).toUTCString().replace('GMT', '+0000');
  const lines = [
    `Date: ${date}`,
    `Message-ID: <demo-${i}@pop3-bridge.demo>`,
    'MIME-Version: 1.0',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    body,
  ];
  return Buffer.from(lines.join(CRLF).replaceAll(/\r?\n/g, CRLF) + CRLF, 'utf8');
}

export function demoMessages(count = 12): Buffer[] {
  const kinds = [
    (i: number) =>
      message(
        i,
        {
          From: 'Ada <ada@example.test>',
          To: 'support@example.test',
          Subject: `Order #${1000 + i} shipped`,
          'Content-Type': 'text/plain; charset=utf-8',
        },
        `Hello,\n\nyour order #${1000 + i} is on its way.\n.\nThat dot line above was dot-stuffed on the wire.\n\nAda`,
      ),
    (i: number) =>
      message(
        i,
        {
          From: '=?UTF-8?B?0JzQsNGA0LjRjw==?= <maria@example.test>',
          To: 'support@example.test',
          Subject: '=?UTF-8?Q?R=C3=BCckfrage_zur_Rechnung?=',
          'Content-Type': 'multipart/alternative; boundary="alt"',
        },
        `--alt\nContent-Type: text/plain; charset=utf-8\n\nPlain text part ${i}.\n--alt\nContent-Type: text/html; charset=utf-8\n\n<p>HTML part <b>${i}</b>.</p>\n--alt--`,
      ),
    (i: number) =>
      message(
        i,
        {
          From: 'Billing <billing@example.test>',
          To: 'support@example.test',
          Subject: `Invoice ${2026_0000 + i}`,
          'Content-Type': 'multipart/mixed; boundary="mix"',
        },
        `--mix\nContent-Type: text/plain; charset=utf-8\n\nInvoice attached.\n--mix\nContent-Type: application/pdf; name="invoice-${i}.pdf"\nContent-Disposition: attachment; filename="invoice-${i}.pdf"\nContent-Transfer-Encoding: base64\n\n${Buffer.from(`%PDF-1.4 demo invoice ${i}\n`.repeat(40)).toString('base64').replace(/.{76}/g, '$&\n')}\n--mix--`,
      ),
  ];
  return Array.from({ length: count }, (_, i) => kinds[i % kinds.length]!(i + 1));
}
