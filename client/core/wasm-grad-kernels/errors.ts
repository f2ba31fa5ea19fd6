import { InvalidArgumentError } from "../../../common/errors.js";

/**
 * A gradient kernel was asked for something the composition below cannot do (NCHW data,
 * a kernel it builds on is absent). Kept in this one file so that offering the module
 * upstream means swapping only the base class.
 */
export class WasmGradKernelError extends InvalidArgumentError {
  override name = "WasmGradKernelError";
}
