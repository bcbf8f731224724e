#!/usr/bin/env node
import { HELP, parseCli } from './cli.options.js';
import { startSimulator } from '@s1c/s1-simulator';

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.kind === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (cli.kind === 'error') {
    process.stderr.write(`s1-simulator: invalid arguments\n${cli.message}\n\nRun with --help for the list of flags.\n`);
    process.exitCode = 2;
    return;
  }
  const sim = await startSimulator(cli.options);
  const state = sim.admin.state();
  console.error(
    JSON.stringify({
      level: 'info',
      msg: 's1-simulator listening',
      url: sim.url,
      apiUrl: sim.apiUrl,
      now: state.now,
      counts: state.counts,
      tokens: state.tokens.map((t) => ({ label: t.label, apis: t.apis, accountIds: t.accountIds })),
    }),
  );
  const stop = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 's1-simulator failed to start', error: String(error) }));
  process.exit(1);
});
