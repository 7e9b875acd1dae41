// Every method the RPC socket answers, in the order rpc_get_methods lists them.
import type { RpcMethod } from '../table.js';
import { frameworkWaitInit, rpcGetMethods, spdkGetVersion } from './info.js';
import {
  nvmfCreateTransport,
  nvmfGetStats,
  nvmfGetSubsystems,
  nvmfGetTransports,
  nvmfSubsystemGetControllers,
  nvmfSubsystemGetListeners,
  nvmfSubsystemGetQpairs,
} from './nvmf-info.js';
import { bdevAioCreate, bdevAioDelete, bdevGetBdevs, bdevMallocCreate, bdevMallocDelete, bdevUringCreate, bdevUringDelete } from './bdev.js';
import { nvmfCreateSubsystem, nvmfDeleteSubsystem, nvmfSubsystemAddNs, nvmfSubsystemRemoveNs } from './subsystem.js';
import { bdevAioRescan, bdevUringRescan, nvmetdNamespaceResize } from './resize.js';
import {
  nvmfSubsystemAddHost,
  nvmfSubsystemAddListener,
  nvmfSubsystemAllowAnyHost,
  nvmfSubsystemRemoveHost,
  nvmfSubsystemRemoveListener,
} from './access.js';
import { nvmfSubsystemListenerSetAnaState } from './ana.js';
import { nvmetdGetConfig, nvmetdReload, nvmetdSaveConfig } from './config.js';
import { frameworkGetConfig, frameworkGetSubsystems } from './spdk-config.js';

export const ALL_METHODS: readonly RpcMethod[] = [
  spdkGetVersion,
  rpcGetMethods,
  frameworkWaitInit,
  frameworkGetSubsystems,
  frameworkGetConfig,
  bdevGetBdevs,
  bdevMallocCreate,
  bdevMallocDelete,
  bdevAioCreate,
  bdevAioDelete,
  bdevAioRescan,
  bdevUringCreate,
  bdevUringDelete,
  bdevUringRescan,
  nvmfCreateTransport,
  nvmfGetTransports,
  nvmfGetSubsystems,
  nvmfCreateSubsystem,
  nvmfDeleteSubsystem,
  nvmfSubsystemAddListener,
  nvmfSubsystemRemoveListener,
  nvmfSubsystemListenerSetAnaState,
  nvmfSubsystemAddNs,
  nvmfSubsystemRemoveNs,
  nvmfSubsystemAddHost,
  nvmfSubsystemRemoveHost,
  nvmfSubsystemAllowAnyHost,
  nvmfSubsystemGetControllers,
  nvmfSubsystemGetQpairs,
  nvmfSubsystemGetListeners,
  nvmfGetStats,
  nvmetdNamespaceResize,
  nvmetdGetConfig,
  nvmetdSaveConfig,
  nvmetdReload,
];
