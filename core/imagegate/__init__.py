"""imagegate: one OpenAI-compatible endpoint for image generation and editing, many upstreams.

``__all__`` below is the public surface for plugins, in one place: everything a provider plugin needs is
importable from ``imagegate`` itself, and nothing else is promised. ``tests/unit/test_public_surface.py`` pins
it: adding a name is free, removing one (or changing what it means) is a new :data:`PLUGIN_API_VERSION`. The
plugin test kit is :mod:`imagegate.testing`. Every name is documented in docs/plugins.md.
"""

from .capabilities import (
    ALL_FORMATS,
    ALPHA_FORMATS,
    END_USER_FIELDS,
    GENERATED_ONLY_FORMATS,
    OUTPUT_FORMATS,
    Delivery,
    ModelCapabilities,
    Operation,
    Retirement,
    SizeSpec,
    nearest_aspect_ratio,
    parse_size,
    round_to_multiple,
)
from .catalog import DeclarationError, ModelDeclaration, declared_price, resolve_declared, undeclared
from .clients.pricing import Price, TokenRates
from .errors import (
    ContentPolicyViolation,
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    ProviderNotConfigured,
    UnsupportedValue,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    upstream_error,
)
from .extra_params import int_param
from .hookspecs import PLUGIN_API_VERSION, hookimpl
from .images import decode_input
from .provider import (
    AccountConfig,
    FilePart,
    FormValue,
    OpenStream,
    PartialImage,
    Provider,
    ProviderResult,
    ResultImage,
    Send,
    StreamItem,
    TargetOptions,
    UpstreamCall,
    UpstreamEvent,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
    decode_base64,
)
from .request import InputImage
from .retry import retry_after_seconds

__version__ = "0.1.0"  # the distribution's version too: pyproject.toml reads it from here

__all__ = [
    "ALL_FORMATS",
    "ALPHA_FORMATS",
    "END_USER_FIELDS",
    "GENERATED_ONLY_FORMATS",
    "OUTPUT_FORMATS",
    "PLUGIN_API_VERSION",
    "AccountConfig",
    "ContentPolicyViolation",
    "DeclarationError",
    "Delivery",
    "FilePart",
    "FormValue",
    "GatewayError",
    "InputImage",
    "InvalidRequest",
    "ModelCapabilities",
    "ModelDeclaration",
    "OpenStream",
    "Operation",
    "PartialImage",
    "PayloadTooLarge",
    "Price",
    "Provider",
    "ProviderNotConfigured",
    "ProviderResult",
    "ResultImage",
    "Retirement",
    "Send",
    "SizeSpec",
    "StreamItem",
    "TargetOptions",
    "TokenRates",
    "UnsupportedValue",
    "UpstreamAuthError",
    "UpstreamCall",
    "UpstreamError",
    "UpstreamEvent",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamRequest",
    "UpstreamResponse",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "Usage",
    "declared_price",
    "decode_base64",
    "decode_input",
    "hookimpl",
    "int_param",
    "nearest_aspect_ratio",
    "parse_size",
    "resolve_declared",
    "retry_after_seconds",
    "round_to_multiple",
    "undeclared",
    "upstream_error",
]
