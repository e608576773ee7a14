"""Schemathesis hooks for tests/fuzz/run.sh (loaded through SCHEMATHESIS_HOOKS).

Two kinds of hook live here:

* A filter for rules that span two fields. JSON Schema cannot say "validThru
  after validFrom" or "to after from", so schemathesis would call a correct
  422/400 for such a pair a rejected valid request. Only schema-valid
  requests with such a pair are dropped; every other request, and every
  schema-invalid one, still goes out.
* `auth_rejected_as_expected`, a check for the auth passes (which run.sh
  points at secured operations only): with a bad or under-privileged token
  every request must get exactly the status in FUZZ_EXPECT_STATUS, as
  problem+json, and a 401 must carry `WWW-Authenticate: Bearer`. Without
  that variable it does nothing.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import schemathesis

PROBLEM_JSON = "application/problem+json"


def _instant(value: object) -> datetime | None:
    """An RFC 3339 instant or YYYY-MM-DD date as the app would read it, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # The app reads a bare date as midnight UTC; a bare date-time is not RFC 3339.
        if "T" in text or "t" in text or " " in text:
            return None
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _validity_in_order(body: dict) -> bool:
    """False only when the app must refuse the pair with "validThru must be after validFrom"."""
    raw_from, raw_thru = body.get("validFrom"), body.get("validThru")
    if raw_thru is None:
        # The default is a year after validFrom; from year 9999 on that year
        # does not exist, and the app asks for an explicit validThru (422).
        start = _instant(raw_from)
        return start is None or start < datetime(9999, 1, 1, tzinfo=timezone.utc)
    start = datetime.now(timezone.utc) if raw_from is None else _instant(raw_from)
    end = _instant(raw_thru)
    if start is None or end is None:
        return True
    return end > start


def _is_positive(case) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode.is_positive


def _window_in_order(query: dict) -> bool:
    """False only when GET /api/audit must refuse "to must be after from"."""
    start, end = _instant(query.get("from")), _instant(query.get("to"))
    if start is None or end is None:
        return True
    return end > start


# filter_case, not filter_body/filter_query: only case-level hooks reach the
# coverage phase's generated requests too.
@schemathesis.hook
def filter_case(ctx, case):
    if not _is_positive(case):
        # An invalid request must be refused whatever else is in it.
        return True
    if isinstance(case.body, dict) and not _validity_in_order(case.body):
        return False
    if isinstance(case.query, dict) and not _window_in_order(case.query):
        return False
    return True


@schemathesis.check
def auth_rejected_as_expected(ctx, response, case):
    expected = os.environ.get("FUZZ_EXPECT_STATUS")
    if not expected:
        return None
    if response.status_code != int(expected):
        raise AssertionError(
            f"expected {expected} for a request with this token, got {response.status_code}"
        )
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith(PROBLEM_JSON):
        raise AssertionError(f"expected {PROBLEM_JSON}, got {content_type!r}")
    if expected == "401":
        challenge = response.headers.get("www-authenticate", [""])
        challenge = challenge[0] if isinstance(challenge, list) else challenge
        if not challenge.lower().startswith("bearer"):
            raise AssertionError(f"a 401 must carry WWW-Authenticate: Bearer, got {challenge!r}")
    return None
