import { describe, expect, it } from 'vitest';
import { heapLimitWarning, RECOMMENDED_HEAP_MIB } from '../../src/cli/heap-limit.js';

describe('heapLimitWarning', () => {
  it('warns, naming the flag and the default limit, when no heap limit was given', () => {
    const warning = heapLimitWarning([], undefined, 4144 * 2 ** 20);
    expect(warning).toContain('4144 MiB');
    expect(warning).toContain(`--max-old-space-size=${RECOMMENDED_HEAP_MIB}`);
    expect(heapLimitWarning(['--enable-source-maps'], '--trace-warnings', 2 ** 32)).toBeDefined();
  });

  it('says nothing when a limit was given on the command line or in NODE_OPTIONS, whatever its value', () => {
    expect(heapLimitWarning(['--max-old-space-size=512'], undefined, 2 ** 29)).toBeUndefined();
    expect(heapLimitWarning([], '--enable-source-maps --max_old_space_size=160', 2 ** 27)).toBeUndefined();
    // A flag that only looks alike is not one.
    expect(heapLimitWarning(['--max-old-space-size-percentage=50'], undefined, 2 ** 32)).toBeDefined();
  });
});
