/**
 * OVF XML parsed safely into a small element tree. A descriptor comes from an untrusted package, so: any DOCTYPE or
 * ENTITY declaration is refused before the parser sees the text (no entity expansion, no external entities), the
 * parser runs with entity processing off and a nesting cap, and the five predefined entities and character references
 * are decoded here by hand (they cannot expand). Names keep their prefixes; callers match by local name, because
 * producers use every prefix (ovf:, none, ns0:) for the same namespaces.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ErrorCode } from '../../errors.js';

export interface XmlElement {
  /** Qualified name as written (`ovf:Disk`). */
  qname: string;
  /** Local name (`Disk`). */
  name: string;
  /** Attributes by qualified name, entity references decoded. */
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text, entity references decoded and trimmed. */
  text: string;
}

export class XmlProblem extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
  commentPropName: false,
  maxNestedTags: 64,
});

const UNSAFE = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;

/** Parses a whole document; throws XmlProblem (OVF_UNSAFE_XML, OVF_INVALID_XML, LIMIT_EXCEEDED). */
export function parseXml(text: string): XmlElement {
  const unsafe = UNSAFE.exec(text);
  if (unsafe !== null) {
    throw new XmlProblem('OVF_UNSAFE_XML', `the descriptor declares a ${unsafe[1]!.toUpperCase()} (at character ${unsafe.index}); OVF needs none and it can expand or read files`);
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new XmlProblem('OVF_INVALID_XML', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  let nodes: unknown;
  try {
    nodes = parser.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/nested tags/i.test(message)) throw new XmlProblem('LIMIT_EXCEEDED', `elements nested deeper than 64: ${message}`);
    if (/SECURITY/.test(message)) throw new XmlProblem('OVF_UNSAFE_XML', message);
    throw new XmlProblem('OVF_INVALID_XML', `not well-formed XML: ${message}`);
  }
  const roots = toElements(nodes);
  if (roots.length !== 1) throw new XmlProblem('OVF_INVALID_XML', `a document has one root element, this one has ${roots.length}`);
  return roots[0]!;
}

/** preserveOrder output: a list of `{ tag: [children], ':@': {attributes} }` and `{ '#text': string }` nodes. */
function toElements(nodes: unknown): XmlElement[] {
  const out: XmlElement[] = [];
  if (!Array.isArray(nodes)) return out;
  for (const node of nodes as Record<string, unknown>[]) {
    const tag = Object.keys(node).find((key) => key !== ':@' && key !== '#text');
    if (tag === undefined) continue;
    const body = node[tag];
    const attributes: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [key, value] of Object.entries((node[':@'] ?? {}) as Record<string, unknown>)) {
      attributes[key] = decodeEntities(String(value));
    }
    const texts = Array.isArray(body) ? (body as Record<string, unknown>[]).filter((child) => '#text' in child) : [];
    out.push({
      qname: tag,
      name: localName(tag),
      attributes,
      children: toElements(body),
      text: texts.map((child) => decodeEntities(String(child['#text']))).join('').trim(),
    });
  }
  return out;
}

export function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon === -1 ? qname : qname.slice(colon + 1);
}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** The predefined entities and character references; anything else stays as written (it cannot be defined here). */
function decodeEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, ref: string) => {
    if (ref[0] !== '#') return NAMED[ref]!;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : whole;
  });
}

/** Children with the given local name. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

export function childNamed(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((child) => child.name === name);
}

/** The first element with this local name at any depth below `element` (breadth-first: the shallowest wins). */
export function findNamed(element: XmlElement, name: string): XmlElement | undefined {
  const queue = [...element.children];
  for (let i = 0; i < queue.length; i++) {
    const candidate = queue[i]!;
    if (candidate.name === name) return candidate;
    queue.push(...candidate.children);
  }
  return undefined;
}

/**
 * An attribute by local name, in any namespace prefix (ovf:, vmw:, none). Namespace declarations are not attributes.
 * When two prefixes give the same local name, the unprefixed or ovf: one wins, then document order.
 */
export function attribute(element: XmlElement, name: string): string | undefined {
  let found: string | undefined;
  for (const [qname, value] of Object.entries(element.attributes)) {
    if (qname === 'xmlns' || qname.startsWith('xmlns:') || localName(qname) !== name) continue;
    if (qname === name || qname === `ovf:${name}`) return value;
    found ??= value;
  }
  return found;
}

/** The namespace URI an element's prefix is bound to, looking only at the element itself (enough for the root). */
export function namespaceOf(element: XmlElement): string | undefined {
  const colon = element.qname.indexOf(':');
  const declaration = colon === -1 ? 'xmlns' : `xmlns:${element.qname.slice(0, colon)}`;
  return element.attributes[declaration];
}
