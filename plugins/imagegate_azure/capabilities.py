"""What a model deployed on Azure OpenAI supports: OpenAI's declaration, changed where Azure differs.

Differences, from Azure's image API reference (2025-04-01-preview and the v1 API) and how-to guides:

- GPT image models produce png or jpeg only (``imagesOutputFormat``); a webp request is served by the core
  transcoding png. ``output_compression`` applies to jpeg.
- There is no ``moderation`` parameter: each deployment has its own content filter configuration.
- Parameters Azure does not document are not let through from clients (``extra_params`` is empty); a route
  can still send any field with ``params:``.
- DALL-E 3 result URLs live on Azure blob storage (valid 24 hours), not on OpenAI's host.
- dall-e-2 was only ever served by the retired asynchronous API (submit, then poll ``operation-location``)
  and is refused at load time.
"""

from __future__ import annotations

from imagegate import ModelCapabilities
from imagegate_openai.dialect import capabilities_for
from imagegate_openai.models import model_family
from msgspec.structs import replace

AZURE_BLOB_HOSTS = frozenset({"blob.core.windows.net"})  # dalleprodsec., dalletipusw2., ... per region
AZURE_GPT_IMAGE_FORMATS = frozenset({"png", "jpeg"})


def azure_capabilities(model: str) -> ModelCapabilities:
    """The capabilities of ``model`` behind an Azure deployment. Raises ``ValueError`` for one Azure cannot
    serve through this plugin."""
    family = model_family(model)
    if family == "dall-e-2":
        raise ValueError(
            "dall-e-2 on Azure OpenAI used the retired asynchronous images API, which this plugin does not "
            "support; deploy dall-e-3 or a gpt-image model"
        )
    base = capabilities_for(model)
    if family == "dall-e-3":
        return replace(base, download_hosts=AZURE_BLOB_HOSTS, extra_params=frozenset())
    return replace(
        base,
        output_formats=base.output_formats & AZURE_GPT_IMAGE_FORMATS,
        moderation=False,
        extra_params=frozenset(),
    )
