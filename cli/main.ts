import { Command } from "commander";
import { registerAttesterCommand } from "./commands/attester.js";
import { registerChainCommand } from "./commands/chain.js";
import { registerCircuitsCommand } from "./commands/circuits.js";
import { registerClientCommand } from "./commands/client.js";
import { registerCoordinatorCommand } from "./commands/coordinator.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerDisputeCommand } from "./commands/dispute.js";
import { registerJobCommands } from "./commands/job.js";
import { registerSimulateCommand } from "./commands/simulate.js";
import { registerVerifyCommand } from "./commands/verify.js";
import { registerWorkerCommand } from "./commands/worker.js";

const program = new Command()
  .name("fedproof")
  .description(
    "Federated learning with zero-knowledge proofs of clipped updates and on-chain provenance",
  )
  .version("0.1.0")
  .showHelpAfterError();

registerDemoCommand(program);
registerCoordinatorCommand(program);
registerWorkerCommand(program);
registerClientCommand(program);
registerSimulateCommand(program);
registerJobCommands(program);
registerVerifyCommand(program);
registerDisputeCommand(program);
registerChainCommand(program);
registerCircuitsCommand(program);
registerAttesterCommand(program);

await program.parseAsync(process.argv);
