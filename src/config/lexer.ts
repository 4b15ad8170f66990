// keepalived.conf's lexical layer, as lib/parser.c's read_line() does it:
// comments, `@id` conditional lines, `$NAME=value` definitions and
// substitution, `include` (globs, brace expansion) and braces split off
// into their own tokens. The result is a tree of statements; what a keyword
// means is parser.ts's business.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Diagnostic, KaErr, SourcePos } from './model.js';

export interface Word {
  text: string;
  pos: SourcePos;
  quoted: boolean;
}

export interface Stmt {
  pos: SourcePos;
  words: Word[];
  /** Present when the statement is followed by `{ … }`. */
  block?: Stmt[];
  blockPos?: SourcePos;
}

export interface LexOptions {
  /** keepalived's -i/--config-id; defaults, as keepalived does, to the host name up to its first dot. */
  configId?: string;
  /** Read a file's text; tests replace it. */
  readFile?: (file: string) => string;
}

type Emit = (pos: SourcePos, severity: Diagnostic['severity'], ka: KaErr, message: string, hint: string) => void;

interface Token {
  kind: 'word' | 'bob' | 'eob' | 'eol';
  word?: Word;
  pos: SourcePos;
}

const MAX_INCLUDE_DEPTH = 32;

export function defaultConfigId(): string {
  return os.hostname().split('.')[0] ?? '';
}

