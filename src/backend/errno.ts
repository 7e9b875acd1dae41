// Maps a backend errno to the NVMe completion status the host should see.
import { Generic, Media, SCT, status } from '../spec/status.js';

const EPERM = 1;
const EIO = 5;
const EACCES = 13;
const ENOSPC = 28;
const EROFS = 30;
const EDQUOT = 122;

export function errnoToNvmeStatus(errno: number, op: 'read' | 'write' | 'other'): number {
  switch (errno) {
    case EIO:
      if (op === 'read') return status(SCT.MEDIA, Media.UNRECOVERED_READ_ERROR);
      if (op === 'write') return status(SCT.MEDIA, Media.WRITE_FAULT);
      return status(SCT.GENERIC, Generic.INTERNAL_ERROR);
    case ENOSPC:
    case EDQUOT:
      return status(SCT.GENERIC, Generic.CAPACITY_EXCEEDED, true);
    case EROFS:
    case EACCES:
    case EPERM:
      if (op === 'write') return status(SCT.GENERIC, Generic.NS_WRITE_PROTECTED, true);
      return status(SCT.GENERIC, Generic.INTERNAL_ERROR);
    default:
      return status(SCT.GENERIC, Generic.INTERNAL_ERROR);
  }
}
