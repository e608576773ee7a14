"""The requests tests/compat/run.sh sends, in order, to one runtime.

Prints one JSON object per request: what was asked, the status, the
headers that matter and the body with ids, instants and cursors replaced by
placeholders, so that two runtimes on two fresh databases compare equal.
Every request has a 10 s timeout: a runtime that never answers (Spin
4.0.0-4.0.2 on a query with no rows, spinframework/spin#3671) shows as
"timeout", not as a hang.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1]
ADMIN = os.environ["COMPAT_ADMIN_TOKEN"]
USER = os.environ["COMPAT_USER_TOKEN"]
UNKNOWN = "0190a0a0-0000-7000-8000-000000000000"

# Each run registers users of its own, so that the login throttle (per
# email, kept in Redis across runs) never sees a run before it.
RUN = uuid.uuid4().hex[:12]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def normalise(value):
    if isinstance(value, dict):
        return {
            k: ("<cursor>" if k == "nextCursor" and v else normalise(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return INSTANT.sub("<instant>", UUID.sub("<uuid>", value)).replace(RUN, "<run>")
    return value


SECRETS = ("accessToken", "refreshToken")
COOKIE_VALUE = re.compile(r"spintemp_refresh=[A-Za-z0-9_-]+")


def hide_tokens(value):
    """Tokens differ on every run; whether they are there does not."""
    if isinstance(value, dict):
        return {k: ("<token>" if k in SECRETS and v else hide_tokens(v)) for k, v in value.items()}
    return value


def call(method, path, body=None, token=ADMIN, headers=None):
    req = urllib.request.Request(BASE + path, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, data=data, timeout=10) as res:
            status, raw, hdrs = res.status, res.read(), res.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    except (TimeoutError, OSError) as e:
        return {"status": "timeout", "error": type(e).__name__}, None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    kept = {
        h: normalise(hdrs[h])
        for h in ("content-type", "etag", "allow", "www-authenticate", "retry-after")
        if hdrs.get(h)
    }
    if hdrs.get("set-cookie"):
        kept["set-cookie"] = COOKIE_VALUE.sub("spintemp_refresh=<token>", hdrs["set-cookie"])
    if hdrs.get("location"):
        kept["location"] = normalise(hdrs["location"])
    kept["x-request-id"] = "present" if hdrs.get("x-request-id") else "missing"
    return {"status": status, "headers": kept, "body": normalise(hide_tokens(parsed))}, parsed


def main():
    out = []

    def ask(label, *args, **kwargs):
        result, parsed = call(*args, **kwargs)
        out.append({"request": label, **result})
        return parsed

    ask("health", "GET", "/api/health", token=None)
    ask("openapi document", "GET", "/api/openapi.json", token=None)
    ask("unknown path", "GET", "/api/nothing-here")
    ask("unknown nested path", "POST", "/api/customers/a/b")
    # The web component (route /...): Spin must give it only what no API
    # route takes, and hand it the path with the query.
    ask("ui index", "GET", "/", token=None)
    ask("ui deep link, with a query", "GET", f"/customers/{UNKNOWN}?tab=audit", token=None)
    ask("ui missing asset", "GET", "/assets/nope.js", token=None)
    ask("ui wrong method", "POST", "/login", token=None)
    ask("empty list", "GET", "/api/customers")
    ask("unknown id", "GET", f"/api/customers/{UNKNOWN}")
    ask("malformed id", "GET", "/api/customers/not-a-uuid")
    ask("no token", "GET", "/api/customers", token=None)
    ask("bad limit", "GET", "/api/customers?limit=abc")
    ask("wrong method", "PATCH", f"/api/customers/{UNKNOWN}")
    ask("wrong method on the list", "DELETE", "/api/customers")
    first = ask("create", "POST", "/api/customers", {"code": "ducks", "name": "Ducks R Us"})
    ask("create, trailing slash", "POST", "/api/customers/", {"code": "geese", "name": "Geese Ltd"})
    ask("duplicate code", "POST", "/api/customers", {"code": "DUCKS", "name": "Again"})
    geese = ask("create, for a rename", "POST", "/api/customers", {"code": "ganders", "name": "Ganders"}) or {}
    # A unique key refusing an UPDATE is an error, not ON CONFLICT: Spin
    # 3.6.3 gives only its message.
    ask("rename onto a taken code", "PUT", f"/api/customers/{geese.get('id', UNKNOWN)}",
        {"code": "Ducks", "name": "Ganders"})
    # Bodies bigger than a couple of the host's buffered writes, handed on by
    # the front door: accepted, and over the extraFields limit refused.
    ask("create, 15 KiB", "POST", "/api/customers",
        {"code": "swans", "name": "Swans", "extraFields": {"blob": "x" * (15 * 1024)}})
    ask("create, 40 KiB extraFields", "POST", "/api/customers",
        {"code": "cranes", "name": "Cranes", "extraFields": {"blob": "x" * (40 * 1024)}})
    ask("invalid body", "POST", "/api/customers", {"code": "", "name": 7})
    ask("not json", "POST", "/api/customers", token=ADMIN, headers={"Content-Type": "text/plain"})
    cid = (first or {}).get("id", UNKNOWN)
    path = f"/api/customers/{cid}"
    ask("get (cache miss)", "GET", path)
    ask("get (cache hit)", "GET", path)
    ask("search, no match", "GET", "/api/customers?q=nomatch")
    ask("search", "GET", "/api/customers?q=duck")
    ask("first page of one", "GET", "/api/customers?limit=1")
    ask("update", "PUT", path, {"code": "ducks", "name": "Ducks R Us II"}, headers={"If-Match": '"1"'})
    ask("stale update", "PUT", path, {"code": "ducks", "name": "Stale"}, headers={"If-Match": '"1"'})
    ask("update unknown", "PUT", f"/api/customers/{UNKNOWN}", {"code": "x", "name": "y"})
    ask("get after update", "GET", path)
    ask("stale delete", "DELETE", path, headers={"If-Match": '"1"'})
    ask("delete", "DELETE", path, headers={"If-Match": '"2"'})
    ask("get deleted", "GET", path)
    ask("delete again", "DELETE", path)
    ask("audit, empty store", "GET", "/api/audit")
    ask("audit filter, no match", "GET", f"/api/audit?objectId={cid}")
    ask("audit, unknown id", "GET", f"/api/audit/{UNKNOWN}")
    ask("audit, not a v7 id", "GET", f"/api/audit/{uuid.uuid4()}")
    ask("audit, not an admin", "GET", "/api/audit", token=USER)
    ask("audit, wrong method", "POST", "/api/audit", {})

    # Products and promotions: references, exact discounts, the customer's
    # current name, the four-eyes workflow.
    cust = ask("customer for a promotion", "POST", "/api/customers", {"code": "patoloco", "name": "Pato Loco Inc"}) or {}
    prod = ask("product", "POST", "/api/products",
               {"code": "switch", "name": "Play Switch Console", "hierarchyLevel": "sku"}) or {}
    ask("product, no level", "POST", "/api/products", {"code": "tele", "name": "Watch me TV"})
    ask("products by level", "GET", "/api/products?hierarchyLevel=sku")
    ccid, pid = cust.get("id", UNKNOWN), prod.get("id", UNKNOWN)
    lines = [{"productId": pid, "discounts": [{"type": "percent", "value": "12.5"}, {"type": "amount", "value": "3"}]}]
    promo = ask("promotion", "POST", "/api/promotions",
                {"name": "Spring", "customerId": ccid, "products": lines}, token=USER) or {}
    ask("promotion, bad discounts and references", "POST", "/api/promotions",
        {"name": "Bad", "customerId": UNKNOWN, "products": [
            {"productId": pid, "discounts": [{"type": "amount", "value": "0.001"}, {"type": "percent", "value": 1e2}]},
            {"productId": UNKNOWN, "discounts": [{"type": "percent", "value": "1e2"}]}]})
    ask("promotion, unknown references", "POST", "/api/promotions",
        {"name": "Nobody's", "customerId": UNKNOWN, "products": [{"productId": UNKNOWN, "discounts": lines[0]["discounts"]}]})
    ppath = f"/api/promotions/{promo.get('id', UNKNOWN)}"
    ask("promotion (cache miss)", "GET", ppath)
    ask("promotion (cache hit)", "GET", ppath)
    ask("rename its customer", "PUT", f"/api/customers/{ccid}", {"code": "patoloco", "name": "Pato Muy Loco"})
    ask("promotion after the rename", "GET", ppath)
    ask("promotions by product", "GET", f"/api/promotions?productId={pid}")
    ask("transition without If-Match", "POST", f"{ppath}/transitions", {"to": "submitted"}, token=USER)
    ask("transition the workflow has not", "POST", f"{ppath}/transitions", {"to": "approved"},
        headers={"If-Match": '"1"'})
    ask("submit", "POST", f"{ppath}/transitions", {"to": "submitted", "comment": "ready"}, token=USER,
        headers={"If-Match": '"1"'})
    ask("edit a submitted promotion", "PUT", ppath, {"name": "Spring", "customerId": ccid, "products": lines})
    ask("approve, not an admin", "POST", f"{ppath}/transitions", {"to": "approved"}, token=USER,
        headers={"If-Match": '"2"'})
    ask("approve, stale", "POST", f"{ppath}/transitions", {"to": "approved"}, headers={"If-Match": '"1"'})
    ask("approve", "POST", f"{ppath}/transitions", {"to": "approved"}, headers={"If-Match": '"2"'})
    ask("approved is final", "POST", f"{ppath}/transitions", {"to": "draft"}, headers={"If-Match": '"3"'})
    ask("delete a product a promotion holds", "DELETE", f"/api/products/{pid}")
    ask("delete a customer a promotion holds", "DELETE", f"/api/customers/{ccid}")
    ask("delete an approved promotion", "DELETE", ppath)

    # Users and the auth flows.
    email = f"ana-{RUN}@compat.example"
    ask("register, invalid", "POST", "/api/auth/register",
        {"email": "nope", "firstName": "", "lastName": "L", "password": "short", "admin": True}, token=None)
    me = ask("register", "POST", "/api/auth/register",
             {"email": email, "firstName": "Ana", "lastName": "Lima", "password": "a long password"}, token=None)
    ask("register, duplicate email", "POST", "/api/auth/register",
        {"email": email.upper(), "firstName": "Ana", "lastName": "Lima", "password": "a long password"}, token=None)
    ask("register, wrong method", "GET", "/api/auth/register", token=None)
    ask("login, wrong password", "POST", "/api/auth/login", {"email": email, "password": "not it"}, token=None)
    ask("login, unknown email", "POST", "/api/auth/login",
        {"email": f"nobody-{RUN}@compat.example", "password": "not it"}, token=None)
    session = ask("login", "POST", "/api/auth/login", {"email": email, "password": "a long password"}, token=None) or {}
    access = session.get("accessToken", "")
    first_refresh = session.get("refreshToken", "")
    ask("me", "GET", "/api/auth/me", token=access)
    ask("me, no token", "GET", "/api/auth/me", token=None)
    renewed = ask("refresh", "POST", "/api/auth/refresh", {"refreshToken": first_refresh}, token=None) or {}
    ask("refresh, token used again", "POST", "/api/auth/refresh", {"refreshToken": first_refresh}, token=None)
    ask("refresh after reuse", "POST", "/api/auth/refresh",
        {"refreshToken": renewed.get("refreshToken", "")}, token=None)
    ask("refresh, not json", "POST", "/api/auth/refresh", token=None, headers={"Content-Type": "text/plain"})
    session = ask("login again", "POST", "/api/auth/login", {"email": email, "password": "a long password"}, token=None) or {}
    access = session.get("accessToken", "")
    uid = (me or {}).get("id", UNKNOWN)
    upath = f"/api/users/{uid}"
    ask("users, not an admin", "GET", "/api/users", token=access)
    ask("users, no POST", "POST", "/api/users", {}, token=ADMIN)
    ask("users, by email", "GET", f"/api/users?email={email}", token=ADMIN)
    ask("user, own", "GET", upath, token=access)
    ask("user, someone else's", "GET", f"/api/users/{UNKNOWN}", token=access)
    profile = {"email": email, "firstName": "Anabela", "lastName": "Lima"}
    ask("user, make self admin", "PUT", upath, {**profile, "admin": True}, token=access)
    ask("user, update self", "PUT", upath, profile, token=access, headers={"If-Match": '"1"'})
    ask("user, new password without the current one", "PUT", upath,
        {**profile, "password": "another long one"}, token=access)
    ask("user, new password", "PUT", upath,
        {**profile, "password": "another long one", "currentPassword": "a long password"}, token=access)
    ask("write with a token from before the new password", "POST", "/api/customers",
        {"code": "anas", "name": "Ana's"}, token=access)
    ask("user, delete while active", "DELETE", upath, token=ADMIN)
    ask("logout", "POST", "/api/auth/logout", {"refreshToken": session.get("refreshToken", "")}, token=None)
    ask("refresh after logout", "POST", "/api/auth/refresh",
        {"refreshToken": session.get("refreshToken", "")}, token=None)
    for line in out:
        print(json.dumps(line, sort_keys=True))


main()
