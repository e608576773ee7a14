// A record being viewed and edited: its last read version and ETag (for
// If-Match), and the outcome of the last save or delete.
import { attempt, type Failure } from "./problem";
import type { Rec, Resource } from "./resources";
import { navigate } from "./router.svelte";

export class EditedRecord {
  record = $state<Rec | null>(null);
  etag = "";
  loading = $state(false);
  saving = $state(false);
  failure = $state<Failure | null>(null);
  saved = $state("");
  #resource: Resource;

  constructor(resource: Resource) {
    this.#resource = resource;
  }

  /** Another record (or a new one): nothing loaded, nothing to report. */
  reset() {
    this.record = null;
    this.etag = "";
    this.failure = null;
    this.saved = "";
  }

  get fieldErrors(): Record<string, string> {
    return this.failure?.fields ?? {};
  }

  async load(id: string) {
    this.loading = true;
    const result = await attempt(this.#resource.get(id));
    this.loading = false;
    if (result.ok) this.#accept(result.data, result.response);
    else {
      this.record = null;
      this.failure = result.failure;
    }
    return result.ok;
  }

  /** Creates (no record yet) or updates with If-Match; true when saved. */
  async save(body: Record<string, unknown>) {
    this.saving = true;
    this.saved = "";
    const current = this.record;
    const result = await attempt(
      current ? this.#resource.update(current.id, body, this.etag) : this.#resource.create(body),
    );
    this.saving = false;
    if (!result.ok) {
      this.failure = result.failure;
      return false;
    }
    this.#accept(result.data, result.response);
    this.saved = current ? "Saved." : "Created.";
    if (!current) navigate(`/${this.#resource.path}/${result.data.id}`, { replace: true });
    return true;
  }

  /** Accepts a record some other call returned (a transition, say). */
  accept(record: Rec, response: Response, saved = "Saved.") {
    this.#accept(record, response);
    this.saved = saved;
  }

  async remove() {
    if (!this.record) return;
    this.saving = true;
    const result = await attempt(this.#resource.remove(this.record.id, this.etag));
    this.saving = false;
    if (!result.ok) {
      this.failure = result.failure;
      return;
    }
    navigate(`/${this.#resource.path}`);
  }

  #accept(record: Rec, response: Response) {
    this.record = record;
    this.etag = response.headers.get("etag") ?? `"${record.version}"`;
    this.failure = null;
  }
}
