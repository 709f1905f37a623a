#!/usr/bin/env node
import { CommanderError, Command, Option } from 'commander';
import { registerAccount } from './commands/account.js';
import { registerAdmin } from './commands/admin.js';
import { registerAuth } from './commands/auth.js';
import { registerCompletion } from './commands/completion.js';
import { registerVm } from './commands/vm.js';
import { describeFailure, EXIT } from './errors.js';
import { Runtime } from './runtime.js';

const program = new Command('vmctl')
  .description(
    'The VM Platform from a terminal or a script. Exit codes: 0 ok, 1 other error, 2 usage, 3 auth, 4 not found, 5 conflict, 6 insufficient credits or quota, 7 timeout.',
  )
  .version('0.1.0')
  .addOption(new Option('-o, --output <format>', 'table for people, json for scripts').choices(['table', 'json']).default('table'))
  .option('--context <name>', 'the stored context to use (default: the current one; or $VMCTL_CONTEXT)')
  .option('--request-timeout <seconds>', "each HTTP request's deadline", '30')
  .showHelpAfterError('(vmctl --help for usage)')
  .exitOverride();

const rt = new Runtime(program);
registerAuth(program, rt);
registerVm(program, rt);
registerAccount(program, rt);
registerAdmin(program, rt);
registerCompletion(program);

function exitWith(code: number): never {
  process.exit(code);
}

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end with exit code 0; every other commander error is a usage error.
    exitWith(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const failure = describeFailure(err);
  if (program.opts<{ output: string }>().output === 'json')
    process.stderr.write(`${JSON.stringify({ error: failure.message, exit_code: failure.exitCode, details: failure.details })}\n`);
  else process.stderr.write(`vmctl: ${failure.message}\n`);
  exitWith(failure.exitCode);
}
