// What went wrong, in plain words, with what to do next. The API answers
// every failure with problem+json (type, title, status, detail, and for
// 422 the fields); this turns it into what a page shows.
import type { Problem } from "./api/client";

export interface Failure {
  status: number;
  /** One sentence: what happened. */
  message: string;
  /** What the user can do about it. */
  next: string;
  /** 422: field path (e.g. `products[0].discounts[1].value`) → message. */
  fields: Record<string, string>;
  /** 412: the record changed since it was read. */
  stale: boolean;
}

type Result<T> = { data?: T; error?: unknown; response: Response };
export type Outcome<T> = { ok: true; data: T; response: Response } | { ok: false; failure: Failure };

/** Awaits an API call and sorts it into data or a failure; never throws. */
export async function attempt<T>(call: Promise<Result<T>>): Promise<Outcome<T>> {
  try {
    const { data, error, response } = await call;
    if (response.ok) return { ok: true, data: data as T, response };
    return { ok: false, failure: explain(response, error as Partial<Problem> | undefined) };
  } catch {
    return {
      ok: false,
      failure: failure(0, "The server could not be reached.", "Check your connection and try again."),
    };
  }
}

function failure(status: number, message: string, next: string): Failure {
  return { status, message, next, fields: {}, stale: false };
}

export function explain(response: Response, problem: Partial<Problem> | undefined): Failure {
  const status = response.status;
  const detail = problem?.detail ?? "";
  const retryAfter = Number(response.headers.get("retry-after") ?? "");
  const wait = retryAfter > 0 ? `${retryAfter} second${retryAfter === 1 ? "" : "s"}` : "a moment";
  switch (status) {
    case 400:
      return failure(status, detail || "The request was not understood.", "Check what you entered and try again.");
    case 401:
      return failure(status, "Your session has ended.", "Log in again to continue.");
    case 403:
      return failure(status, detail || "You are not allowed to do this.", "Ask an administrator if you need to.");
    case 404:
      return failure(status, "This record does not exist (any more).", "Someone may have deleted it; go back to the list.");
    case 409:
      return failure(status, detail || "This conflicts with the data as it is now.", "Change what the message names and try again.");
    case 412:
      return {
        ...failure(
          status,
          "Someone else changed this record since you opened it, so your change was not saved.",
          "Reload to see their version, then make your change again.",
        ),
        stale: true,
      };
    case 413:
      return failure(status, "What you sent is too large.", "Shorten it and try again.");
    case 422: {
      const fields: Record<string, string> = {};
      for (const e of problem?.errors ?? []) fields[e.field] = e.message;
      return {
        ...failure(status, "Some fields need fixing.", "Correct the fields marked below and save again."),
        fields,
      };
    }
    case 428:
      return failure(status, "This change needs the record's current version.", "Reload the record and try again.");
    case 429:
      return failure(status, detail || "Too many attempts.", `Wait ${wait} before you try again.`);
    case 503:
      if (problem?.type?.endsWith("outcome-unknown")) {
        return failure(
          status,
          "The connection broke while saving: your change may or may not have been saved.",
          "Reload the record to see whether it was, before you try again.",
        );
      }
      return failure(status, "The service is briefly unavailable.", `Try again in ${wait}.`);
    default:
      return failure(status, detail || `Something went wrong (${status}).`, "Try again; if it keeps happening, tell an administrator.");
  }
}
