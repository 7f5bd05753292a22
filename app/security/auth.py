"""Request authentication: API keys or JWTs on every route not marked public, scopes, per-key rate limits."""
from __future__ import annotations

import time
from dataclasses import dataclass

from litestar.connection import ASGIConnection

from sql.db import Db
from sql.errors import Forbidden, TooManyRequests, Unauthorized
from app.security.jwt import verify_jwt
from app.security.key_cache import KeyCache
from app.security.keys import Principal, verify_key
from app.settings import SecuritySettings



@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per caller, in this process: `burst` at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int, clock: object = time.monotonic, max_callers: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self.max_callers = max_callers
        self.buckets: dict[str, _Bucket] = {}

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()  # type: ignore[operator]
        if len(self.buckets) >= self.max_callers:  # forget callers whose bucket has refilled: same as new
            refill = self.burst / self.rate
            self.buckets = {k: b for k, b in self.buckets.items() if now - b.at < refill}
        bucket = self.buckets.get(caller) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self.buckets[caller] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class Authenticator:
    """Turns a request's credentials into a Principal (tenant, user, scopes) or refuses it."""

    def __init__(self, db: Db, settings: SecuritySettings, keys: KeyCache | None = None) -> None:
        """keys: the verified keys held in memory (none: every request looks its key up)."""
        self.db = db
        self.settings = settings
        self.keys = keys
        replicas = settings.rate_limit_replicas  # each process enforces its share of the limits
        self.limiter = RateLimiter(settings.rate_limit_per_minute / replicas, settings.rate_limit_burst // replicas)

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        token = api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthorized("use 'Authorization: Bearer <API key or JWT>'")
            token = value.strip()
        if not token:
            raise Unauthorized("this endpoint needs credentials: 'Authorization: Bearer <API key or JWT>' "
                               "or 'X-API-Key: <key>'")
        if token.startswith("ipai_"):
            principal = await verify_key(self.db, token, self.keys)
            if principal is None:
                raise Unauthorized("unknown or revoked API key")
            return principal
        if token.count(".") == 2:
            try:
                return verify_jwt(token, self.settings)
            except Unauthorized as exc:
                raise Unauthorized(exc.detail) from exc
        raise Unauthorized("the credentials are neither an ipai API key nor a JWT")

    def throttle(self, principal: Principal) -> None:
        caller = principal.key_id or f"jwt:{principal.tenant_id}:{principal.user_id}"
        wait = self.limiter.take(caller)
        if wait:
            share = "" if self.settings.rate_limit_replicas == 1 else \
                f" (this replica's share of {self.settings.rate_limit_replicas})"
            raise TooManyRequests(
                f"rate limit of {self.settings.rate_limit_per_minute} requests per minute exceeded{share}; "
                f"retry in {wait:.1f} s", retry_after=wait)


def acting_user(principal: Principal, requested: str | None) -> str | None:
    """The user a request acts for: a token's own subject; an API key (a bot) may name any user."""
    if principal.user_id is None:
        return requested
    if requested is not None and requested != principal.user_id:
        raise Forbidden(f"a token of user {principal.user_id!r} cannot act for user {requested!r}")
    return principal.user_id


ANY_SCOPE = "any"
"""A route's scope when any valid credentials will do (GET /v1/me)."""


async def require_scope(connection: ASGIConnection) -> None:  # type: ignore[type-arg]
    """Before every handler (the app's before_request, ahead of the request checks): public routes pass; every
    other route needs a principal with its scope. (Not a Litestar guard: a guard gets a copy of its route
    handler on every call, about 7% of a search request's CPU.)"""
    handler = connection.route_handler
    docs = connection.app.openapi_config
    if handler.opt.get("public") or (docs is not None and connection.url.path.startswith(docs.path)):
        return
    authenticator: Authenticator = connection.app.state.authenticator
    principal = await authenticator.authenticate(connection.headers.get("authorization"),
                                                 connection.headers.get("x-api-key"))
    scope = handler.opt.get("scope", "admin")
    if scope != ANY_SCOPE and not principal.allows(scope):
        raise Forbidden(f"this endpoint needs the scope {scope!r}; the credentials have "
                        f"{', '.join(sorted(principal.scopes)) or 'none'}")
    authenticator.throttle(principal)
    connection.state.principal = principal
