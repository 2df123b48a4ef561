"""Clients of the gateway: who may call it and what they spend.

One concept per module: :mod:`.keys` (API keys and their check), :mod:`.registry` (the ``clients:`` section of
routes.yaml: each client's key, allowed models, images per minute and budget), :mod:`.auth` (the ASGI step
that authenticates every request from its headers, before its body is read), :mod:`.ratelimit` (images per
minute, counted by the `limits` library), :mod:`.budgets` (accounting periods), :mod:`.pricing` (USD per
image or per token, from the providers' price tables or a route's ``price:``), :mod:`.accounting` (admitting a
request against its limits and budget, and charging what it cost).

This package imports nothing at import time, so :mod:`imagegate.provider` can use :mod:`.pricing`.
"""
