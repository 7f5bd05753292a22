"""JWT verification: HS256 with the project's secret (as Supabase issues them) or RS256 from a JWKS file;
exp, aud and iss checked; alg=none and HS/RS confusion refused (each key type accepts only its own alg)."""
from __future__ import annotations

import json

import jwt

from sql.errors import Unauthorized
from app.security.keys import Principal
from app.settings import SecuritySettings


USER_SCOPES = frozenset({"kb:read", "ask"})
"""What a token without a `scopes` claim may do (an end user of the tenant: read and ask)."""


def verify_jwt(token: str, settings: SecuritySettings) -> Principal:
    """The token's principal: tenant from JWT_TENANT_CLAIM (or app_metadata), user from `sub`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"malformed token: {exc}") from exc
    alg = header.get("alg")
    if alg == "HS256" and settings.jwt_secret:
        key: object = settings.jwt_secret
    elif alg == "RS256" and settings.jwt_jwks_file:
        jwks = json.loads(settings.jwt_jwks_file.read_text())
        matches = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid") or len(jwks["keys"]) == 1]
        if not matches:
            raise Unauthorized("the token's key id is not in the configured JWKS")
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(matches[0]))
    else:
        raise Unauthorized(f"tokens signed with {alg!r} are not accepted")
    try:
        claims = jwt.decode(token, key, algorithms=[alg], audience=settings.jwt_audience, issuer=settings.jwt_issuer,
                            options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    claim = settings.jwt_tenant_claim
    tenant = claims.get(claim) or (claims.get("app_metadata") or {}).get(claim)
    if not tenant:
        raise Unauthorized(f"the token has no {claim} claim")
    scopes = claims.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    return Principal(str(tenant), frozenset(scopes) if scopes is not None else USER_SCOPES, user_id=claims.get("sub"))
