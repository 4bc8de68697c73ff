import { errors, Serializer } from '@elastic/elasticsearch';

/**
 * A JSON number whose text JavaScript cannot hold exactly (a long beyond 2^53, `1.0`, `1e3`):
 * kept as written, so a document's own value is compared as the store holds it.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
}

const TOKEN = /\s*(?:([{}[\],:])|("(?:[^"\\]|\\.)*")|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?)|(true|false|null))/y;

/**
 * JSON.parse, except that a number whose JavaScript value would not print back as its text is a
 * JsonNumber. Every other number is a plain number, so the rest of a response reads as usual.
 * Pure; throws a SyntaxError for text that is not JSON.
 */
export function parseExactJson(text: string): unknown {
  TOKEN.lastIndex = 0;
  let token: RegExpExecArray | null = null;
  const next = (): RegExpExecArray => {
    token = TOKEN.exec(text);
    if (!token) throw new SyntaxError(`not JSON at offset ${TOKEN.lastIndex}`);
    return token;
  };
  const value = (t: RegExpExecArray): unknown => {
    if (t[2] !== undefined) return JSON.parse(t[2]) as string;
    if (t[3] !== undefined) return String(Number(t[3])) === t[3] ? Number(t[3]) : new JsonNumber(t[3]);
    if (t[4] !== undefined) return t[4] === 'null' ? null : t[4] === 'true';
    if (t[1] === '[') {
      const out: unknown[] = [];
      let t2 = next();
      if (t2[1] === ']') return out;
      for (;;) {
        out.push(value(t2));
        const sep = next()[1];
        if (sep === ']') return out;
        if (sep !== ',') throw new SyntaxError(`expected , or ] at offset ${TOKEN.lastIndex}`);
        t2 = next();
      }
    }
    if (t[1] === '{') {
      // Own properties only, and no __proto__ setter: a document's keys are data.
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      let t2 = next();
      if (t2[1] === '}') return out;
      for (;;) {
        if (t2[2] === undefined) throw new SyntaxError(`expected a key at offset ${TOKEN.lastIndex}`);
        const key = JSON.parse(t2[2]) as string;
        if (next()[1] !== ':') throw new SyntaxError(`expected : at offset ${TOKEN.lastIndex}`);
        out[key] = value(next());
        const sep = next()[1];
        if (sep === '}') return out;
        if (sep !== ',') throw new SyntaxError(`expected , or } at offset ${TOKEN.lastIndex}`);
        t2 = next();
      }
    }
    throw new SyntaxError(`unexpected ${t[0].trim()} at offset ${TOKEN.lastIndex}`);
  };
  const result = value(next());
  if (!/^\s*$/.test(text.slice(TOKEN.lastIndex))) throw new SyntaxError(`trailing text at offset ${TOKEN.lastIndex}`);
  return result;
}

/** The Elasticsearch client's serializer, with responses parsed by parseExactJson. */
export class ExactSerializer extends Serializer {
  override deserialize<T = unknown>(json: string): T {
    try {
      return parseExactJson(json) as T;
    } catch (error) {
      throw new errors.DeserializationError((error as Error).message, json);
    }
  }
}
