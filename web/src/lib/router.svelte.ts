// The page a path shows. The app is one page (the `web` component answers
// every non-API path with index.html), so navigation is history.pushState
// plus this table; a same-origin <a href> click is a navigation.

export type Params = Record<string, string>;

export interface Route<P> {
  pattern: string; // "/customers/:id"
  page: P;
}

export interface Match<P> {
  page: P;
  params: Params;
  path: string;
  query: URLSearchParams;
}

class Location {
  path = $state(window.location.pathname);
  search = $state(window.location.search);

  sync() {
    this.path = window.location.pathname;
    this.search = window.location.search;
  }
}

export const location = new Location();

/** The first route whose pattern matches `path`, with its `:params`. */
export function match<P>(routes: Route<P>[], path: string, search: string): Match<P> | null {
  const segments = path.split("/").filter(Boolean);
  for (const route of routes) {
    const parts = route.pattern.split("/").filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Params = {};
    const ok = parts.every((part, i) => {
      const segment = decodeURIComponent(segments[i]!);
      if (part.startsWith(":")) {
        params[part.slice(1)] = segment;
        return true;
      }
      return part === segment;
    });
    if (ok) return { page: route.page, params, path, query: new URLSearchParams(search) };
  }
  return null;
}

export function navigate(to: string, { replace = false } = {}) {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  location.sync();
  window.scrollTo(0, 0);
}

/** The path a login should return to: a local path, never another origin. */
export function safeReturnPath(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function startRouter() {
  window.addEventListener("popstate", () => location.sync());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
}
