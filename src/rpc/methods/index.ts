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
import { bdevRbdCreate, bdevRbdDelete, bdevRbdGetClustersInfo, bdevRbdRegisterCluster, bdevRbdResize, bdevRbdUnregisterCluster } from './rbd.js';
import { nvmfNsAddHost, nvmfNsRemoveHost } from './ns-hosts.js';
import { keyringFileAddKey, keyringFileRemoveKey, keyringGetKeys } from './keyring.js';
import { nvmfSubsystemSetKeys } from './host-keys.js';
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
  bdevRbdRegisterCluster,
  bdevRbdUnregisterCluster,
  bdevRbdGetClustersInfo,
  bdevRbdCreate,
  bdevRbdDelete,
  bdevRbdResize,
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
  nvmfNsAddHost,
  nvmfNsRemoveHost,
  nvmfSubsystemAddHost,
  nvmfSubsystemRemoveHost,
  nvmfSubsystemAllowAnyHost,
  nvmfSubsystemSetKeys,
  nvmfSubsystemGetControllers,
  nvmfSubsystemGetQpairs,
  nvmfSubsystemGetListeners,
  nvmfGetStats,
  nvmetdNamespaceResize,
  keyringFileAddKey,
  keyringFileRemoveKey,
  keyringGetKeys,
  nvmetdGetConfig,
  nvmetdSaveConfig,
  nvmetdReload,
];
