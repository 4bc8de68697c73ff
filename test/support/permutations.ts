/** Every order of a list: for folding that must not depend on arrival order. */
export const permutations = <T>(list: T[]): T[][] =>
  list.length <= 1 ? [list] : list.flatMap((x, i) => permutations([...list.slice(0, i), ...list.slice(i + 1)]).map((p) => [x, ...p]));
