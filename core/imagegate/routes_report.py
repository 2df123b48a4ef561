"""What ``imagegate check`` prints: the resolved route table, and with ``-v`` every target's full capabilities
and what the core adapts for it (fan-out, transcoding, URL hosting, base64 from URLs, size mapping)."""

from __future__ import annotations

from typing import Any

import msgspec

from .capabilities import ALL_FORMATS, ModelCapabilities, Retirement, SizeSpec
from .clients.pricing import Price
from .config import RouteTable, Target, UnavailablePlugin


def describe_table(table: RouteTable, *, verbose: bool = False) -> list[str]:
    routes = {id(route): route for route in table.models.values()}
    lines = [f"{table.source}: OK ({len(routes)} models, {len(table.accounts)} provider accounts)"]
    for name, account in table.accounts.items():
        status = "ready" if account.problem is None else f"NOT USABLE: {account.problem}"
        lines.append(f"  account {name} (plugin {account.provider.name}): {status}")
    if table.clients is None:
        lines.append("  clients: none (no client authentication)")
    for client in table.clients or ():
        models = ", ".join(client.model_globs) if client.model_globs is not None else "all models"
        limits = [f"{client.images_per_minute} images/min"] if client.images_per_minute else []
        if client.budget is not None:
            limits.append(f"budget {client.budget.limit:g} USD per {client.budget.period}")
        status = f"NOT USABLE: {client.problem}" if client.problem else "key set"
        lines.append(f"  client {client.name}: {status}; {models}; {'; '.join(limits) or 'no limits'}")
    if not table.server.admin_key:
        lines.append(
            "  admin: no server.admin_key (/metrics, /admin/* and /readyz details answer loopback only)"
        )
    for route in routes.values():
        retry, cooldown = route.retry, route.cooldown
        aliases = f" (aliases: {', '.join(route.aliases)})" if route.aliases else ""
        lines.append(f"  model {route.model}{aliases} [{route.strategy}]")
        lines.append(
            f"    retry: {retry.max_attempts} attempts per target, deadline {retry.deadline_seconds:g} s; "
            f"cooldown: {cooldown.failures} failures in {cooldown.window_seconds:g} s -> "
            f"{cooldown.duration_seconds:g} s"
            + ("; falls back on content-policy refusals" if route.fallback_on_content_policy else "")
        )
        for target in route.targets:
            lines.extend(_describe_target(target, route.strategy == "weighted", verbose))
    return lines


def _describe_target(target: Target, weighted: bool, verbose: bool) -> list[str]:
    caps = target.capabilities
    weight = f" weight={target.weight:g}" if weighted else ""
    unusable = f"  NOT USABLE ({target.account.name})" if target.account.problem else ""
    if isinstance(target.account.provider, UnavailablePlugin):
        return [f"    -> {target.label}{weight}{unusable}: capabilities unknown, its plugin is not loaded"]
    lines = [
        f"    -> {target.label}{weight}  ops={','.join(sorted(caps.operations))} "
        f"sizes: {caps.sizes.describe()}{unusable}"
    ]
    if caps.retired is not None:
        lines.append(f"       note: {target.upstream_model} was {caps.retired.describe()}")
    prices = [target.prices.get(operation) for operation in sorted(caps.operations)]
    if all(price == prices[0] for price in prices):  # one line when every operation costs the same
        lines.append(f"       price: {_describe_price(prices[0])}")
    else:
        for operation, price in zip(sorted(caps.operations), prices, strict=True):
            lines.append(f"       price ({operation}): {_describe_price(price)}")
    if target.params:
        lines.append(f"       params (fixed): {msgspec.json.encode(target.params).decode()}")
    if target.defaults:
        lines.append(
            f"       defaults (a client may send its own): {msgspec.json.encode(target.defaults).decode()}"
        )
    if verbose:
        lines.append("       capabilities:")
        lines.extend(f"         {name}: {value}" for name, value in capability_values(caps))
        lines.append("       the core adapts:")
        lines.extend(f"         {line}" for line in adaptations(caps))
    return lines


def _describe_price(price: Price | None) -> str:
    return price.describe() if price else "NONE: its images are recorded at 0 USD; set price: on the target"


def capability_values(caps: ModelCapabilities) -> list[tuple[str, str]]:
    """Every field of ``caps``, formatted for reading."""
    return [(name, _format(name, getattr(caps, name))) for name in caps.__struct_fields__]


# What a field left None means, where "none" would mislead.
NONE_MEANS = {"extra_params": "any (none refused)", "max_prompt_chars": "no limit", "retired": "no"}


def _format(name: str, value: Any) -> str:
    if isinstance(value, SizeSpec) and value.default is not None:
        return f"{value.describe()}; {value.default} when none is sent"
    if isinstance(value, SizeSpec | Retirement):
        return value.describe()
    if isinstance(value, frozenset):
        return ", ".join(sorted(value)) or "(none)"
    if value is None:
        return NONE_MEANS.get(name, "none")
    return str(value)


def adaptations(caps: ModelCapabilities) -> list[str]:
    """What the core does so that this target serves requests it cannot serve as they come."""
    lines: list[str] = []
    if caps.max_images_per_call < caps.max_n:
        lines.append(
            f"fan-out: n up to {caps.max_n}, {caps.max_images_per_call} per upstream call; "
            "the core makes the other calls concurrently (server.max_parallel_calls)"
        )
    else:
        lines.append(f"fan-out: none needed (n up to {caps.max_n} in one upstream call)")
    converted = [f for f in ALL_FORMATS if f not in caps.output_formats]
    if converted:
        lines.append(f"transcoding: {', '.join(converted)} made from the upstream's {caps.transcode_source}")
    if not caps.output_compression:
        lines.append("transcoding: output_compression applied by re-encoding jpeg/webp")
    if not converted and caps.output_compression:
        lines.append("transcoding: none needed (every format and compression is native)")
    lines.append(_url_delivery(caps))
    if caps.sizes.aspect_ratios:
        lines.append(
            "sizes: a WxH is sent as the nearest aspect ratio; the size produced is read from the image"
        )
    return lines


def _url_delivery(caps: ModelCapabilities) -> str:
    gives_urls = caps.delivery == "url" or "url" in caps.response_formats
    if not gives_urls:
        return "url delivery: response_format=url is served by the gateway, which hosts the images"
    if caps.delivery != "url" or "b64_json" in caps.response_formats:
        return "url delivery: native; b64_json native too"
    if caps.download_hosts:
        hosts = ", ".join(sorted(caps.download_hosts))
        return f"url delivery: native; b64_json made by downloading the upstream's URL (from {hosts})"
    return "url delivery: native; b64_json IMPOSSIBLE: no download_hosts are declared to fetch images from"
