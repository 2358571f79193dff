import { UmbraError } from '../errors.ts'

/**
 * A node of a local test network did not come up: its process exited or
 * printed nothing usable before the ready line, or it found no peer in time.
 * Code `UMBRA_ERR_TESTNET_START`.
 */
export class TestnetStartError extends UmbraError {
  static readonly code = 'UMBRA_ERR_TESTNET_START'
  constructor (message = 'A testnet node failed to start', options?: ErrorOptions) {
    super(message, TestnetStartError.code, options)
    this.name = 'TestnetStartError'
  }
}
