"""What a model deployed on Azure OpenAI supports: OpenAI's declaration, changed where Azure differs.

Differences, from Azure's image API reference (2025-04-01-preview and the v1 API) and how-to guides:

- GPT image models produce png or jpeg only (``imagesOutputFormat``); a webp request is served by the core
  transcoding png. ``output_compression`` applies to jpeg. Azure documents no gif or svg output.
- There is no ``moderation`` parameter: each deployment has its own content filter configuration, so the
  ``moderation`` hint is dropped.
- Azure speaks OpenAI's dialect: a field the gateway does not know is passed on for Azure to judge, unless
  the route says ``unknown_params: refuse``.
- End-user ids go as ``user`` (Azure documents no ``safety_identifier``; the core sends the effective id).
- OpenAI's retirement dates are OpenAI's: an Azure deployment's lifecycle is Azure's, so none is declared.
- DALL-E 3 result URLs live on Azure blob storage (valid 24 hours), not on OpenAI's host.
- dall-e-2 was only ever served by the retired asynchronous API (submit, then poll ``operation-location``)
  and is refused at load time.
"""

from __future__ import annotations

from imagegate import ModelCapabilities
from imagegate_openai.models import ModelTable, model_family
from msgspec.structs import replace

AZURE_BLOB_HOSTS = frozenset({"blob.core.windows.net"})  # dalleprodsec., dalletipusw2., ... per region
AZURE_GPT_IMAGE_FORMATS = frozenset({"png", "jpeg"})


def azure_capabilities(table: ModelTable, model: str) -> ModelCapabilities:
    """The capabilities of ``model`` behind an Azure deployment, from OpenAI's ``table``. Raises
    ``ValueError`` for one Azure cannot serve through this plugin."""
    family = model_family(model)
    if family == "dall-e-2":
        raise ValueError(
            "dall-e-2 on Azure OpenAI used the retired asynchronous images API, which this plugin does not "
            "support; deploy dall-e-3 or a gpt-image model"
        )
    base = replace(table.capabilities(model), retired=None, end_user_fields=frozenset({"user"}))
    if family == "dall-e-3":
        return replace(base, download_hosts=AZURE_BLOB_HOSTS)
    return replace(base, output_formats=base.output_formats & AZURE_GPT_IMAGE_FORMATS, moderation=False)
