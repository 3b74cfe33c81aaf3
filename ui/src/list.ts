// The invoice list's state: keyset pages appended as the user scrolls, the selection and
// the keyboard focus. No DOM here, so it is unit-tested; screens/invoices.ts renders it.

export interface PageOf<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Keyed {
  id: string;
}

export const ROW_HEIGHT = 30;

export class KeysetList<T extends Keyed> {
  rows: T[] = [];
  selected = new Set<string>();
  focus = 0;
  loading = false;
  done = false;
  error: string | null = null;
  private cursor: string | null = null;
  private generation = 0;

  constructor(private readonly fetchPage: (cursor: string | null) => Promise<PageOf<T>>) {}

  /** Starts over (new filters): drops rows and selection; answers to older requests are ignored. */
  async reset(): Promise<void> {
    this.generation += 1;
    this.rows = [];
    this.selected.clear();
    this.focus = 0;
    this.cursor = null;
    this.done = false;
    this.loading = false;
    this.error = null;
    await this.loadMore();
  }

  /** Fetches the next page unless one is on its way or there are no more. */
  async loadMore(): Promise<void> {
    if (this.loading || this.done) return;
    const gen = this.generation;
    this.loading = true;
    try {
      const page = await this.fetchPage(this.cursor);
      if (gen !== this.generation) return;
      this.rows.push(...page.items);
      this.cursor = page.next_cursor;
      this.done = page.next_cursor === null;
      this.error = null;
    } catch (e) {
      if (gen !== this.generation) return;
      this.error = e instanceof Error ? e.message : String((e as { message?: string }).message ?? e);
    } finally {
      if (gen === this.generation) this.loading = false;
    }
  }

  /** Rows to draw for a viewport, with a margin, and whether to fetch more. */
  window(scrollTop: number, height: number, margin = 10): { start: number; end: number; needMore: boolean } {
    const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - margin);
    const last = Math.min(this.rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + margin);
    const needMore = !this.done && last >= this.rows.length - margin;
    return { start: first, end: last, needMore };
  }

  toggle(id: string): void {
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
  }

  selectAllLoaded(): void {
    for (const r of this.rows) this.selected.add(r.id);
  }

  clearSelection(): void {
    this.selected.clear();
  }

  /** Moves the keyboard focus, staying within the loaded rows. */
  move(delta: number): number {
    if (this.rows.length === 0) return (this.focus = 0);
    this.focus = Math.min(this.rows.length - 1, Math.max(0, this.focus + delta));
    return this.focus;
  }

  focused(): T | undefined {
    return this.rows[this.focus];
  }
}
