"""``imagegate keys new`` and ``imagegate usage``: client keys for routes.yaml, and what clients spent."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import urllib.error
import urllib.request

from ..clients.keys import key_digest, new_key

ADMIN_KEY_VARIABLE = "IMAGEGATE_ADMIN_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"


def new_client_key(name: str) -> int:
    key = new_key()
    print(f"API key for client '{name}' (shown this once; give it to the client, it is not stored):")
    print(f"  {key}")
    print("Add to routes.yaml:")
    print("clients:")
    print(f"  {name if re.fullmatch(r'[A-Za-z0-9_.-]+', name) else json.dumps(name)}:")
    print(f'    key_sha256: "{key_digest(key).hex()}"')
    return 0


def usage(url: str) -> int:
    """Print ``GET /admin/usage`` of the gateway at ``url`` as a table."""
    request = urllib.request.Request(url.rstrip("/") + "/admin/usage")
    admin_key = os.environ.get(ADMIN_KEY_VARIABLE)
    if admin_key:
        request.add_header("Authorization", f"Bearer {admin_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            rows = json.load(response)["data"]
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        print(f"error: {url} answered HTTP {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: cannot reach {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if not rows:
        print("no clients (routes.yaml has no clients: section)")
        return 0
    header = ("client", "period", "images", "usd", "budget_usd", "remaining_usd", "images/min")
    table = [header] + [
        (
            row["client"],
            row["period_key"],
            str(row["images"]),
            f"{row['usd']:.4f}",
            "-" if row["budget_usd"] is None else f"{row['budget_usd']:g}",
            "-" if row["remaining_usd"] is None else f"{row['remaining_usd']:.4f}",
            "-" if row["images_per_minute"] is None else str(row["images_per_minute"]),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0
