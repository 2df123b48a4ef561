"""routes.yaml → typed route table.

Everything is checked at load: unknown keys, unknown plugins and accounts, provider-specific keys (validated
against each provider's own ``account_type``/``options_type``), upstream models the provider cannot serve.
Errors name the file and the key path. ``${VAR}`` and ``${VAR:-default}`` come from the environment; an unset
variable does not fail the load but marks its account unusable, with the reason, for the routes that use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect
import yaml

from .capabilities import PERMISSIVE, ModelCapabilities, Operation
from .catalog import (
    Base,
    DeclarationError,
    ModelDeclaration,
    declared_price,
    resolve_declared,
    undeclared,
)
from .clients.pricing import Price
from .clients.registry import ClientEntry, ClientRegistry, ClientsError, build_registry
from .errors import has_credentials, without_credentials
from .images import pixel_limit
from .provider import AccountConfig, Provider, TargetOptions

# LibYAML's loader where PyYAML was built with it: a routes file of 1,000 clients loads in 0.06 s instead of 0.4.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`")
LOCATION_SEGMENT = re.compile(r"\.[^.\[]+|\[[^\]]*\]")
# Keys whose values are (or are easily mistaken for) secrets: api_key, *_key, *token*, secret*, password,
# credential: a message about their value never quotes it.
SECRET_KEY = re.compile(r"(?i)(^|_)key$|token|secret|password|credential")
QUOTED = re.compile(r"'[^']*'|`[^`]*`")


class RoutesError(Exception):
    """A routes file that cannot be used; the message names the file and key path. It is shown on /readyz and
    by ``imagegate check``: it never holds the file's text, and credentials in URLs are left out."""

    def __init__(self, source: str, path: str, message: str) -> None:
        message = without_credentials(message)
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")
        self.source, self.path, self.message = source, path, message


