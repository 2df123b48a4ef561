"""The Stability-specific keys of a ``providers:`` entry (account) and of a route target (options)."""

from __future__ import annotations

from typing import Literal

from imagegate import AccountConfig, TargetOptions

DEFAULT_BASE_URL = "https://api.stability.ai"

EditEndpointName = Literal[
    "inpaint", "erase", "outpaint", "search-and-replace", "search-and-recolor", "remove-background"
]


class StabilityAccount(AccountConfig, kw_only=True, forbid_unknown_fields=True):
    api_key: str | None = None
    base_url: str = DEFAULT_BASE_URL


class StabilityTarget(TargetOptions, kw_only=True, forbid_unknown_fields=True):
    # The edit endpoint this target's /v1/images/edits calls use. Unset: inpaint when the client sends a
    # mask, image-to-image (sd3 models, ultra) when it does not.
    edit: EditEndpointName | None = None
