// One definition per entity: what its search page filters and shows, what
// its detail page edits, and its typed API calls. The generic pages
// (pages/Search.svelte, pages/Detail.svelte) take one of these; promotions
// add their own editor (pages/PromotionDetail.svelte) on the same calls.
import type { FullAutoFill } from "svelte/elements";
import { api, type Schemas } from "./api/client";

export type Rec = Record<string, unknown> & { id: string; version: number };
type Result<T> = Promise<{ data?: T; error?: unknown; response: Response }>;
type Page = { items: Rec[]; nextCursor?: string | null };
type Query = Record<string, string>;

export type FieldKind = "text" | "email" | "password" | "datetime" | "json" | "checkbox" | "textarea";

export interface Field {
  key: string;
  label: string;
  kind: FieldKind;
  required?: boolean;
  maxLength?: number;
  help?: string;
  /** Shown and sent only when the current user is an administrator. */
  adminOnly?: boolean;
  /** The input's autocomplete hint; default off. */
  autocomplete?: FullAutoFill;
}

export interface Filter {
  key: string;
  label: string;
  kind: "text" | "date" | "yesno" | "choice" | "customer" | "product";
  choices?: string[];
}

export interface Column {
  key: string;
  label: string;
  kind?: "datetime" | "yesno";
}

export interface Resource {
  /** The UI's path and the API's: /customers ↔ /api/customers. */
  path: "customers" | "products" | "promotions" | "users";
  objectType: Schemas["AuditEvent"]["objectType"];
  title: string;
  singular: string;
  /** The column whose cell links to the record. */
  label: (r: Rec) => string;
  filters: Filter[];
  columns: Column[];
  fields: Field[];
  creatable: boolean;
  list: (query: Query) => Result<Page>;
  get: (id: string) => Result<Rec>;
  create: (body: Record<string, unknown>) => Result<Rec>;
  update: (id: string, body: Record<string, unknown>, etag: string) => Result<Rec>;
  remove: (id: string, etag: string) => Result<unknown>;
}

const validity: Field[] = [
  { key: "validFrom", label: "Valid from", kind: "datetime", help: "Empty: now" },
  { key: "validThru", label: "Valid thru", kind: "datetime", help: "Empty: a year after valid from" },
];
const validOn: Filter = { key: "validOn", label: "Valid on", kind: "date" };
const validColumns: Column[] = [
  { key: "validFrom", label: "Valid from", kind: "datetime" },
  { key: "validThru", label: "Valid thru", kind: "datetime" },
];
const extraFields: Field = {
  key: "extraFields",
  label: "Extra fields (JSON)",
  kind: "json",
  help: 'A JSON object, such as {"region": "north"}',
};
const codeField: Field = {
  key: "code",
  label: "Code",
  kind: "text",
  required: true,
  maxLength: 50,
  help: "Letters, digits, - and _; unique",
};
const nameField: Field = { key: "name", label: "Name", kind: "text", required: true, maxLength: 200 };

type ListPath = "/api/customers" | "/api/products" | "/api/promotions" | "/api/users";

/** The five calls of a resource, on the document's paths. The generic pages
 * hold records as plain objects and the server parses them, hence the casts
 * at this one boundary (the typed client checks the paths). */
function calls(list: ListPath): Pick<Resource, "list" | "get" | "create" | "update" | "remove"> {
  const item = `${list}/{id}` as "/api/customers/{id}";
  const id = (id: string) => ({ path: { id } });
  const ifMatch = (id: string, etag: string) => ({ path: { id }, header: { "If-Match": etag } });
  return {
    list: (query) => api.GET(list as "/api/customers", { params: { query } }) as Result<Page>,
    get: (i) => api.GET(item, { params: id(i) }) as Result<Rec>,
    create: (body) => api.POST(list as "/api/customers", { body: body as never }) as Result<Rec>,
    update: (i, body, etag) => api.PUT(item, { params: ifMatch(i, etag), body: body as never }) as Result<Rec>,
    remove: (i, etag) => api.DELETE(item, { params: ifMatch(i, etag) }),
  };
}

export const customers: Resource = {
  path: "customers",
  objectType: "customer",
  title: "Customers",
  singular: "customer",
  label: (r) => String(r.name),
  filters: [{ key: "q", label: "Name contains", kind: "text" }, { key: "code", label: "Code", kind: "text" }, validOn],
  columns: [{ key: "code", label: "Code" }, { key: "name", label: "Name" }, ...validColumns],
  fields: [codeField, nameField, ...validity, extraFields],
  creatable: true,
  ...calls("/api/customers"),
};

export const products: Resource = {
  path: "products",
  objectType: "product",
  title: "Products",
  singular: "product",
  label: (r) => String(r.name),
  filters: [
    { key: "q", label: "Name contains", kind: "text" },
    { key: "code", label: "Code", kind: "text" },
    { key: "hierarchyLevel", label: "Hierarchy level", kind: "text" },
    validOn,
  ],
  columns: [
    { key: "code", label: "Code" },
    { key: "name", label: "Name" },
    { key: "hierarchyLevel", label: "Level" },
    ...validColumns,
  ],
  fields: [
    codeField,
    nameField,
    { key: "hierarchyLevel", label: "Hierarchy level", kind: "text", required: true, maxLength: 50, help: "Such as sku or cat" },
    ...validity,
    extraFields,
  ],
  creatable: true,
  ...calls("/api/products"),
};

export const promotions: Resource = {
  path: "promotions",
  objectType: "promotion",
  title: "Promotions",
  singular: "promotion",
  label: (r) => String(r.name),
  filters: [
    { key: "q", label: "Name or description contains", kind: "text" },
    { key: "customerId", label: "Customer", kind: "customer" },
    { key: "productId", label: "Product", kind: "product" },
    { key: "approvalStatus", label: "Status", kind: "choice", choices: ["draft", "submitted", "approved", "rejected"] },
    { key: "active", label: "Active", kind: "yesno" },
    validOn,
  ],
  columns: [
    { key: "name", label: "Name" },
    { key: "customerName", label: "Customer" },
    { key: "approvalStatus", label: "Status" },
    { key: "active", label: "Active", kind: "yesno" },
    ...validColumns,
  ],
  fields: [], // pages/PromotionDetail.svelte
  creatable: true,
  ...calls("/api/promotions"),
};

export const users: Resource = {
  path: "users",
  objectType: "user",
  title: "Users",
  singular: "user",
  label: (r) => String(r.name),
  filters: [
    { key: "q", label: "Name or email contains", kind: "text" },
    { key: "email", label: "Email", kind: "text" },
    { key: "active", label: "Active", kind: "yesno" },
    { key: "admin", label: "Administrator", kind: "yesno" },
    validOn,
  ],
  columns: [
    { key: "name", label: "Name" },
    { key: "email", label: "Email" },
    { key: "active", label: "Active", kind: "yesno" },
    { key: "admin", label: "Admin", kind: "yesno" },
  ],
  fields: [
    { key: "firstName", label: "First name", kind: "text", required: true, maxLength: 100 },
    { key: "lastName", label: "Last name", kind: "text", required: true, maxLength: 100 },
    { key: "email", label: "Email", kind: "email", required: true, maxLength: 254 },
    { key: "company", label: "Company", kind: "text", maxLength: 255 },
    { key: "active", label: "Active", kind: "checkbox", adminOnly: true },
    { key: "admin", label: "Administrator", kind: "checkbox", adminOnly: true },
    ...validity.map((f) => ({ ...f, adminOnly: true })),
  ],
  creatable: false, // users register themselves
  ...calls("/api/users"),
};
