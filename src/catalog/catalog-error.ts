import { LetheError } from '../errors.js';

export interface CatalogProblem {
  /** Where in the catalog, e.g. `subjects.user.related[1].table`. */
  path: string;
  message: string;
}

/** A catalog Lethe refuses, with every problem found and the path of each bad entry. */
export class CatalogError extends LetheError {
  readonly problems: CatalogProblem[];
  readonly origin: string;

  constructor(origin: string, problems: CatalogProblem[]) {
    super(
      'CATALOG_INVALID',
      `${origin} is not a valid catalog:\n${problems.map((p) => `  ${p.path || '(file)'}: ${p.message}`).join('\n')}`,
    );
    this.problems = problems;
    this.origin = origin;
  }
}
