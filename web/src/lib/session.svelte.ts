// Who is logged in. The access token lives in memory only; the refresh
// token only in its HttpOnly cookie (scoped to /api/auth, which the browser
// sends to refresh and logout), so nothing secret is in reach of a script
// that reads storage or the URL. A reload restores the session through that
// cookie; the access token is renewed a minute before it expires.
import { api, type Schemas, type User } from "./api/client";

type TokenPair = Schemas["TokenPair"];

const RENEW_BEFORE_SECONDS = 60;
// Tabs share the cookie: two refreshes of one refresh token would look like
// a stolen token to the server (it revokes the family), so tabs take turns.
const LOCK = "spintemp-refresh";

class Session {
  user = $state<User | null>(null);
  /** False until the first refresh attempt on load has settled. */
  ready = $state(false);
  accessToken: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<boolean> | null = null;

  get admin() {
    return this.user?.admin === true;
  }

  async login(email: string, password: string) {
    const result = await api.POST("/api/auth/login", { body: { email, password } });
    if (result.data) this.#accept(result.data);
    return result;
  }

  /** A new access token through the refresh cookie; false if there is no session. */
  refresh(): Promise<boolean> {
    this.#refreshing ??= this.#withLock(async () => {
      // The cookie is the credential; a cookie-only refresh needs a JSON
      // body, so that a cross-site form cannot send one.
      const result = await api.POST("/api/auth/refresh", { body: {} }).catch(() => null);
      if (result?.data) {
        this.#accept(result.data);
        return true;
      }
      // A 5xx or a network error says nothing about the session: keep it.
      if (result && result.response.status < 500) this.#forget();
      return false;
    }).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async logout() {
    await api.POST("/api/auth/logout", { body: {} }).catch(() => null);
    this.#forget();
  }

  /** Restores a session after a reload, once. */
  async start() {
    await this.refresh();
    this.ready = true;
  }

  #accept(pair: TokenPair) {
    this.accessToken = pair.accessToken;
    this.user = pair.user;
    clearTimeout(this.#timer);
    const renewIn = Math.max(pair.expiresIn - RENEW_BEFORE_SECONDS, 5) * 1000;
    this.#timer = setTimeout(() => void this.refresh(), renewIn);
  }

  #forget() {
    clearTimeout(this.#timer);
    this.accessToken = null;
    this.user = null;
  }

  #withLock<T>(work: () => Promise<T>): Promise<T> {
    return navigator.locks ? (navigator.locks.request(LOCK, work) as Promise<T>) : work();
  }
}

export const session = new Session();
