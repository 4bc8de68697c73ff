import { CatalogError, type CatalogProblem } from '../../src/catalog/catalog-error.js';
import { parseCatalog } from '../../src/catalog/catalog.js';

/** The problems a catalog is refused with, or [] when it loads. Other errors are rethrown. */
export function catalogProblems(text: string, environment: Record<string, string | undefined> = {}): CatalogProblem[] {
  try {
    parseCatalog(text, environment);
    return [];
  } catch (error) {
    if (error instanceof CatalogError) return error.problems;
    throw error;
  }
}
