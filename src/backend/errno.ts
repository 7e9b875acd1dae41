// Backend results to NVMe status: a backend reports -errno, the controller answers with a status field.
//
// The value returned is the 15-bit Status Field of the completion without the phase bit:
// (SCT << 8) | SC. Codes checked against the Linux tree's include/linux/nvme.h:
//   NVME_SC_INTERNAL 0x006, NVME_SC_NS_WRITE_PROTECTED 0x020, NVME_SC_CAP_EXCEEDED 0x081,
//   NVME_SC_WRITE_FAULT 0x280, NVME_SC_READ_ERROR 0x281.
import { constants as osConstants } from 'node:os';

const E = osConstants.errno;
/** Linux ESHUTDOWN (not among Node's errno constants): librados' EBLOCKLISTED. */
const ESHUTDOWN = 108;

/** Status Code Types. */
export const SCT_GENERIC = 0x0;
export const SCT_MEDIA = 0x2;
export const SCT_PATH = 0x3;

export const NVME_STATUS_SUCCESS = 0x000;
/** Generic: Internal Error. */
export const NVME_STATUS_INTERNAL = (SCT_GENERIC << 8) | 0x06;
/** Generic: Namespace is Write Protected. */
export const NVME_STATUS_NS_WRITE_PROTECTED = (SCT_GENERIC << 8) | 0x20;
/** Generic (NVM command set): Capacity Exceeded. */
export const NVME_STATUS_CAPACITY_EXCEEDED = (SCT_GENERIC << 8) | 0x81;
/** Media and Data Integrity: Write Fault. */
export const NVME_STATUS_WRITE_FAULT = (SCT_MEDIA << 8) | 0x80;
/** Media and Data Integrity: Unrecovered Read Error. */
export const NVME_STATUS_UNRECOVERED_READ_ERROR = (SCT_MEDIA << 8) | 0x81;

/**
 * Path Related: Asymmetric Access Inaccessible (NVME_SC_ANA_INACCESSIBLE 0x302). For a backend that was
 * fenced off its storage (Ceph blocklisted this gateway's client after another gateway took the image
 * over): the host retries the command on another path instead of failing it.
 */
export const NVME_STATUS_ANA_INACCESSIBLE = (SCT_PATH << 8) | 0x02;

/**
 * Status for a failed backend operation. `errno` may be given negated (as backends report it) or not.
 * op: 'read' for Read/Compare data transfers, 'write' for Write (and Write Zeroes/Deallocate when the caller
 * treats them as writes), 'other' for Flush and the rest.
 */
export function errnoToNvmeStatus(errno: number, op: 'read' | 'write' | 'other'): number {
  const e = Math.abs(errno);
  if (e === 0) return NVME_STATUS_SUCCESS;
  if (e === E.EIO) {
    if (op === 'read') return NVME_STATUS_UNRECOVERED_READ_ERROR;
    if (op === 'write') return NVME_STATUS_WRITE_FAULT;
    return NVME_STATUS_INTERNAL;
  }
  if (e === E.ENOSPC) return NVME_STATUS_CAPACITY_EXCEEDED;
  // ESHUTDOWN is how librados reports a blocklisted client (EBLOCKLISTED).
  if (e === ESHUTDOWN) return NVME_STATUS_ANA_INACCESSIBLE;
  if (op === 'write' && (e === E.EROFS || e === E.EACCES || e === E.EPERM)) return NVME_STATUS_NS_WRITE_PROTECTED;
  return NVME_STATUS_INTERNAL;
}