class Timeout(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    connect: float = 10.0
    total: float = 300.0  # image calls are long; most gateways' 60 s default cuts them off


NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class RetrySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one upstream call is retried on the same target (docs/routing.md)."""

    max_attempts: Annotated[int, msgspec.Meta(ge=1)] = 3  # per call and target, the first included
    backoff_seconds: NonNegative = 0.5  # before the first retry; doubles after each, with jitter
    max_backoff_seconds: NonNegative = 8.0
    max_retry_after_seconds: NonNegative = 30.0  # an upstream asking to wait longer is not retried
    deadline_seconds: Positive = 540.0  # the whole request, every attempt and fallback included
    # No attempt starts with less of the deadline left; unset: 1 s, or a tenth of the deadline if shorter.
    min_attempt_seconds: NonNegative | None = None

    @property
    def min_attempt(self) -> float:
        if self.min_attempt_seconds is not None:
            return self.min_attempt_seconds
        return min(1.0, self.deadline_seconds / 10)


class CooldownSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Circuit breaking per target: ``failures`` within ``window_seconds`` skip it for ``duration_seconds``."""

    failures: Annotated[int, msgspec.Meta(ge=0)] = 3  # 0 turns cooldown off
    window_seconds: Positive = 60.0
    duration_seconds: NonNegative = 30.0


class S3Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An S3-compatible bucket for hosted images, shared by every replica (docs/replicas.md)."""

    bucket: str
    endpoint_url: str | None = None  # absent: AWS S3 in ``region``
    region: str = "us-east-1"
    # Both absent: the credentials the environment provides (AWS_ACCESS_KEY_ID..., a web identity token).
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = "hosted/"  # object keys start with it; the lifecycle rule covers only this prefix


PRESIGNED_MAX_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    directory: str = "var/images"  # the local store, used when ``s3`` is absent
    s3: S3Settings | None = None
    ttl_seconds: Annotated[int, msgspec.Meta(gt=0)] = 3600
    cleanup_interval_seconds: Annotated[int, msgspec.Meta(gt=0)] = 60
    # presigned: clients fetch from the bucket; gateway: /v1/images/hosted/{name} on any replica.
    # Absent: presigned with s3, gateway with the local directory.
    urls: Literal["presigned", "gateway"] | None = None

    @property
    def url_mode(self) -> Literal["presigned", "gateway"]:
        return self.urls or ("presigned" if self.s3 is not None else "gateway")


class SharedStateSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """State shared by every replica in Redis (docs/replicas.md); absent: each process keeps its own."""

    redis_url: str
    key_prefix: str = "imagegate:"
    # A Redis call slower than this counts as an error and the process's own state answers instead.
    timeout_seconds: Positive = 0.25
    # While Redis fails: allow (fail open, the default) or deny requests whose budget cannot be checked.
    budget_on_state_error: Literal["allow", "deny"] = "allow"


class ImageUrlSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Images a JSON edit references by http(s) URL, fetched by the gateway (at most ``download_max_mb``)."""

    enabled: bool = True
    allow_private_networks: bool = False  # loopback, private ranges, link-local (cloud metadata) stay off
    timeout_seconds: Positive = 30.0


class ConnectionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits on what one client connection may hold (per gateway process; imagegate/serving.py).
    ``body_idle_seconds`` follows reloads; the others take effect when the gateway restarts."""

    header_timeout_seconds: Positive = 10.0  # to receive a request's line and headers (else 408, or closed)
    body_idle_seconds: Positive = 30.0  # the longest wait for the next part of a body being read (else 408)
    keep_alive_seconds: Positive = 5.0  # an idle connection between requests is closed after this
    max_header_kb: Annotated[int, msgspec.Meta(ge=1)] = 32  # request line and headers (else 431)
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1000  # open at once; over it: 503, retry-after


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_mb: float = 64.0
    connections: ConnectionSettings = ConnectionSettings()
    # The most pixels an image the gateway decodes may declare (inputs, and upstream results it transcodes);
    # checked from the header before any decoding, and never above Pillow's own limit.
    max_input_pixels: Annotated[int, msgspec.Meta(gt=0)] = 40_000_000
    public_base_url: str | None = None  # the base of hosted image URLs when behind a proxy
    default_model: str | None = None  # used when a request names no model
    max_parallel_calls: int = 4  # upstream calls in flight for one fanned-out request
    download_max_mb: float = 64.0  # size limit when fetching an image by URL (an upstream's or a client's)
    image_urls: ImageUrlSettings = ImageUrlSettings()
    image_store: StoreSettings = StoreSettings()
    shared_state: SharedStateSettings | None = None
    # How often routes.yaml is checked for changes (0: only on SIGHUP).
    reload_check_seconds: NonNegative = 1.0
    retry: RetrySettings = RetrySettings()  # defaults for every model
    # A streamed answer sends a comment line after this long without an event (keeps proxies from timing out).
    stream_keepalive_seconds: Positive = 15.0
    cooldown: CooldownSettings = CooldownSettings()
    # Guards /metrics, /readyz details and /admin/*; unset: those answer loopback clients only.
    admin_key: str | None = None


class _AccountEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plugin: str
    timeout: Timeout | None = None
    models: dict[str, Any] = {}  # upstream models declared or corrected for this account (ModelDeclaration)


class _TargetEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    provider: str
    upstream_model: str | None = None
    params: dict[str, Any] = {}  # fixed: a client sending another value is refused
    defaults: dict[str, Any] = {}  # used when the client sends no value of its own
    capabilities: dict[str, Any] = {}
    timeout: Timeout | None = None
    weight: float = 1.0
    price: Price | None = None  # replaces the provider's default price for this target


Strategy = Literal["fallback", "weighted", "least-busy"]
UnknownParams = Literal["forward", "refuse"]


class _ModelEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    targets: list[dict[str, Any]]
    strategy: Strategy = "fallback"
    aliases: list[str] = []
    retry: dict[str, Any] = {}  # overlays server.retry, key by key
    cooldown: dict[str, Any] = {}  # overlays server.cooldown
    fallback_on_content_policy: bool = False
    unknown_params: UnknownParams | None = None  # default: forward where the target speaks OpenAI's dialect


class _AliasEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    alias_of: str


class _AnyAccount(AccountConfig, forbid_unknown_fields=False):
    pass


class _AnyOptions(TargetOptions, forbid_unknown_fields=False):
    pass


class UnavailablePlugin(Provider):
    """Stands in for a plugin that is installed but not serving (blocked, or failed to load): the accounts
    naming it load as not usable with the reason, so their routes answer 503 saying why while every other
    route serves. It takes any keys and declares that it can do anything, so requests reach that 503 rather
    than a 400 about a capability nobody declared."""

    account_type = _AnyAccount
    options_type = _AnyOptions

    def __init__(self, name: str, reason: str) -> None:
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def capabilities(self, upstream_model: str, options: Any) -> ModelCapabilities:
        return PERMISSIVE

    def check_account(self, account: Any) -> str | None:
        return f"plugin '{self.name}' {self.reason}"


@dataclass(slots=True)
class Account:
    name: str
    provider: Provider
    config: AccountConfig
    timeout: Timeout
    problem: str | None  # why the account cannot be used, or None
    models: dict[str, ModelDeclaration] = field(default_factory=dict)


@dataclass(slots=True)
class Target:
    account: Account
    upstream_model: str
    capabilities: ModelCapabilities
    options: TargetOptions
    params: dict[str, Any]  # fixed by the route
    timeout: Timeout
    weight: float
    prices: dict[Operation, Price] = field(default_factory=dict)  # none for an operation: priced at 0
    defaults: dict[str, Any] = field(default_factory=dict)  # the client may send its own value

    @property
    def label(self) -> str:
        return f"{self.account.name}/{self.upstream_model}"


@dataclass(slots=True)
class ModelRoute:
    model: str
    targets: list[Target]
    strategy: Strategy = "fallback"
    retry: RetrySettings = field(default_factory=RetrySettings)
    cooldown: CooldownSettings = field(default_factory=CooldownSettings)
    fallback_on_content_policy: bool = False
    aliases: list[str] = field(default_factory=list)  # other model ids that stand for this one
    # "refuse": fields the gateway does not know are refused for every target; None or "forward": passed on
    # to targets that speak the client's dialect, refused for the others (docs/parameters.md).
    unknown_params: UnknownParams | None = None


@dataclass(slots=True)
class RouteTable:
    source: str
    server: ServerSettings
    accounts: dict[str, Account]
    models: dict[str, ModelRoute] = field(default_factory=dict)  # aliases included, sharing their route
    clients: ClientRegistry | None = None  # None: no client authentication


def load_routes(
    path: str | Path,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str] | None = None,
) -> RouteTable:
    """Read and validate ``path``. ``unavailable`` maps plugins that are installed but not serving (blocked or
    failed to load) to why: accounts naming them load as not usable, with that reason, instead of failing the
    whole file."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RoutesError(source, "", f"cannot read the file ({exc.strerror})") from None
    return parse_routes(text, source, providers, environ, unavailable)


def parse_routes(
    text: str,
    source: str,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str] | None = None,
) -> RouteTable:
    try:
        document = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise RoutesError(source, "", f"not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(document, dict):
        raise RoutesError(source, "", "the file must be a mapping with 'providers' and 'models'")
    unknown = set(document) - {"server", "providers", "models", "clients"}
    if unknown:
        raise RoutesError(
            source, sorted(unknown)[0], "unknown key (expected server, providers, models, clients)"
        )
    server = _load_server(_mapping(document.get("server"), source, "server"), source, environ)
    server = msgspec.structs.replace(server, max_input_pixels=pixel_limit(server.max_input_pixels))
    _check_retry(server.retry, source, "server.retry")
    accounts = {
        str(name): _load_account(str(name), entry, source, providers, environ, unavailable or {})
        for name, entry in _mapping(document.get("providers"), source, "providers").items()
    }
    table = RouteTable(source=source, server=server, accounts=accounts)
    entries = {
        str(model): entry for model, entry in _mapping(document.get("models"), source, "models").items()
    }
    alias_of = {
        model: _convert(entry, _AliasEntry, source, f"models.{model}").alias_of
        for model, entry in entries.items()
        if isinstance(entry, dict) and "alias_of" in entry
    }
    for model, entry in entries.items():
        if model not in alias_of:
            table.models[model] = _load_model(model, entry, source, server, accounts)
    _add_aliases(table, alias_of, source)
    table.clients = _load_clients(document.get("clients"), source, environ, table.models)
    if server.default_model and server.default_model not in table.models:
        raise RoutesError(
            source, "server.default_model", f"'{server.default_model}' is not a model in this file"
        )
    return table


def _load_server(entry: dict[Any, Any], source: str, environ: Mapping[str, str]) -> ServerSettings:
    """The server section; ``${VAR}`` is substituted in the sections that hold connection secrets, where an
    unset variable is an error (these serve every route)."""
    entry = dict(entry)
    if "admin_key" in entry:  # unset: the admin endpoints answer loopback only (not an error)
        entry["admin_key"] = _substitute(entry["admin_key"], environ, set())
    for key in ("image_store", "shared_state"):
        if key in entry:
            missing: set[str] = set()
            entry[key] = _substitute(entry[key], environ, missing)
            if missing:
                raise RoutesError(
                    source, f"server.{key}", f"environment variable {', '.join(sorted(missing))} is not set"
                )
    server: ServerSettings = _convert(entry, ServerSettings, source, "server")
    store = server.image_store
    if store.url_mode == "presigned" and store.s3 is None:
        raise RoutesError(source, "server.image_store.urls", "presigned URLs need an s3 store")
    if store.url_mode == "presigned" and store.ttl_seconds > PRESIGNED_MAX_SECONDS:
        raise RoutesError(
            source,
            "server.image_store.ttl_seconds",
            f"presigned URLs live at most {PRESIGNED_MAX_SECONDS} s (7 days); use urls: gateway for longer",
        )
    s3 = store.s3
    if s3 is not None and (s3.access_key_id is None) != (s3.secret_access_key is None):
        raise RoutesError(
            source, "server.image_store.s3", "give both access_key_id and secret_access_key, or neither"
        )
    return server


def _mapping(value: Any, source: str, path: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RoutesError(source, path, "must be a mapping")
    return value


def _convert(value: Any, type_: Any, source: str, path: str, also_valid: Iterable[str] = ()) -> Any:
    """``value`` as ``type_``, or a :class:`RoutesError` at the key path; an unknown key's error lists the
    keys that are valid there (``also_valid``: keys a caller took out before converting the rest)."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        location = ""
        if " - at `$" in message:
            message, _, location = message.rpartition(" - at `$")
            location = location.rstrip("`")
        if SECRET_KEY.search(location.rpartition(".")[2]):
            message = QUOTED.sub("'…'", message)  # never echo what may be a secret
        unknown = UNKNOWN_FIELD.match(message)
        if unknown is not None:
            valid = _keys_at(type_, location) + (list(also_valid) if not location else [])
            message = f"unknown key '{unknown.group(1)}' (valid keys: {', '.join(sorted(valid)) or 'none'})"
        raise RoutesError(source, path + location, message) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, without the lines of the file it quotes (they may hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "the file cannot be parsed"
    found = [
        f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if text
    ]
    return "; ".join(found) or "the file cannot be parsed"


def _keys_at(type_: Any, location: str) -> list[str]:
    """The keys of the struct found at ``location`` (msgspec's ``.field``/``[0]``/``[...]`` path) in ``type_``."""
    info: Any = msgspec.inspect.type_info(type_)
    for segment in LOCATION_SEGMENT.findall(location):
        info = _unwrap(info)
        if segment.startswith(".") and isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == segment[1:]), None)
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.VarTupleType):
            info = info.item_type
        else:
            return []
    info = _unwrap(info)
    return [f.encode_name for f in info.fields] if isinstance(info, msgspec.inspect.StructType) else []


