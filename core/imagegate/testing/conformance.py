"""The conformance suite a provider plugin runs against itself: subclass :class:`ProviderConformance` in a
test module, name the provider and the upstream model, and give a fake upstream::

    class TestMyProvider(ProviderConformance):
        provider = "myupstream"                      # the provider's name (``plugin:`` in routes.yaml)
        upstream_model = "my-model-1"
        account = {"api_key": "test-key", "base_url": "{upstream}"}   # {upstream}: the fake's URL

        def upstream(self):
            return my_fake_upstream_app()            # an aiohttp web.Application

The suite serves the fake upstream and a gateway routing two models to the provider (one with the provider
alone, one with a fallback after it), and checks, through the official ``openai`` SDK:

- the provider is registered through the ``imagegate`` entry-point group;
- its declared :class:`~imagegate.ModelCapabilities` are consistent;
- ``build`` is pure (no network, the call left as it was) and deterministic;
- every upstream failure (:data:`~imagegate.testing.faults.FAULTS`: 400, 401, 403, 404, 408, 429 with and
  without Retry-After, 500, 503, a 200 that is not an image, a truncated body) reaches the client as the
  right error, and is retried and falls back as :class:`Expect` says;
- generation, n fan-out, url delivery, transcoding, edits and variations (when declared) work end to end.

Everything the suite needs is overridable per class: ``expect`` (per fault), ``request`` (fields sent with
every request), ``target`` (route keys), ``environ`` (for ``${VAR}`` in ``account``), and the methods
:meth:`~ProviderConformance.error_response` and :meth:`~ProviderConformance.counts_as_call`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import io
import math
import socket
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import yaml
from aiohttp import web

from ..capabilities import ModelCapabilities, parse_size, round_to_multiple
from ..config import Target, load_routes
from ..planner import make_plan
from ..plugins import build_plugin_manager, collect_providers
from ..provider import Provider, UpstreamCall, UpstreamRequest
from ..request import KNOWN_FIELDS, ImageParams, ImageRequest, InputImage
from .clock import FakeClock
from .declarations import capability_problems
from .fallback import FALLBACK_PROVIDER, FallbackPlugin
from .faults import FAULTS, Fault, FaultInjector
from .gateway import serve_gateway
from .images import describe_image, make_image
from .servers import serve_upstream

MAX_ATTEMPTS = 2  # per target, in the suite's routes: a retried failure is seen twice by the upstream
PROMPT = "a lighthouse on a cliff, conformance test"


@dataclass(frozen=True)
class Expect:
    """What the client gets when the upstream fails one way, and what the gateway does about it.

    ``status`` and ``code`` are the client's error (``code=None``: any code); ``retried``: the same target
    is tried again (the suite allows two attempts); ``falls_back``: the next target is tried (it also means
    the failure counts toward the target's cooldown); ``retry_after``: the client's ``retry-after`` in
    seconds, and when retried, the wait before the retry (``None``: no header, and a backoff wait)."""

    status: int
    code: str | None = None
    retried: bool = False
    falls_back: bool = False
    retry_after: float | None = None


DEFAULT_EXPECTATIONS: Mapping[str, Expect] = {
    "400": Expect(400),
    "401": Expect(502, "upstream_auth_failed", falls_back=True),
    "403": Expect(502, "upstream_auth_failed", falls_back=True),
    "404": Expect(502, "upstream_not_found", falls_back=True),
    "408": Expect(502, "upstream_unavailable", retried=True, falls_back=True),
    "429": Expect(429, "rate_limit_exceeded", retried=True, falls_back=True),
    "429-retry-after": Expect(429, "rate_limit_exceeded", retried=True, falls_back=True, retry_after=2.0),
    "500": Expect(502, "upstream_unavailable", retried=True, falls_back=True),
    "503": Expect(502, "upstream_unavailable", retried=True, falls_back=True),
    "non-image-200": Expect(502, "upstream_bad_image", retried=True, falls_back=True),
    "truncated": Expect(502, "upstream_unavailable", retried=True, falls_back=True),
}


@dataclass
class Harness:
    """What one test class's gateway is made of (the ``conformance`` fixture)."""

    client: Any  # openai.OpenAI
    clock: FakeClock
    provider: Provider
    target: Target  # the provider's target in the route "solo"
    injector: FaultInjector | None  # None: the provider makes no upstream calls

    @property
    def capabilities(self) -> ModelCapabilities:
        return self.target.capabilities


class ProviderConformance:
    """Subclass as ``Test...`` to run the suite; see the module's documentation (and docs/plugins.md)."""

    provider: ClassVar[str]
    upstream_model: ClassVar[str]
    account: ClassVar[Mapping[str, Any]] = {}
    target: ClassVar[Mapping[str, Any]] = {}
    request: ClassVar[Mapping[str, Any]] = {}
    environ: ClassVar[Mapping[str, str]] = {}
    expect: ClassVar[Mapping[str, Expect]] = {}

    # --- what a test class provides ------------------------------------------------------------------

    def upstream(self) -> web.Application | None:
        """The fake upstream, or ``None`` for a provider that makes no upstream calls (the fault tests are
        then skipped). Called once per test class, before its server starts."""
        raise NotImplementedError("return your fake upstream's aiohttp web.Application from upstream()")

    def error_response(self, status: int) -> web.Response:
        """What the fake upstream answers for an error ``status``; override to use the upstream's own error
        shape. The default is OpenAI's."""
        kind = "invalid_request_error" if status < 500 else "server_error"
        message = f"conformance test: simulated HTTP {status}"
        return web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
        )

    def counts_as_call(self, method: str, path: str) -> bool:
        """Whether an upstream request starts a call (one per attempt). Downloads and polls are ``GET``."""
        return method != "GET"

    # --- the gateway ---------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
        import openai

        self = cls()
        directory = tmp_path_factory.mktemp("conformance")
        app = self.upstream()
        injector = None if app is None else FaultInjector(self.error_response)
        with contextlib.ExitStack() as stack:
            upstream_url = (
                "http://127.0.0.1:9"  # the discard port: a provider without upstream never calls it
            )
            if app is not None and injector is not None:
                upstream_url = stack.enter_context(serve_upstream(injector.install(app)))
            routes = self._routes(upstream_url, directory)
            manager = build_plugin_manager(self.environ, [FallbackPlugin()])
            providers = collect_providers(manager)
            if self.provider not in providers:
                failures = "; ".join(failure.describe() for failure in manager.failures) or "none"
                pytest.fail(
                    f"no installed plugin registers a provider named '{self.provider}' (loaded: "
                    f"{', '.join(sorted(providers))}; failed: {failures}). Install the plugin "
                    "(pip install -e .) so its entry point is found."
                )
            (directory / "routes.yaml").write_text(routes)
            table = load_routes(directory / "routes.yaml", providers, self.environ, manager.unavailable())
            clock = FakeClock()
            url = stack.enter_context(
                serve_gateway(
                    routes, directory, environ=self.environ, plugins=[FallbackPlugin()], clock=clock
                )
            )
            client = openai.OpenAI(base_url=url + "/v1", api_key="conformance", max_retries=0)
            yield Harness(client, clock, providers[self.provider], table.models["solo"].targets[0], injector)

    def _routes(self, upstream_url: str, directory: Any) -> str:
        own = {
            "provider": "under-test",
            "upstream_model": self.upstream_model,
            **_fill(self.target, upstream_url),
        }
        document = {
            "server": {
                "image_store": {"directory": str(directory / "images")},
                "retry": {"max_attempts": MAX_ATTEMPTS, "max_retry_after_seconds": 30},
                "cooldown": {"failures": 0},  # every test starts with a healthy target
            },
            "providers": {
                "under-test": {"plugin": self.provider, **_fill(self.account, upstream_url)},
                "fallback": {"plugin": FALLBACK_PROVIDER},
            },
            "models": {"solo": [own], "with-fallback": [own, {"provider": "fallback"}]},
        }
        return yaml.safe_dump(document, sort_keys=False)

    def _request(self, caps: ModelCapabilities, **fields: Any) -> dict[str, Any]:
        size = _small_size(caps)
        return {"prompt": PROMPT, **({"size": size} if size else {}), **self.request, **fields}

    def _calls(self, harness: Harness, since: int) -> int:
        assert harness.injector is not None
        return sum(1 for r in harness.injector.received[since:] if self.counts_as_call(r.method, r.path))

    # --- registration and declarations ---------------------------------------------------------------

    def test_provider_is_registered_through_an_entry_point(self, conformance: Harness) -> None:
        manager = build_plugin_manager({})
        collect_providers(manager)
        owners = [name for name, provided in manager.provided.items() if self.provider in provided]
        assert owners, f"no entry point of the 'imagegate' group registers '{self.provider}'"
        assert owners[0] in manager.distributions, f"plugin '{owners[0]}' has no distribution"
        assert isinstance(conformance.provider, Provider)

    def test_declared_capabilities_are_consistent(self, conformance: Harness) -> None:
        provider, options = conformance.provider, conformance.target.options
        declared = provider.capabilities(self.upstream_model, options)
        problems = capability_problems(declared)
        kind = type(provider)
        if declared.streaming and kind.parse_event is Provider.parse_event and kind.stream is Provider.stream:
            problems.append("streaming=True needs parse_event() (an upstream that streams) or stream()")
        assert not problems, "inconsistent capabilities:\n- " + "\n- ".join(problems)
        assert provider.capabilities(self.upstream_model, options) == declared, "capabilities() varies"

    def test_build_is_pure_and_deterministic(
        self, conformance: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        provider = conformance.provider
        if type(provider).build is Provider.build:
            pytest.skip("the provider overrides run() and has no build()")
        monkeypatch.setattr(socket.socket, "connect", _no_network)
        monkeypatch.setattr(socket, "getaddrinfo", _no_network)
        caps = conformance.capabilities
        for operation in sorted(caps.operations):
            request = _image_request(operation, caps, self._request(caps), self.upstream_model)
            plan = make_plan(request, caps, "solo", conformance.target.params)
            for call in plan.calls(request, conformance.target):
                before = _snapshot(call)
                built = provider.build(call)
                assert isinstance(built, UpstreamRequest), f"build() returned {type(built).__name__}"
                assert _snapshot(call) == before, f"build() changed the call ({operation})"
                assert provider.build(call) == built, f"build() gave two answers for one call ({operation})"
                assert provider.build(copy.copy(call)) == built, "build() depends on the call's identity"

    # --- failures ------------------------------------------------------------------------------------

    @pytest.mark.parametrize("fault", [pytest.param(fault, id=fault.name) for fault in FAULTS])
    def test_upstream_failure_reaches_the_client_as_documented(
        self, conformance: Harness, fault: Fault
    ) -> None:
        if conformance.injector is None:
            pytest.skip("the provider makes no upstream calls")
        import openai

        expect = {**DEFAULT_EXPECTATIONS, **self.expect}[fault.name]
        injector, clock, client = conformance.injector, conformance.clock, conformance.client
        request = self._request(conformance.capabilities, response_format="b64_json")
        injector.active, injector.images_replaced = fault, 0
        try:
            calls_before, sleeps_before = len(injector.received), len(clock.sleeps)
            with pytest.raises(openai.APIStatusError) as failure:
                client.images.generate(model="solo", **request)
            if fault.kind == "not_image":
                assert injector.images_replaced, (
                    "the fake upstream's answer held no image the suite recognises (raw image bytes, or "
                    "base64 in a JSON body), so it could not spoil one"
                )
            error = failure.value
            body = error.response.json()["error"]
            assert set(body) >= {"message", "type", "param", "code"}
            assert (error.status_code, body["code"] if expect.code else None) == (
                expect.status,
                expect.code,
            ), f"{fault.name}: the client got {error.status_code} {body['code']}: {body['message']}"
            attempts = self._calls(conformance, calls_before)
            assert attempts == (MAX_ATTEMPTS if expect.retried else 1), f"{fault.name}: {attempts} attempt(s)"
            waits = clock.sleeps[sleeps_before:]
            if expect.retried:
                assert len(waits) == 1 and (expect.retry_after is None or waits == [expect.retry_after]), (
                    waits
                )
            header = error.response.headers.get("retry-after")
            wanted = None if expect.retry_after is None else str(max(1, round(expect.retry_after)))
            assert header == wanted, f"{fault.name}: retry-after {header!r}, expected {wanted!r}"

            calls_before = len(injector.received)
            if expect.falls_back:
                result = client.images.generate(model="with-fallback", **request)
                assert [item.model_extra.get("served_by") for item in result.data] == [FALLBACK_PROVIDER]
            else:
                with pytest.raises(openai.APIStatusError) as again:
                    client.images.generate(model="with-fallback", **request)
                assert again.value.status_code == expect.status
            assert self._calls(conformance, calls_before) == attempts  # the same attempts, then fallback
        finally:
            injector.active = None

    # --- end to end ----------------------------------------------------------------------------------

    def test_generation_returns_images_of_the_reported_size(self, conformance: Harness) -> None:
        caps = conformance.capabilities
        result = conformance.client.images.generate(
            model="solo", **self._request(caps, response_format="b64_json")
        )
        images = [describe_image(base64.b64decode(item.b64_json)) for item in result.data]
        assert len(images) == 1
        if result.size:
            assert result.size == f"{images[0][1]}x{images[0][2]}"
        if result.output_format:
            assert images[0][0] == result.output_format

    def test_n_is_fanned_out_in_calls_of_max_images_per_call(self, conformance: Harness) -> None:
        caps = conformance.capabilities
        n = min(caps.max_n, max(2, caps.max_images_per_call + 1))
        if n < 2:
            pytest.skip("the model makes one image per request")
        since = len(conformance.injector.received) if conformance.injector else 0
        result = conformance.client.images.generate(
            model="solo", **self._request(caps, n=n, response_format="b64_json")
        )
        assert len(result.data) == n
        for item in result.data:
            describe_image(base64.b64decode(item.b64_json))
        if conformance.injector is not None:
            assert self._calls(conformance, since) == math.ceil(n / caps.max_images_per_call)

    def test_url_delivery(self, conformance: Harness) -> None:
        import httpx

        caps = conformance.capabilities
        result = conformance.client.images.generate(
            model="solo", **self._request(caps, response_format="url")
        )
        url = result.data[0].url
        assert url and result.data[0].b64_json is None
        fetched = httpx.get(url)
        assert fetched.status_code == 200
        describe_image(fetched.content)

    def test_transcoding_to_a_format_the_upstream_does_not_make(self, conformance: Harness) -> None:
        caps = conformance.capabilities
        case = _transcoding_case(caps)
        if case is None:
            pytest.skip("the upstream makes every format natively, with compression: nothing to transcode")
        fmt, compression = case
        fields: dict[str, Any] = {"output_format": fmt, "response_format": "b64_json"}
        if compression is not None:
            fields["output_compression"] = compression
        result = conformance.client.images.generate(model="solo", **self._request(caps, **fields))
        assert describe_image(base64.b64decode(result.data[0].b64_json))[0] == fmt
        assert result.output_format == fmt

    def test_streaming(self, conformance: Harness) -> None:
        """``stream=true`` works whatever the upstream: a streaming one relays its events, and for any other
        the core makes the stream from the finished image."""
        caps = conformance.capabilities
        fields = self._request(caps, response_format="b64_json", stream=True, partial_images=1)
        events = list(conformance.client.images.generate(model="solo", **fields))
        kinds = [event.type for event in events]
        assert set(kinds) <= {"image_generation.partial_image", "image_generation.completed"}, kinds
        assert kinds[-1] == "image_generation.completed" and kinds.count("image_generation.completed") == 1
        describe_image(base64.b64decode(events[-1].b64_json))

    def test_edit(self, conformance: Harness) -> None:
        caps = conformance.capabilities
        if "edit" not in caps.operations:
            pytest.skip("the model does not declare edits")
        width, height = parse_size(_small_size(caps) or "") or (256, 256)
        fields = self._request(caps, response_format="b64_json")
        if caps.mask:
            fields["mask"] = ("mask.png", make_image(width, height, "png", alpha=True), "image/png")
        image = ("input.png", make_image(width, height, "png"), "image/png")
        result = conformance.client.images.edit(model="solo", image=image, **fields)
        assert len(result.data) == 1
        describe_image(base64.b64decode(result.data[0].b64_json))

    def test_variation(self, conformance: Harness) -> None:
        caps = conformance.capabilities
        if "variation" not in caps.operations:
            pytest.skip("the model does not declare variations")
        width, height = parse_size(_small_size(caps) or "") or (256, 256)
        fields = {k: v for k, v in self._request(caps, response_format="b64_json").items() if k != "prompt"}
        image = ("input.png", make_image(width, height, "png"), "image/png")
        with warnings.catch_warnings():  # the SDK marks variations deprecated; the API still serves them
            warnings.simplefilter("ignore", DeprecationWarning)
            result = conformance.client.images.create_variation(model="solo", image=image, **fields)
        assert len(result.data) == 1
        describe_image(base64.b64decode(result.data[0].b64_json))


def _small_size(caps: ModelCapabilities) -> str | None:
    """The smallest size the model takes as written (a quick test), or a square WxH for aspect-ratio
    models, or ``None`` when it takes no size."""
    spec = caps.sizes
    candidates = [size for size in spec.sizes if size != "auto"]
    if spec.multiple_of:
        side = round_to_multiple(256, spec.multiple_of)
        side = max(side, math.ceil(spec.min_side / spec.multiple_of) * spec.multiple_of)
        side = max(side, math.ceil(math.sqrt(spec.min_pixels or 0) / spec.multiple_of) * spec.multiple_of)
        candidates.append(f"{side}x{side}")
    accepted = [size for size in candidates if spec.accepts(size)]
    if accepted:
        return min(accepted, key=lambda size: math.prod(parse_size(size) or (0, 0)))
    return "1024x1024" if spec.aspect_ratios else None


def _transcoding_case(caps: ModelCapabilities) -> tuple[str, int | None] | None:
    foreign = [fmt for fmt in ("webp", "jpeg", "png") if fmt not in caps.output_formats]
    if foreign:
        return foreign[0], None
    if not caps.output_compression:
        return next(fmt for fmt in ("jpeg", "webp") if fmt in caps.output_formats), 50
    return None


def _image_request(
    operation: str, caps: ModelCapabilities, fields: dict[str, Any], model: str
) -> ImageRequest:
    width, height = parse_size(fields.get("size") or "") or (256, 256)
    images = [] if operation == "generate" else [_upload("image", make_image(width, height), False)]
    mask = (
        _upload("mask", make_image(width, height, alpha=True), True)
        if operation == "edit" and caps.mask
        else None
    )
    known = {k: v for k, v in fields.items() if k in KNOWN_FIELDS}
    if operation == "variation":
        known.pop("prompt", None)
    params = ImageParams(model=model, **known)
    extra = {k: v for k, v in fields.items() if k not in KNOWN_FIELDS}
    return ImageRequest(
        operation=operation, params=params, model="solo", extra=extra, images=images, mask=mask
    )  # type: ignore[arg-type]


def _upload(param: str, data: bytes, alpha: bool) -> InputImage:
    fmt, width, height, _ = describe_image(data)
    return InputImage(io.BytesIO(data), f"{param}.png", "image/png", fmt, width, height, alpha, param=param)


def _snapshot(call: UpstreamCall) -> dict[str, Any]:
    return {f.name: copy.copy(getattr(call, f.name)) for f in dataclasses.fields(call)}


def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("build() must not touch the network: the core sends what it returns")


def _fill(mapping: Mapping[str, Any], upstream_url: str) -> dict[str, Any]:
    """``mapping`` with ``{upstream}`` in its strings replaced by the fake upstream's URL."""
    return {
        key: value.replace("{upstream}", upstream_url) if isinstance(value, str) else value
        for key, value in mapping.items()
    }
