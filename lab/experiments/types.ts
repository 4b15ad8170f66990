// An experiment of the notes: it builds its lab, prints what the notes show,
// and ends with a one-line verdict. Tests run the same functions.

export interface Verdict {
  ok: boolean;
  /** One line: what the experiment showed. */
  summary: string;
  /** Figures worth asserting on in tests. */
  facts: Record<string, unknown>;
}

export interface ExperimentContext {
  /** Prints a line (the terminal in `npm run lab`, a buffer in tests). */
  say(line: string): void;
  /** Lab tag for namespace prefixes. */
  tag?: string;
}

export interface Experiment {
  name: string;
  title: string;
  run(ctx: ExperimentContext): Promise<Verdict>;
}