def _unwrap(info: Any) -> Any:
    """The struct, mapping or list inside an optional type (``X | None``)."""
    if isinstance(info, msgspec.inspect.UnionType):
        return next((t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)), info)
    return info


def _substitute(value: Any, environ: Mapping[str, str], missing: set[str]) -> Any:
    """Replace ``${VAR}`` in strings; a whole-value reference to an unset variable becomes ``None``."""
    if isinstance(value, dict):
        return {key: _substitute(item, environ, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, environ, missing) for item in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        missing.add(name)
        return ""

    result = ENV_PATTERN.sub(replace, value)
    return None if result == "" and missing else result


def _load_clients(
    value: Any, source: str, environ: Mapping[str, str], models: Mapping[str, ModelRoute]
) -> ClientRegistry | None:
    entries: dict[str, ClientEntry] = {}
    missing: dict[str, set[str]] = {}
    for name, raw in _mapping(value, source, "clients").items():
        missing[str(name)] = set()
        raw = _substitute(_mapping(raw, source, f"clients.{name}"), environ, missing[str(name)])
        entries[str(name)] = _convert(raw, ClientEntry, source, f"clients.{name}")
    if not entries:
        return None
    try:
        return build_registry(entries, models, missing)
    except ClientsError as exc:
        raise RoutesError(source, f"clients.{exc.path}", str(exc)) from None


def _load_account(
    name: str,
    entry: Any,
    source: str,
    providers: Mapping[str, Provider],
    environ: Mapping[str, str],
    unavailable: Mapping[str, str],
) -> Account:
    path = f"providers.{name}"
    entry = _mapping(entry, source, path)
    generic_keys = _AccountEntry.__struct_fields__
    generic = {key: entry[key] for key in generic_keys if key in entry}
    head = _convert(generic, _AccountEntry, source, path)
    provider = providers.get(head.plugin)
    if provider is None and head.plugin in unavailable:
        provider = UnavailablePlugin(head.plugin, unavailable[head.plugin])
    if provider is None:
        known = ", ".join(sorted(providers)) or "none"
        raise RoutesError(source, f"{path}.plugin", f"unknown plugin '{head.plugin}' (loaded: {known})")
    missing: set[str] = set()
    specific = _substitute({k: v for k, v in entry.items() if k not in generic}, environ, missing)
    for key, value in specific.items():
        if isinstance(value, str) and has_credentials(value):
            raise RoutesError(
                source,
                f"{path}.{key}",
                "holds credentials (user:password@) in a URL; give them in the provider's own key "
                "(api_key, ...), not in the URL",
            )
    try:
        config = msgspec.convert(specific, provider.account_type)
    except msgspec.ValidationError as exc:
        if not missing:  # raises with the key path
            _convert(specific, provider.account_type, source, path, also_valid=generic_keys)
        config = provider.account_type.__new__(provider.account_type)
        problem = f"environment variable {', '.join(sorted(missing))} is not set ({exc})"
    else:
        problem = provider.check_account(config)
        if missing:  # the cause the operator must fix, whatever the provider concluded from it
            unset = f"environment variable {', '.join(sorted(missing))} is not set"
            problem = f"{unset} ({problem})" if problem else unset
    models = {
        str(model): _convert(declaration, ModelDeclaration, source, f"{path}.models.{model}")
        for model, declaration in head.models.items()
    }
    for model in models:  # the shape of each declaration, before any target uses it
        _declared(model, models, undeclared, source, path)
    return Account(
        name=name,
        provider=provider,
        config=config,
        timeout=head.timeout or Timeout(),
        problem=problem,
        models=models,
    )


def _declared(
    model: str, declarations: Mapping[str, ModelDeclaration], base: Base, source: str, account_path: str
) -> ModelCapabilities:
    try:
        return resolve_declared(model, declarations, base)
    except DeclarationError as exc:
        raise RoutesError(
            source, f"{account_path}.models.{exc.model}.{exc.path}".rstrip("."), exc.message
        ) from None


def _load_model(
    model: str, entry: Any, source: str, server: ServerSettings, accounts: Mapping[str, Account]
) -> ModelRoute:
    path = f"models.{model}"
    if isinstance(entry, list):
        entry = {"targets": entry}
    head = _convert(_mapping(entry, source, path), _ModelEntry, source, path)
    if not head.targets:
        raise RoutesError(source, f"{path}.targets", "a model needs at least one target")
    targets = [
        _load_target(model, raw, source, f"{path}.targets[{index}]", accounts)
        for index, raw in enumerate(head.targets)
    ]
    if head.unknown_params == "forward" and not any(t.capabilities.forwards_unknown_params for t in targets):
        raise RoutesError(
            source,
            f"{path}.unknown_params",
            "no target of this model speaks the client's dialect, so unknown parameters cannot be forwarded",
        )
    return ModelRoute(
        model=model,
        targets=targets,
        strategy=head.strategy,
        retry=_check_retry(
            _overlay(server.retry, head.retry, source, f"{path}.retry"), source, f"{path}.retry"
        ),
        cooldown=_overlay(server.cooldown, head.cooldown, source, f"{path}.cooldown"),
        fallback_on_content_policy=head.fallback_on_content_policy,
        aliases=[str(alias) for alias in head.aliases],
        unknown_params=head.unknown_params,
    )


def _overlay(defaults: msgspec.Struct, overrides: dict[str, Any], source: str, path: str) -> Any:
    return _convert({**msgspec.to_builtins(defaults), **overrides}, type(defaults), source, path)


def _check_retry(retry: RetrySettings, source: str, path: str) -> RetrySettings:
    if retry.min_attempt >= retry.deadline_seconds:
        raise RoutesError(
            source,
            f"{path}.min_attempt_seconds",
            f"must be less than deadline_seconds ({retry.deadline_seconds:g}), or no attempt could ever start",
        )
    return retry


def _add_aliases(table: RouteTable, alias_of: dict[str, str], source: str) -> None:
    """Let each alias share its model's route: ``aliases:`` lists on models, and ``{alias_of: model}`` entries
    (which may name another alias; a cycle is an error)."""
    for model, route in list(table.models.items()):
        for index, alias in enumerate(route.aliases):
            if alias in table.models or alias in alias_of:
                raise RoutesError(
                    source, f"models.{model}.aliases[{index}]", f"'{alias}' is already a model or an alias"
                )
            table.models[alias] = route
    for alias in alias_of:
        chain = [alias]
        while chain[-1] in alias_of:
            following = alias_of[chain[-1]]
            if following in chain:
                cycle = " -> ".join([*chain[chain.index(following) :], following])
                raise RoutesError(source, f"models.{alias}.alias_of", f"aliases form a cycle: {cycle}")
            chain.append(following)
        route = table.models.get(chain[-1])
        if route is None:
            raise RoutesError(
                source, f"models.{chain[-2]}.alias_of", f"'{chain[-1]}' is not a model in this file"
            )
        table.models[alias] = route
        route.aliases.append(alias)


def _load_target(model: str, raw: Any, source: str, path: str, accounts: Mapping[str, Account]) -> Target:
    raw = _mapping(raw, source, path)
    generic_keys = set(_TargetEntry.__struct_fields__)
    head = _convert({k: v for k, v in raw.items() if k in generic_keys}, _TargetEntry, source, path)
    account = accounts.get(head.provider)
    if account is None:
        known = ", ".join(sorted(accounts)) or "none"
        raise RoutesError(
            source, f"{path}.provider", f"unknown provider account '{head.provider}' (known: {known})"
        )
    if head.weight <= 0:
        raise RoutesError(source, f"{path}.weight", "must be a positive number")
    provider = account.provider
    options = _convert(
        {k: v for k, v in raw.items() if k not in generic_keys},
        provider.options_type,
        source,
        path,
        also_valid=generic_keys,
    )
    upstream_model = head.upstream_model or model
    if upstream_model in account.models:
        capabilities = _declared(
            upstream_model,
            account.models,
            lambda name: provider.capabilities(name, options),
            source,
            f"providers.{account.name}",
        )
    else:
        try:
            capabilities = provider.capabilities(upstream_model, options)
        except ValueError as exc:
            raise RoutesError(source, f"{path}.upstream_model", str(exc)) from None
    if head.capabilities:
        merged = {**msgspec.to_builtins(capabilities), **head.capabilities}
        capabilities = _convert(merged, ModelCapabilities, source, f"{path}.capabilities")
    accepted = capabilities.extra_params
    for section, names in (("params", head.params), ("defaults", head.defaults)):
        for name in names:
            if accepted is not None and name not in accepted:
                known = ", ".join(sorted(accepted)) or "none"
                raise RoutesError(
                    source,
                    f"{path}.{section}.{name}",
                    f"'{upstream_model}' takes no such parameter (it takes: {known})",
                )
    for name in head.defaults:
        if name in head.params:
            raise RoutesError(
                source,
                f"{path}.defaults.{name}",
                "is also in params: a parameter is fixed or a default, not both",
            )
    prices: dict[Operation, Price] = {}
    for operation in capabilities.operations:
        price = head.price or declared_price(  # the account's models: may price what it declares
            upstream_model,
            account.models,
            lambda name, operation=operation: provider.price(name, options, operation),
        )
        if price is not None:
            prices[operation] = price
    return Target(
        account=account,
        upstream_model=upstream_model,
        capabilities=capabilities,
        options=options,
        params=dict(head.params),
        timeout=head.timeout or account.timeout,
        weight=head.weight,
        prices=prices,
        defaults=dict(head.defaults),
    )
