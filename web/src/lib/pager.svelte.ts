// A list read page by page through the API's cursor: the rows so far,
// whether more exist, and the state a search page shows.
import type { Failure, Outcome } from "./problem";

type Page<T> = { items: T[]; nextCursor?: string | null };

export class Pager<T> {
  rows = $state<T[]>([]);
  cursor = $state<string | null>(null);
  loading = $state(false);
  /** A search has answered at least once (an empty list is then "no match"). */
  searched = $state(false);
  failure = $state<Failure | null>(null);
  #fetch: (cursor: string | null) => Promise<Outcome<Page<T>>>;

  constructor(fetch: (cursor: string | null) => Promise<Outcome<Page<T>>>) {
    this.#fetch = fetch;
  }

  /** The first page (`more` false) or the next one, appended. */
  async load(more: boolean) {
    this.loading = true;
    const result = await this.#fetch(more ? this.cursor : null);
    this.loading = false;
    this.searched = true;
    if (!result.ok) {
      this.failure = result.failure;
      return;
    }
    this.failure = null;
    this.rows = more ? [...this.rows, ...result.data.items] : result.data.items;
    this.cursor = result.data.nextCursor ?? null;
  }
}
