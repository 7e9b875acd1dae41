// NVMe Qualified Names (NVMe base specification, "NVMe Qualified Names"):
//   nqn.yyyy-mm.reverse.domain:anything      (date the naming authority owned the domain)
//   nqn.2014-08.org.nvmexpress:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
// at most 223 bytes of UTF-8.
//
// Names that are not NQNs ("testnqn", common in kernel target guides) are served all the same, as the
// Linux kernel target does: any name of 1 to 223 bytes without NUL (nameProblem). nqnProblem says
// why a name is not a well-formed NQN, for a warning.

export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
export const NQN_MAX_BYTES = 223;

const LABEL = '[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?';
/** Also used by the JSON Schema; the code check below adds the byte length and the uuid form. */
export const NQN_PATTERN = `^nqn\\.[0-9]{4}-(0[1-9]|1[0-2])\\.${LABEL}(\\.${LABEL})*:[^\\u0000-\\u001f\\u007f]+$`;
const NQN_RE = new RegExp(NQN_PATTERN, 'u');
const UUID_NQN_PREFIX = 'nqn.2014-08.org.nvmexpress:uuid:';
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Schema pattern for a subsystem or host name: no NUL (length limits are separate). */
export const NAME_PATTERN = '^[^\\u0000]+$';

/** Why `name` cannot be a subsystem or host name at all (empty, over 223 bytes, a NUL), or null. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > NQN_MAX_BYTES) return `NQN is ${bytes} bytes long, the limit is ${NQN_MAX_BYTES}`;
  if (name.includes('\u0000')) return 'must not contain a NUL character';
  return null;
}

/** The warning for a name that is served although it is not a well-formed NQN. */
export function notNqnWarning(name: string): string | null {
  const problem = nqnProblem(name);
  if (!problem) return null;
  return `${problem}; served anyway, as the Linux kernel target does (hosts and nvme-cli connect with this exact name)`;
}

/** Why `nqn` is not a valid NQN, or null when it is. */
export function nqnProblem(nqn: string): string | null {
  const bytes = Buffer.byteLength(nqn, 'utf8');
  if (bytes > NQN_MAX_BYTES) return `NQN is ${bytes} bytes long, the limit is ${NQN_MAX_BYTES}`;
  if (nqn.startsWith(UUID_NQN_PREFIX)) {
    if (!UUID_RE.test(nqn.slice(UUID_NQN_PREFIX.length))) {
      return `"${nqn}" is not a valid NQN: ${UUID_NQN_PREFIX} must be followed by a UUID`;
    }
    return null;
  }
  if (!NQN_RE.test(nqn)) {
    return `"${nqn}" is not a valid NQN (nqn.yyyy-mm.reverse.domain:name or ${UUID_NQN_PREFIX}UUID)`;
  }
  return null;
}
