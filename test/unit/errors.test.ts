import { describe, expect, it } from 'vitest';
import { errorKind, InvariantError, LetheError, reasonOf, RecordError, ServiceUnavailableError, UsageError } from '../../src/errors.js';

describe('errorKind', () => {
  it('a server unavailable is infrastructure, and names the server', () => {
    const error = new ServiceUnavailableError('elasticsearch', 'connect ECONNREFUSED');
    expect(errorKind(error)).toBe('infrastructure');
    expect(error.service).toBe('elasticsearch');
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toBe('elasticsearch: connect ECONNREFUSED');
    expect(error.retriable).toBe(true);
    expect(new ServiceUnavailableError('kafka', 'x', { code: 'KAFKA_DOWN' }).code).toBe('KAFKA_DOWN');
  });

  it("a record's own error is the record's, never retriable", () => {
    const error = new RecordError('UNDECODABLE', 'no magic byte', { cause: new Error('inner') });
    expect(errorKind(error)).toBe('record');
    expect(error.retriable).toBe(false);
    expect(error.code).toBe('UNDECODABLE');
    expect(error.name).toBe('RecordError');
    expect((error.cause as Error).message).toBe('inner');
  });

  it('a broken invariant and the language\'s own errors are the programmer\'s', () => {
    expect(errorKind(new InvariantError('offset tracked twice'))).toBe('programmer');
    expect(new InvariantError('x').code).toBe('INVARIANT');
    expect(new InvariantError('x').retriable).toBe(false);
    expect(errorKind(new TypeError('x is undefined'))).toBe('programmer');
    expect(errorKind(new RangeError('offset never tracked'))).toBe('programmer');
    expect(errorKind(new ReferenceError('y'))).toBe('programmer');
    expect(errorKind(new SyntaxError('z'))).toBe('programmer');
  });

  it('a LetheError is infrastructure when retriable and the record\'s when not', () => {
    expect(errorKind(new LetheError('X', 'timeout', { retriable: true }))).toBe('infrastructure');
    expect(errorKind(new LetheError('X', 'refused'))).toBe('record');
    expect(errorKind(new UsageError('--sink nope'))).toBe('record');
  });

  it('anything no edge translated waits: a plain Error, a string, undefined', () => {
    expect(errorKind(new Error('socket hang up'))).toBe('infrastructure');
    expect(errorKind('boom')).toBe('infrastructure');
    expect(errorKind(undefined)).toBe('infrastructure');
  });
});

describe('reasonOf', () => {
  it('is the message of an Error and the text of anything else', () => {
    expect(reasonOf(new Error('a'))).toBe('a');
    expect(reasonOf('b')).toBe('b');
    expect(reasonOf(42)).toBe('42');
  });
});
