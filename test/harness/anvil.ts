/**
 * The tests' Anvil harness. The implementation lives in coordinator/chain/anvil.ts because the
 * demo and `fedproof chain serve` start the same chain in production code.
 */
export {
  type AnvilAccount,
  AnvilError,
  anvilAccounts,
  anvilMnemonic,
  resolveAnvilBinary,
  type StartAnvilParameters,
  type StartAnvilReturnType,
  startAnvil,
} from "../../cli/demo/anvil.js";
