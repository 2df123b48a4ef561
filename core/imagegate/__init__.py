"""imagegate: one OpenAI-compatible endpoint for image generation and editing, many upstreams."""

from .capabilities import ModelCapabilities, SizeSpec
from .clients.pricing import Price, TokenRates
from .hookspecs import hookimpl
from .provider import (
    AccountConfig,
    FilePart,
    Provider,
    ProviderResult,
    ResultImage,
    TargetOptions,
    UpstreamCall,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "AccountConfig",
    "FilePart",
    "ModelCapabilities",
    "Price",
    "Provider",
    "ProviderResult",
    "ResultImage",
    "SizeSpec",
    "TargetOptions",
    "TokenRates",
    "UpstreamCall",
    "UpstreamRequest",
    "UpstreamResponse",
    "Usage",
    "hookimpl",
]
