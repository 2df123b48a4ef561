"""Stability AI's v2beta Stable Image API: OpenAI-shaped calls in, raw image bytes out."""

from __future__ import annotations

from imagegate import (
    ContentPolicyViolation,
    FilePart,
    FormValue,
    InputImage,
    InvalidRequest,
    ModelCapabilities,
    Operation,
    Price,
    Provider,
    ProviderResult,
    ResultImage,
    SizeSpec,
    UpstreamCall,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
    nearest_aspect_ratio,
)

from .catalog import (
    ASPECT_RATIOS,
    EDIT_ENDPOINTS,
    GENERATION_MODELS,
    MAX_PROMPT_CHARS,
    OUTPUT_FORMATS,
    Endpoint,
    GenerationModel,
)
from .config import StabilityAccount, StabilityTarget
from .errors import error_from_response
from .masks import stability_mask
from .params import seed_for_call
from .prices import stability_price


class StabilityProvider(Provider):
    name = "stability"
    account_type = StabilityAccount
    options_type = StabilityTarget

    def capabilities(self, upstream_model: str, options: StabilityTarget) -> ModelCapabilities:
        model = _generation_model(upstream_model)
        edits = _edit_endpoints(model, options)
        endpoints = [model.text_to_image, *edits]
        return ModelCapabilities(
            operations=frozenset({"generate", "edit"}),
            sizes=SizeSpec(aspect_ratios=ASPECT_RATIOS),
            max_images_per_call=1,
            output_formats=frozenset.intersection(*(e.output_formats for e in endpoints)),
            default_format="png",
            max_input_images=1,
            mask=any(e.mask for e in edits),
            max_prompt_chars=MAX_PROMPT_CHARS,
            prompt_required=all(e.prompt == "required" for e in endpoints),
            delivery="bytes",
            extra_params=frozenset(name for e in endpoints for name in e.params),
            end_user_fields=frozenset({"user"}),  # sent as the stability-client-user-id header
        )

    def price(self, upstream_model: str, options: StabilityTarget, operation: Operation) -> Price | None:
        return stability_price(upstream_model, options, operation)

    def check_account(self, account: StabilityAccount) -> str | None:
        if not account.api_key:
            return "api_key is empty or unset"
        if not account.base_url.startswith(("http://", "https://")):
            return "base_url must start with http:// or https://"
        return None

    def build(self, call: UpstreamCall) -> UpstreamRequest:
        model = _generation_model(call.upstream_model)
        endpoint = _endpoint_for(call, model)
        form: list[tuple[str, FormValue]] = []
        if endpoint in (model.text_to_image, model.image_to_image):
            form.extend(model.form_fields)
        form.extend(endpoint.fixed_fields)
        form.extend(_prompt_field(call, endpoint))
        if endpoint.aspect_ratio and call.aspect_ratio:
            form.append(("aspect_ratio", call.aspect_ratio))
        if call.output_format:
            form.append(("output_format", call.output_format))
        form.extend(_param_fields(call, endpoint))
        if endpoint.image:
            form.extend(_image_parts(call, endpoint))
        account: StabilityAccount = call.account
        headers = {
            "Authorization": f"Bearer {account.api_key}",
            "Accept": "image/*",
            "stability-client-id": "imagegate",
        }
        if call.user:
            headers["stability-client-user-id"] = call.user[:256]
        return UpstreamRequest(url=account.base_url.rstrip("/") + endpoint.path, headers=headers, form=form)

    def parse(self, call: UpstreamCall, response: UpstreamResponse) -> ProviderResult:
        if not 200 <= response.status < 300:
            raise error_from_response(response)
        finish_reason = response.headers.get("finish-reason", "SUCCESS")
        if finish_reason == "CONTENT_FILTERED":
            raise ContentPolicyViolation("Stability's content filter blocked the generated image.")
        if finish_reason != "SUCCESS":
            raise UpstreamError(f"Stability did not finish the image (finish-reason {finish_reason}).")
        seed = response.headers.get("seed")
        extra = {"seed": int(seed)} if seed and seed.isdigit() else {}
        return ProviderResult(
            images=[ResultImage(data=response.body, extra=extra)],
            output_format=_format_of(response.headers.get("content-type"), call.output_format),
        )


def _generation_model(upstream_model: str) -> GenerationModel:
    model = GENERATION_MODELS.get(upstream_model)
    if model is None:
        raise ValueError(
            f"Stability has no generation model '{upstream_model}'; use one of "
            f"{', '.join(GENERATION_MODELS)} (edit endpoints are chosen with the target key `edit`)."
        )
    return model


