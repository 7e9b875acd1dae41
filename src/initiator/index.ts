// The project's NVMe/TCP initiator: used by the integration tests and by `nvmetd perf`.
export { Controller, discover, defaultHostNqn, ADMIN_IN_CAPSULE, type ConnectOptions } from './controller.js';
export { AuthenticationError, CONNECT_ATR, authenticateQueue, parseHostSecret, type HostDhchapOptions } from './auth.js';
export { HostQueue, type QueueOptions, type SubmitOptions } from './queue.js';
export { CommandSlot, SlotPool, SlotState, type SlotCallback } from './slot.js';
export { CommandResult, NvmeError, TransportError, expectOk } from './result.js';
export { RawConnection, prepareSqe, describe, type RawEvent } from './raw.js';
export * as sqe from './sqe-build.js';
export * as pdu from './pdu-build.js';
export * from './identify-parse.js';
export * from './discovery-log.js';