/** Lex and build the statement tree of `file` and everything it includes. */
export function lexConfig(file: string, opts: LexOptions, emit: Emit): Stmt[] {
  const readFile = opts.readFile ?? ((f: string) => fs.readFileSync(f, 'utf8'));
  const configId = opts.configId ?? defaultConfigId();
  const defs = new Map<string, string>([['_HASH', '#'], ['_BANG', '!']]);
  const tokens: Token[] = [];

  const lexFile = (f: string, depth: number, from?: SourcePos): void => {
    let text: string;
    try {
      text = readFile(f);
    } catch (e) {
      emit(from ?? { file: f, line: 0, col: 0 }, 'error', 'FILE_NOT_FOUND',
        `cannot read configuration file ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        'check the path and its permissions');
      return;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      lexLine(f, i + 1, lines[i]!.replace(/\r+$/, ''), depth);
    }
  };

  // keepalived's multi-line definitions: `$NAME=first \` and its continuation
  // lines; `$NAME` at the end of a line expands to all of them, one per line.
  const multi = new Map<string, string[]>();
  let collecting: string[] | undefined;

  const lexLine = (file: string, line: number, raw: string, depth: number): void => {
    let { text, col0 } = decomment(raw, file, line, emit);
    if (collecting) {
      const more = text.endsWith('\\');
      const part = more ? text.slice(0, -1).replace(/[ \t]+$/, '') : text;
      if (part) collecting.push(part);
      if (!more || !text) collecting = undefined;
      return;
    }
    if (!text) return;
    let substituted = false;
    let extra: string[] = [];
    for (let rounds = 0; rounds < 16; rounds++) {
      if (text.startsWith('@')) {
        const neg = text[1] === '^';
        const ofs = neg ? 2 : 1;
        const m = /[ \t]/.exec(text.slice(ofs));
        if (!m) return;
        const id = text.slice(ofs, ofs + m.index);
        if ((id === configId) === neg) return;
        const rest = text.slice(ofs + m.index).replace(/^[ \t]+/, '');
        col0 += text.length - rest.length;
        text = rest;
      }
      if (text.startsWith('$')) {
        const d = /^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/.exec(text);
        if (d) {
          if (d[2]!.endsWith('\\')) {
            const first = d[2]!.slice(0, -1).replace(/[ \t]+$/, '');
            collecting = first ? [first] : [];
            multi.set(d[1]!, collecting);
            defs.delete(d[1]!);
          } else {
            defs.set(d[1]!, d[2]!);
            multi.delete(d[1]!);
          }
          return;
        }
      }
      if (text.startsWith('~SEQ') || text.startsWith('~LST')) {
        const loop = text.startsWith('~SEQ') ? parseSeq(text, defs) : parseLst(text);
        if (typeof loop === 'string') {
          emit({ file, line, col: col0 + 1 }, 'error', 'GENERAL_ERROR', `invalid ${text.slice(0, 4)} '${text}': ${loop}`,
            text.startsWith('~SEQ') ? 'write ~SEQ(VAR, [start,] [step,] end) TEXT' : 'write ~LST(VAR, v1, v2…) TEXT or ~LST({A,B}, {a1,b1}, {a2,b2}) TEXT');
          return;
        }
        if (expanding >= 16) {
          emit({ file, line, col: col0 + 1 }, 'error', 'GENERAL_ERROR', `${text.slice(0, 4)} nested too deep`, 'nest at most 16 loops');
          return;
        }
        expanding++;
        try {
          for (const set of loop.sets) {
            loop.vars.forEach((v, i) => { defs.set(v, set[i] ?? ''); multi.delete(v); });
            lexLine(file, line, loop.text, depth);
          }
        } finally { expanding--; }
        return;
      }
      if (text.startsWith('~')) break;
      if (!text.includes('$')) break;
      const ml = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/.exec(text);
      const lines = ml ? multi.get((ml[1] ?? ml[2])!) : undefined;
      if (ml && lines) {
        const prefix = text.slice(0, ml.index);
        extra = lines.slice(1);
        substituted = true;
        text = decomment(prefix + (lines[0] ?? ''), file, line, emit).text;
        if (!text) break;
        continue;
      }
      const next = substitute(text, defs, file);
      if (next === text) break;
      substituted = true;
      text = decomment(next, file, line, emit).text;
      if (!text) break;
      if (!text.startsWith('@') && !text.includes('$')) break;
    }
    if (text) emitLine(file, line, text, col0, substituted, depth);
    if (extra.length && expanding >= 16) {
      emit({ file, line, col: col0 + 1 }, 'error', 'GENERAL_ERROR', 'multi-line definitions nested too deep', 'look for a definition that expands to itself');
      return;
    }
    expanding++;
    try { for (const e of extra) lexLine(file, line, e, depth); } finally { expanding--; }
  };
  let expanding = 0;

  const emitLine = (file: string, line: number, text: string, col0: number, substituted: boolean, depth: number): void => {
    const pos = (c: number): SourcePos => ({ file, line, col: substituted ? col0 + 1 : col0 + c + 1 });

    const inc = /^include([rmwba]?)[ \t]+(.*)$/.exec(text);
    if (inc) {
      const pattern = inc[2]!.trim();
      const at = pos(0);
      if (depth >= MAX_INCLUDE_DEPTH) {
        emit(at, 'error', 'FATAL', `include nesting deeper than ${MAX_INCLUDE_DEPTH}`, 'look for a file that includes itself');
        return;
      }
      const base = path.isAbsolute(pattern) ? pattern : path.join(path.dirname(file), pattern);
      const files = expandGlob(base);
      if (files.length === 0) {
        // keepalived 2.2.7 -t only prints this, even for includer/includem…
        emit(at, 'warning', 'OK', `include${inc[1]} ${pattern}: no file matches`, 'fix the path or remove the include');
      }
      for (const f of files) lexFile(f, depth + 1, at);
      return;
    }
    tokenize(text, pos, tokens, emit);
    tokens.push({ kind: 'eol', pos: pos(text.length) });
  };

  lexFile(file, 0);
  return buildTree(tokens, file, emit);
}

/**
 * keepalived's decomment(): strip leading blanks, cut at an unquoted `#` or
 * `!`, unescape `\#` / `\!` outside quotes, strip trailing blanks.
 */
function decomment(raw: string, file: string, line: number, emit: Emit): { text: string; col0: number } {
  const lead = /^[ \t]*/.exec(raw)![0].length;
  let s = raw.slice(lead);
  let quote = false;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') { quote = !quote; out += c; continue; }
    if (c === '\\' && i + 1 < s.length) {
      if (!quote && (s[i + 1] === '#' || s[i + 1] === '!')) { out += s[i + 1]; i++; continue; }
      out += c + s[i + 1]; i++; continue;
    }
    if (!quote && (c === '#' || c === '!')) break;
    out += c;
  }
  if (quote) {
    emit({ file, line, col: lead + 1 }, 'error', 'GENERAL_ERROR', `unterminated quote in '${s}'`, 'close the string with "');
  }
  s = out.replace(/[ \t]+$/, '');
  return { text: s, col0: lead };
}

interface Loop { vars: string[]; sets: string[][]; text: string }

/** keepalived's ~SEQ[x](VAR, [start,] [step,] end) TEXT: TEXT once per value of $VAR. */
function parseSeq(text: string, defs: Map<string, string>): Loop | string {
  const m = /^~SEQ(x?)[ \t]*\([ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*,([^)]*)\)[ \t]*(.*)$/.exec(text);
  if (!m) return 'expected ~SEQ(VAR, …) TEXT';
  const hex = m[1] === 'x';
  const args = m[3]!.split(',').map((a) => a.trim().replace(/^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/, (all, n: string) => defs.get(n) ?? all));
  if (args.length > 3 || args.some((a) => !/^[-+]?(0x[0-9a-f]+|\d+)$/i.test(a))) return 'the bounds must be numbers';
  const n = args.map((a) => Number.parseInt(a, a.toLowerCase().includes('0x') ? 16 : 10));
  let start: number, step: number, end: number;
  if (n.length === 1) { end = n[0]!; step = end < 1 ? -1 : 1; start = end < 0 ? -1 : 1; }
  else if (n.length === 2) { start = n[0]!; end = n[1]!; step = start <= end ? 1 : -1; }
  else {
    [start, step, end] = n as [number, number, number];
    if (!step || (start < end && step < 0) || (start > end && step > 0)) return 'the step does not lead from start to end';
  }
  if (hex && (start < 0 || end < 0)) return '~SEQx is only valid for positive numbers';
  const sets: string[][] = [];
  for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
    sets.push([hex ? v.toString(16) : String(v)]);
    if (sets.length > 65536) return 'more than 65536 values';
  }
  return { vars: [m[2]!], sets, text: m[4]! };
}

/** keepalived's ~LST(VAR, v1, v2…) TEXT and ~LST({A,B}, {a1,b1}, {a2,b2}…) TEXT. */
function parseLst(text: string): Loop | string {
  const open = text.indexOf('(');
  if (!/^~LST[ \t]*\(/.test(text)) return 'expected ~LST(…) TEXT';
  let depth = 0;
  let close = -1;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}') depth--;
    else if (text[i] === ')' && depth === 0) { close = i; break; }
  }
  if (close < 0) return "missing ')'";
  const items: string[][] = [];
  const inner = text.slice(open + 1, close);
  const re = /[ \t]*(?:\{([^}]*)\}|([^,{}]*))[ \t]*(,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < inner.length && (m = re.exec(inner))) {
    items.push(m[1] !== undefined ? m[1].split(',').map((x) => x.trim()) : [m[2]!.trim()]);
    if (m[3] === '') break;
  }
  if (items.length < 2) return 'expected variables and at least one value';
  const vars = items[0]!;
  if (vars.some((v) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v))) return 'bad variable name';
  // A single variable takes one value per item; several take one {…} set per item.
  const sets = vars.length === 1 ? items.slice(1).flatMap((i) => i.map((v) => [v])) : items.slice(1);
  if (sets.some((s2) => s2.length !== vars.length)) return `each value set needs ${vars.length} values`;
  return { vars, sets, text: text.slice(close + 1).trim() };
}