def _edit_endpoints(model: GenerationModel, options: StabilityTarget) -> list[Endpoint]:
    """The endpoints a target's edits may use: the configured one, or inpaint plus image-to-image."""
    if options.edit is not None:
        return [EDIT_ENDPOINTS[options.edit]]
    return [EDIT_ENDPOINTS["inpaint"], *([model.image_to_image] if model.image_to_image else [])]


def _endpoint_for(call: UpstreamCall, model: GenerationModel) -> Endpoint:
    if call.operation == "generate":
        return model.text_to_image
    if call.operation != "edit":
        message = f"Stability models do not support the {call.operation} operation."
        raise InvalidRequest(message, param="model")
    options: StabilityTarget = call.options
    if options.edit is not None:
        return EDIT_ENDPOINTS[options.edit]
    if call.mask is not None:
        return EDIT_ENDPOINTS["inpaint"]
    if model.image_to_image is None:
        raise InvalidRequest(
            f"Model '{call.upstream_model}' edits by inpainting only: send a mask (transparent pixels mark "
            "the area to change).",
            param="mask",
        )
    return model.image_to_image


def _prompt_field(call: UpstreamCall, endpoint: Endpoint) -> list[tuple[str, FormValue]]:
    if endpoint.prompt == "absent":
        return []  # erase and remove-background take no prompt; the edit endpoint defines the change
    if not call.prompt:
        if endpoint.prompt == "required":
            raise InvalidRequest(f"Stability's {endpoint.name} needs a prompt.", param="prompt")
        return []
    return [("prompt", call.prompt)]


def _param_fields(call: UpstreamCall, endpoint: Endpoint) -> list[tuple[str, FormValue]]:
    """Stability's own parameters for this endpoint, checked. A parameter the target accepts for its other
    endpoint (``strength`` on a text-to-image call, ``cfg_scale`` on an inpaint) is left out of this call,
    so one route's ``params`` can serve both generations and edits."""
    fields: list[tuple[str, FormValue]] = []
    for name, value in call.params.items():
        validator = endpoint.params.get(name)
        if validator is None:
            continue
        text = validator(name, value)
        fields.append((name, seed_for_call(text, call.index) if name == "seed" else text))
    missing = sorted(endpoint.required_params - call.params.keys())
    if missing:
        raise InvalidRequest(
            f"Stability's {endpoint.name} needs the parameter {missing[0]}; send it as an extra field.",
            param=missing[0],
        )
    if endpoint.one_positive_of and not any(
        float(call.params.get(name, 0)) > 0 for name in endpoint.one_positive_of
    ):
        names = ", ".join(endpoint.one_positive_of)
        message = (
            f"Stability's {endpoint.name} needs at least one of {names} above 0; send it as an extra field."
        )
        raise InvalidRequest(message, param=endpoint.one_positive_of[0])
    return fields


def _image_parts(call: UpstreamCall, endpoint: Endpoint) -> list[tuple[str, FormValue]]:
    image = call.images[0]  # an edit always has one (the core refuses one without)
    _check_size_follows_input(call, endpoint, image)
    parts: list[tuple[str, FormValue]] = [("image", FilePart(image, image.filename, image.content_type))]
    if endpoint.mask and call.mask is not None:
        parts.append(("mask", FilePart(stability_mask(call.mask, image), "mask.png", "image/png")))
    return parts


def _check_size_follows_input(call: UpstreamCall, endpoint: Endpoint, image: InputImage) -> None:
    """Stability's edits and image-to-image keep the input image's shape and take no size: a requested
    size of another shape is refused rather than silently ignored."""
    if endpoint.aspect_ratio or call.aspect_ratio is None:
        return
    input_ratio = nearest_aspect_ratio(image.width, image.height, ASPECT_RATIOS)
    if call.aspect_ratio != input_ratio:
        raise InvalidRequest(
            f"Stability's {endpoint.name} keeps the input image's shape ({image.width}x{image.height}, about "
            f"{input_ratio}) and takes no size; the requested size maps to {call.aspect_ratio}. Omit size, "
            "send size=auto, or send an image of the wanted shape.",
            param="size",
        )


def _format_of(content_type: str | None, requested: str | None) -> str:
    subtype = (content_type or "").partition(";")[0].strip().lower().removeprefix("image/")
    return subtype if subtype in OUTPUT_FORMATS else (requested or "png")
