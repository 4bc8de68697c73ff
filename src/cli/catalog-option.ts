import type { Command } from 'commander';
import { loadCatalog, type Catalog } from '../catalog/catalog.js';

/** The catalog named by the root command's -c/--config option (however deep the subcommand). */
export function catalogFrom(command: Command): Promise<Catalog> {
  let root = command;
  while (root.parent) root = root.parent;
  const { config } = root.opts<{ config: string }>();
  return loadCatalog(config);
}
