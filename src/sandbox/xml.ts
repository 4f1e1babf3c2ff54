/**
 * The EC2 Query protocol's response side: `<ActionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`
 * with a requestId and the result's members under their XML names (lowerCamel; lists as `<name><item>…</item></name>`),
 * and the error envelope `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
 */
export const EC2_API_VERSION = '2016-11-15';
const NAMESPACE = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`;

/** A response member: scalars, nested structures, lists (rendered as items). Undefined members are left out. */
export type XmlValue = string | number | boolean | undefined | XmlValue[] | { [name: string]: XmlValue };

export function responseXml(action: string, requestId: string, result: Record<string, XmlValue>): string {
  const body = Object.entries({ requestId, ...result }).map(([name, value]) => element(name, value)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NAMESPACE}">${body}</${action}Response>`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>' +
    `<Code>${escapeText(code)}</Code><Message>${escapeText(message)}</Message>` +
    `</Error></Errors><RequestID>${escapeText(requestId)}</RequestID></Response>`
  );
}

function element(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  return `<${name}>${content(value)}</${name}>`;
}

function content(value: Exclude<XmlValue, undefined>): string {
  if (Array.isArray(value)) return value.map((item) => element('item', item)).join('');
  if (typeof value === 'object') return Object.entries(value).map(([name, member]) => element(name, member)).join('');
  return escapeText(String(value));
}

export function escapeText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
