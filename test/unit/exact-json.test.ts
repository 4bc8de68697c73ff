import { describe, expect, it } from 'vitest';
import { JsonNumber, parseExactJson } from '../../connectors/exact-json.js';

describe('parseExactJson', () => {
  it('parses what JSON.parse parses, keeping numbers JavaScript would change as written', () => {
    const text = '{"a":[1,-2.5,0,1.5e-7],"b":{"c":"x\\"y\\u00e9","d":null,"e":true,"f":false},"g":[]," h ":{}}';
    expect(parseExactJson(text)).toEqual(JSON.parse(text));
    const exact = parseExactJson('[9007199254740993, 9007199254740992, 1.0, 1e3, -0, 18446744073709551615, 0.1]') as unknown[];
    expect(exact[0]).toEqual(new JsonNumber('9007199254740993'));
    expect(exact[1]).toBe(9007199254740992);
    expect(exact.slice(2, 6)).toEqual([new JsonNumber('1.0'), new JsonNumber('1e3'), new JsonNumber('-0'), new JsonNumber('18446744073709551615')]);
    expect(exact[6]).toBe(0.1);
  });

  it('treats __proto__ as an ordinary key', () => {
    const parsed = parseExactJson('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses text that is not JSON', () => {
    for (const bad of ['', '{', '[1,]', '{"a" 1}', '01', '[1] x', "{'a':1}", 'nul']) expect(() => parseExactJson(bad), bad).toThrow(SyntaxError);
  });
});