function substitute(text: string, defs: Map<string, string>, file: string): string {
  return text.replace(/\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, _b, braced, bare, offset: number) => {
    const name = (braced ?? bare) as string;
    if (bare !== undefined) {
      // keepalived only substitutes a bare $NAME that ends a word.
      const after = text[offset + all.length];
      if (after !== undefined && !' \t,)'.includes(after)) return all;
    }
    if (name === '_PWD') return path.dirname(path.resolve(file));
    const v = defs.get(name);
    return v === undefined ? all : v;
  });
}

function tokenize(text: string, pos: (c: number) => SourcePos, out: Token[], emit: Emit): void {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === '{') { out.push({ kind: 'bob', pos: pos(i) }); i++; continue; }
    if (c === '}') { out.push({ kind: 'eob', pos: pos(i) }); i++; continue; }
    const start = i;
    let word = '';
    let quoted = false;
    while (i < text.length && !' \t{}'.includes(text[i]!)) {
      if (text[i] === '"') {
        const end = text.indexOf('"', i + 1);
        if (end < 0) {
          emit(pos(i), 'error', 'UNMATCHED_QUOTE', 'missing terminating "', 'close the string with "');
          word += text.slice(i + 1);
          i = text.length;
          break;
        }
        word += text.slice(i + 1, end);
        quoted = true;
        i = end + 1;
      } else {
        word += text[i];
        i++;
      }
    }
    out.push({ kind: 'word', pos: pos(start), word: { text: word, pos: pos(start), quoted } });
  }
}

