"""Which targets of the requested model can serve a request, each with its plan (:mod:`imagegate.planner`); or
why none can: a 403 when the client's key may not use the model, a 404 when the model does not exist, a 400
from the planner when no target can serve the request as sent, naming the other models that would."""

from __future__ import annotations

from .clients.registry import Client
from .config import ModelRoute, RouteTable, Target
from .errors import InvalidRequest, ModelNotAllowed, ModelNotFound, UnsupportedValue
from .planner import Plan, make_plan
from .request import ImageRequest


def plan_candidates(
    request: ImageRequest, table: RouteTable, client: Client | None = None
) -> list[tuple[Target, Plan]]:
    """Every target of the model that can serve ``request``, with its plan, in the route's order."""
    model = request.model
    if client is not None and not (
        client.may_use(model) if model in table.models else client.could_use(model)
    ):
        raise ModelNotAllowed(f"This API key may not use the model '{model}'.", param="model")
    route = table.models.get(model)
    if route is None:
        known = [name for name in table.models if client is None or client.may_use(name)]
        raise ModelNotFound(
            f"The model '{model}' does not exist on this gateway. Known models: "
            f"{', '.join(sorted(known)) or 'none'}.",
            param="model",
        )
    planned: list[tuple[Target, Plan]] = []
    first_refusal: InvalidRequest | None = None
    for target in route.targets:
        try:
            planned.append((target, _plan(request, target, route)))
        except InvalidRequest as refusal:
            first_refusal = first_refusal or refusal
    if not planned:
        assert first_refusal is not None
        if isinstance(first_refusal, UnsupportedValue) or first_refusal.code == "unknown_parameter":
            first_refusal.message += " " + _where_it_works(request, table, route, client)
        raise first_refusal
    return planned


def _plan(request: ImageRequest, target: Target, route: ModelRoute) -> Plan:
    return make_plan(
        request, target.capabilities, route.model, target.params, route.unknown_params, target.defaults
    )


def _where_it_works(
    request: ImageRequest, table: RouteTable, refused: ModelRoute, client: Client | None
) -> str:
    """Which other models of this gateway would serve ``request`` as sent (through a configured account,
    and that ``client`` may use)."""
    names: list[str] = []
    seen = {id(refused)}
    for route in table.models.values():
        if id(route) in seen or (client is not None and not client.may_use(route.model)):
            continue
        seen.add(id(route))
        if any(_serves(request, target, route) for target in route.targets):
            names.append(route.model)
    if not names:
        return "No other model on this gateway serves this request as sent."
    return f"Models on this gateway that serve this request as sent: {', '.join(names)}."


def _serves(request: ImageRequest, target: Target, route: ModelRoute) -> bool:
    """Whether ``target`` is configured and can serve ``request`` as sent."""
    if target.account.problem is not None:
        return False
    try:
        _plan(request, target, route)
    except InvalidRequest:
        return False
    return True
