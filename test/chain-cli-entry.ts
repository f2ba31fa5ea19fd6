/**
 * A CLI entry point with only the provenance verbs, so their tests run the real commands in a
 * child process (exit codes, stdout, signals) before cli/main.ts registers them.
 */
import { Command } from "commander";
import { registerChainCommand } from "../cli/commands/chain.js";
import { registerJobProvenanceCommand } from "../cli/commands/job-provenance.js";
import { registerVerifyCommand } from "../cli/commands/verify.js";

const program = new Command().name("fedproof").showHelpAfterError();
registerVerifyCommand(program);
registerChainCommand(program);
registerJobProvenanceCommand(program.command("job"));
await program.parseAsync(process.argv);
