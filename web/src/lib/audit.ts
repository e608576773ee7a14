// Audit events as people read them: who (a name, not an id), and for an
// update only the fields that changed, before → after.
import { api, type Schemas } from "./api/client";

export type AuditEvent = Schemas["AuditEvent"];

export interface Change {
  /** The field's name as people read it (`approval status`). */
  field: string;
  /** The field's key in the record (`approvalStatus`). */
  key: string;
  /** Absent when the event has no such side (a create has no before). */
  before?: unknown;
  after?: unknown;
}

// What every write changes; listing them would hide what the user did.
const BOOKKEEPING = new Set(["version", "updatedAt", "updatedBy"]);

export function changes(event: AuditEvent): Change[] {
  const before = (event.before ?? {}) as Record<string, unknown>;
  const after = (event.after ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: Change[] = [];
  for (const key of keys) {
    if (BOOKKEEPING.has(key)) continue;
    const b = JSON.stringify(before[key] ?? null);
    const a = JSON.stringify(after[key] ?? null);
    if (b === a) continue;
    out.push({
      field: humanize(key),
      key,
      ...(event.before ? { before: before[key] ?? null } : {}),
      ...(event.after ? { after: after[key] ?? null } : {}),
    });
  }
  return out.sort((x, y) => x.field.localeCompare(y.field));
}

/** `approvalStatus` → `approval status`. */
function humanize(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

const names = new Map<string, Promise<string>>();

/** A user's name for an audit actor (admins may read every user). */
export function actorName(id: string): Promise<string> {
  let name = names.get(id);
  if (!name) {
    name = api
      .GET("/api/users/{id}", { params: { path: { id } } })
      .then(({ data }) => (data ? `${data.name} <${data.email}>` : id))
      .catch(() => id);
    names.set(id, name);
  }
  return name;
}
