// The API client, typed from the OpenAPI document the openapi component
// serves (openapi-typescript writes ./schema.d.ts from it at build time).
// Every request carries the access token held in memory; a 401 on a call
// that had one refreshes the session once and retries.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { session } from "../session.svelte";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type User = Schemas["User"];

export const api = createClient<paths>({ baseUrl: "" });

const retries = new Map<string, Request>();

const auth: Middleware = {
  onRequest({ request, id, schemaPath }) {
    if (schemaPath.startsWith("/api/auth/")) return request;
    const token = session.accessToken;
    if (token) {
      request.headers.set("authorization", `Bearer ${token}`);
      retries.set(id, request.clone());
    }
    return request;
  },
  async onResponse({ response, id }) {
    const retry = retries.get(id);
    retries.delete(id);
    if (response.status !== 401 || !retry) return response;
    if (!(await session.refresh())) return response;
    retry.headers.set("authorization", `Bearer ${session.accessToken}`);
    return fetch(retry);
  },
  onError({ id }) {
    retries.delete(id);
  },
};

api.use(auth);

/** The version an ETag names, for If-Match on the next change. */
export function etagOf(response: Response): string | null {
  return response.headers.get("etag");
}
