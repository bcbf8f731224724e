export { runCli } from './cli.run';
export { EXIT, CliError, RefusedError } from './cli.errors';
export { buildProgram, parseAndRun, type Handlers } from './cli.program';