function buildTree(tokens: Token[], file: string, emit: Emit): Stmt[] {
  const root: Stmt[] = [];
  const stack: Array<{ list: Stmt[]; open: SourcePos }> = [];
  let cur = root;
  let pending: Stmt | undefined; // a statement that may still take a block
  let words: Word[] = [];

  const flush = (): void => {
    if (words.length) {
      const s: Stmt = { pos: words[0]!.pos, words };
      cur.push(s);
      pending = s;
      words = [];
    }
  };

  for (const t of tokens) {
    if (t.kind === 'word') {
      if (!words.length) pending = undefined;
      words.push(t.word!);
    } else if (t.kind === 'eol') {
      flush();
    } else if (t.kind === 'bob') {
      flush();
      if (pending && !pending.block) {
        pending.block = [];
        pending.blockPos = t.pos;
        stack.push({ list: cur, open: t.pos });
        cur = pending.block;
        pending = undefined;
      } else {
        emit(t.pos, 'error', 'UNEXPECTED_BOB', "unexpected '{'", "put '{' right after the keyword that opens the block");
      }
    } else {
      flush();
      pending = undefined;
      const top = stack.pop();
      if (!top) {
        emit(t.pos, 'error', 'UNEXPECTED_EOB', "extra '}' found", 'remove it, or look for a block closed twice');
      } else {
        cur = top.list;
      }
    }
  }
  flush();
  for (const open of stack.reverse()) {
    emit(open.open, 'error', 'MISSING_EOB', "missing '}' for the block opened here", `close the block before the end of ${path.basename(file)}`);
  }
  return root;
}

// ---- include globbing: brace expansion, then * ? [..] per path segment ----

export function expandBraces(s: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{') { if (depth++ === 0) open = i; }
    else if (s[i] === '}' && depth > 0) {
      if (--depth === 0) {
        const inner = s.slice(open + 1, i);
        const alts: string[] = [];
        let d = 0;
        let last = 0;
        for (let j = 0; j < inner.length; j++) {
          if (inner[j] === '{') d++;
          else if (inner[j] === '}') d--;
          else if (inner[j] === ',' && d === 0) { alts.push(inner.slice(last, j)); last = j + 1; }
        }
        alts.push(inner.slice(last));
        if (alts.length < 2) continue;
        const pre = s.slice(0, open);
        const post = s.slice(i + 1);
        return alts.flatMap((a) => expandBraces(pre + a + post));
      }
    }
  }
  return [s];
}

function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let cls = seg.slice(i + 1, end);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Files matching a glob pattern, sorted per pattern as glob(3) sorts them. */
export function expandGlob(pattern: string): string[] {
  const out: string[] = [];
  for (const p of expandBraces(pattern)) {
    const abs = path.resolve(p);
    const segs = abs.split('/').slice(1);
    let bases = ['/'];
    for (let k = 0; k < segs.length; k++) {
      const seg = segs[k]!;
      const last = k === segs.length - 1;
      const next: string[] = [];
      for (const b of bases) {
        if (!/[*?[]/.test(seg)) {
          const cand = path.join(b, seg);
          if (fs.existsSync(cand)) next.push(cand);
          continue;
        }
        let re: RegExp;
        try { re = segmentRegex(seg); } catch { continue; } // a class like [z-a] matches nothing, as in glob(3)
        let names: string[] = [];
        try { names = fs.readdirSync(b); } catch { continue; }
        for (const n of names.sort()) {
          if (n.startsWith('.') && !seg.startsWith('.')) continue;
          if (re.test(n)) next.push(path.join(b, n));
        }
      }
      bases = next;
      if (last) {
        for (const f of bases) {
          try { if (fs.statSync(f).isFile()) out.push(f); } catch { /* vanished */ }
        }
      }
    }
  }
  return out;
}
