// The error every parser and derivation of this folder throws for bad input: its message says which
// part is wrong and never contains key material.
export class AuthKeyError extends Error {
  override readonly name = 'AuthKeyError';
}
