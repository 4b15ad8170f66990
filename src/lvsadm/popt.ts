// The slice of popt 1.19 that ipvsadm relies on, reproduced so lvsadm accepts
// exactly the same command lines: short-option clusters (`-lnc`), attached
// arguments (`-w5`, `-p=10`), `--long=value`, optional arguments that are
// only taken when the next word does not start with '-', `--` ending option
// processing, and leftovers (positional words) collected for poptGetArg.

export type ArgKind = 'none' | 'string' | 'optional';

export interface PoptOption {
  long?: string;
  short?: string;
  arg: ArgKind;
  val: number | string;
}

export const POPT_ERROR_NOARG = -10;
export const POPT_ERROR_BADOPT = -11;
export const POPT_ERROR_UNWANTEDARG = -12;

export function poptStrerror(code: number): string {
  switch (code) {
    case POPT_ERROR_NOARG: return 'missing argument';
    case POPT_ERROR_BADOPT: return 'unknown option';
    case POPT_ERROR_UNWANTEDARG: return 'option does not take an argument';
    default: return 'unknown error';
  }
}

export type PoptResult =
  | { kind: 'opt'; val: number | string; arg: string | null }
  | { kind: 'end' }
  | { kind: 'error'; code: number };

export class Popt {
  private next = 1;
  private nextCharArg: string | null = null;
  private restLeftover = false;
  private readonly leftovers: string[] = [];
  private leftIdx = 0;

  constructor(private readonly argv: readonly string[], private readonly table: readonly PoptOption[]) {}

  /** poptBadOption(POPT_BADOPTION_NOALIAS): the whole argv word being parsed. */
  badOption(): string {
    return this.argv[this.next - 1] ?? '';
  }

  /** poptGetArg: the next leftover word. */
  getArg(): string | null {
    return this.leftIdx < this.leftovers.length ? this.leftovers[this.leftIdx++]! : null;
  }

  getNextOpt(): PoptResult {
    for (;;) {
      let opt: PoptOption | undefined;
      let longArg: string | null = null;
      if (this.nextCharArg === null) {
        if (this.next >= this.argv.length) return { kind: 'end' };
        const word = this.argv[this.next++]!;
        if (this.restLeftover || !word.startsWith('-') || word === '-') {
          this.leftovers.push(word);
          continue;
        }
        if (word === '--') { this.restLeftover = true; continue; }
        if (word.startsWith('--')) {
          const body = word.slice(2);
          const eq = body.indexOf('=');
          const name = eq >= 0 ? body.slice(0, eq) : body;
          if (eq >= 0) longArg = body.slice(eq + 1);
          opt = this.table.find((o) => o.long === name);
          if (!opt) return { kind: 'error', code: POPT_ERROR_BADOPT };
        } else {
          // A single dash never names a long option here (no POPT_ARGFLAG_ONEDASH).
          this.nextCharArg = word.slice(1);
        }
      }
      if (!opt) {
        const cluster = this.nextCharArg!;
        this.nextCharArg = null;
        const ch = cluster[0]!;
        opt = this.table.find((o) => o.short === ch);
        if (!opt) return { kind: 'error', code: POPT_ERROR_BADOPT };
        const rest = cluster.slice(1);
        if (opt.arg === 'none') {
          if (rest.startsWith('=')) return { kind: 'error', code: POPT_ERROR_UNWANTEDARG };
          if (rest !== '') this.nextCharArg = rest;
        } else if (rest !== '') {
          // The rest of the word is the argument (`-w5`, `-p=10`, even `-p=`).
          longArg = rest.startsWith('=') ? rest.slice(1) : rest;
        }
      }
      if (opt.arg === 'none') {
        if (longArg !== null) return { kind: 'error', code: POPT_ERROR_UNWANTEDARG };
        return { kind: 'opt', val: opt.val, arg: null };
      }
      let arg: string | null;
      if (longArg !== null) {
        arg = longArg;
      } else if (this.next >= this.argv.length) {
        if (opt.arg !== 'optional') return { kind: 'error', code: POPT_ERROR_NOARG };
        arg = null;
      } else if (opt.arg === 'optional' && this.argv[this.next]!.startsWith('-')) {
        arg = null;
      } else {
        arg = this.argv[this.next++]!;
      }
      return { kind: 'opt', val: opt.val, arg };
    }
  }
}
