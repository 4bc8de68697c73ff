import type { Command } from 'commander';
import { loadCatalog, type Catalog } from '../catalog/catalog.js';

/** The catalog named by the root command's -c/--config option. */
export function catalogFrom(command: Command): Promise<Catalog> {
  const root = command.parent ?? command;
  const { config } = root.opts<{ config: string }>();
  return loadCatalog(config);
}
