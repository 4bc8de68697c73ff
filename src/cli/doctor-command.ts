import type { Command } from 'commander';
import { checkElasticsearch } from '../setup/elasticsearch-checks.js';
import { checkKafka } from '../setup/kafka-checks.js';
import { checkPatterns } from '../setup/pattern-checks.js';
import { checkPseudonymization } from '../setup/pseudonymization-checks.js';
import { checkRequestHandlers } from '../setup/request-handler-checks.js';
import { checkTrackerExposure } from '../setup/tracker-checks.js';
import { checkRequests } from '../setup/request-checks.js';
import { diagnose, connectSource } from '../setup/source-session.js';
import { catalogFrom } from './catalog-option.js';

/** `lethe doctor`: checks the live database against the catalog; exit 1 on any problem. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the primary database against the catalog (wal_level, publication, replica identity, slot and its lag), the erasure log\'s retention against the backups, how each Elasticsearch target\'s match field is matched, the tables privacy requests erase (onRequest) and their foreign keys, the hmac key, who can reach the tracker\'s API, and privacy requests\' secret, SMTP server and links')
    .action(async (_options: unknown, command: Command) => {
      const catalog = await catalogFrom(command);
      const db = await connectSource(catalog);
      try {
        const findings = [...(await diagnose(db, catalog)), ...(await checkPatterns(db, catalog)), ...(await checkRequestHandlers(db, catalog)), ...(await checkKafka(catalog)), ...(await checkElasticsearch(catalog)), ...checkPseudonymization(catalog), ...checkTrackerExposure(catalog), ...(await checkRequests(catalog))];
        for (const f of findings) {
          const mark = f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'warn' : 'FAIL';
          const fix = f.fix ? ` -- fix: ${f.fix}${f.initFixes ? ' (lethe init does this)' : ''}` : '';
          process.stdout.write(`${mark} ${f.subject}: ${f.message}${fix}\n`);
        }
        const problems = findings.filter((f) => f.level === 'problem').length;
        process.stdout.write(problems === 0 ? 'all checks passed\n' : `${problems} problem(s)\n`);
        if (problems > 0) process.exitCode = 1;
      } finally {
        await db.end();
      }
    });
}

