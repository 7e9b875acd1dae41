// Finds where one JSON value ends in a byte stream that carries values back to back with no
// delimiter (the JSON-RPC socket's framing). The scanner is resumable: feed it what arrived, it says
// "incomplete" (wait for more), "invalid" (the bytes cannot start or continue a JSON value: a parse
// error, there is no resync point) or "complete" with the offset just past the value. It checks the
// whole grammar as it goes, so garbage is reported as soon as it is seen, not when a closing brace
// never comes. It also counts values the way the reference JSON-RPC server does (every scalar, every
// member name, every object/array start and end), so a request too big to decode can be refused.

export type ScanResult = { kind: 'incomplete' } | { kind: 'invalid'; at: number } | { kind: 'complete'; end: number; values: number };

const enum S {
  Value, // expecting a value (top level, after ':' or ',' in an array, after '[')
  ArrayFirst, // after '[': a value or ']'
  ObjectFirst, // after '{': a name or '}'
  Name, // after ',' in an object: a name
  Colon,
  After, // after a value inside a container: ',' or the closing bracket
  Str,
  StrEsc,
  StrHex,
  Literal,
  NumMinus,
  NumZero,
  NumInt,
  NumDot,
  NumFrac,
  NumE,
  NumESign,
  NumExp,
  Done,
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

export class JsonScanner {
  #state = S.Value;
  /** Open containers: 0x7b '{' or 0x5b '['. */
  readonly #stack: number[] = [];
  /** Whether the string being read is a member name. */
  #strIsName = false;
  #hexLeft = 0;
  #literal = '';
  #literalAt = 0;
  #values = 0;
  /** Bytes of the current buffer already scanned. */
  #pos = 0;

  /** Scans buf from where the last call stopped (buf must start with the same bytes as before). */
  scan(buf: Uint8Array): ScanResult {
    while (this.#pos < buf.length) {
      const c = buf[this.#pos]!;
      const r = this.#step(c);
      if (r === 'invalid') return { kind: 'invalid', at: this.#pos };
      if (r === 'ok') this.#pos++;
      if (this.#state === S.Done) return { kind: 'complete', end: this.#pos, values: this.#values };
    }
    return { kind: 'incomplete' };
  }

  #valueDone(): void {
    this.#values++;
    this.#state = this.#stack.length === 0 ? S.Done : S.After;
  }

  #startValue(c: number): 'ok' | 'invalid' {
    switch (c) {
      case 0x7b: // {
        this.#values++;
        this.#stack.push(c);
        this.#state = S.ObjectFirst;
        return 'ok';
      case 0x5b: // [
        this.#values++;
        this.#stack.push(c);
        this.#state = S.ArrayFirst;
        return 'ok';
      case 0x22: // "
        this.#strIsName = false;
        this.#state = S.Str;
        return 'ok';
      case 0x2d: // -
        this.#state = S.NumMinus;
        return 'ok';
      case 0x30: // 0
        this.#state = S.NumZero;
        return 'ok';
      case 0x74: // t
      case 0x66: // f
      case 0x6e: // n
        this.#literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
        this.#literalAt = 1;
        this.#state = S.Literal;
        return 'ok';
      default:
        if (c >= 0x31 && c <= 0x39) {
          this.#state = S.NumInt;
          return 'ok';
        }
        return 'invalid';
    }
  }

  #close(c: number): 'ok' | 'invalid' {
    const open = this.#stack.pop();
    if ((c === 0x7d && open !== 0x7b) || (c === 0x5d && open !== 0x5b)) return 'invalid';
    this.#valueDone(); // the end marker counts as a value
    return 'ok';
  }

  /** A number ended at byte c (not part of it): count it and let c be read again (a top-level
   * number ends the value: c belongs to what follows). */
  #endNumber(): 'reprocess' {
    this.#valueDone();
    return 'reprocess';
  }

  #step(c: number): 'ok' | 'invalid' | 'reprocess' {
    switch (this.#state) {
      case S.Value:
        if (WS.has(c)) return 'ok';
        return this.#startValue(c);
      case S.ArrayFirst:
        if (WS.has(c)) return 'ok';
        if (c === 0x5d) return this.#close(c);
        return this.#startValue(c);
      case S.ObjectFirst:
      case S.Name:
        if (WS.has(c)) return 'ok';
        if (c === 0x7d && this.#state === S.ObjectFirst) return this.#close(c);
        if (c !== 0x22) return 'invalid';
        this.#strIsName = true;
        this.#state = S.Str;
        return 'ok';
      case S.Colon:
        if (WS.has(c)) return 'ok';
        if (c !== 0x3a) return 'invalid';
        this.#state = S.Value;
        return 'ok';
      case S.After: {
        if (WS.has(c)) return 'ok';
        const top = this.#stack[this.#stack.length - 1];
        if (c === 0x2c) {
          this.#state = top === 0x7b ? S.Name : S.Value;
          return 'ok';
        }
        if (c === 0x7d || c === 0x5d) return this.#close(c);
        return 'invalid';
      }
      case S.Str:
        if (c === 0x22) {
          if (this.#strIsName) {
            this.#values++;
            this.#state = S.Colon;
          } else {
            this.#valueDone();
          }
          return 'ok';
        }
        if (c === 0x5c) this.#state = S.StrEsc;
        else if (c < 0x20) return 'invalid';
        return 'ok';
      case S.StrEsc:
        if (c === 0x75) {
          this.#hexLeft = 4;
          this.#state = S.StrHex;
          return 'ok';
        }
        if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
          this.#state = S.Str;
          return 'ok';
        }
        return 'invalid';
      case S.StrHex: {
        const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
        if (!hex) return 'invalid';
        if (--this.#hexLeft === 0) this.#state = S.Str;
        return 'ok';
      }
      case S.Literal:
        if (c !== this.#literal.charCodeAt(this.#literalAt)) return 'invalid';
        if (++this.#literalAt === this.#literal.length) this.#valueDone();
        return 'ok';
      case S.NumMinus:
        if (c === 0x30) this.#state = S.NumZero;
        else if (c >= 0x31 && c <= 0x39) this.#state = S.NumInt;
        else return 'invalid';
        return 'ok';
      case S.NumZero:
      case S.NumInt:
        if (this.#state === S.NumInt && c >= 0x30 && c <= 0x39) return 'ok';
        if (c === 0x2e) this.#state = S.NumDot;
        else if (c === 0x65 || c === 0x45) this.#state = S.NumE;
        else return this.#endNumber();
        return 'ok';
      case S.NumDot:
        if (c < 0x30 || c > 0x39) return 'invalid';
        this.#state = S.NumFrac;
        return 'ok';
      case S.NumFrac:
        if (c >= 0x30 && c <= 0x39) return 'ok';
        if (c === 0x65 || c === 0x45) {
          this.#state = S.NumE;
          return 'ok';
        }
        return this.#endNumber();
      case S.NumE:
        if (c === 0x2b || c === 0x2d) this.#state = S.NumESign;
        else if (c >= 0x30 && c <= 0x39) this.#state = S.NumExp;
        else return 'invalid';
        return 'ok';
      case S.NumESign:
        if (c < 0x30 || c > 0x39) return 'invalid';
        this.#state = S.NumExp;
        return 'ok';
      case S.NumExp:
        if (c >= 0x30 && c <= 0x39) return 'ok';
        return this.#endNumber();
      default:
        return 'invalid';
    }
  }
}
