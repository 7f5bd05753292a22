"""JWT verification: HS256 with the project's secret (as Supabase issues them) or RS256 from a JWKS file;
exp, aud and iss checked; alg=none and HS/RS confusion refused (each key type accepts only its own alg)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jwt

from app.errors import Unauthorized
from app.security.keys import Principal


@dataclass(frozen=True)
class JwtSettings:
    hs256_secret: str | None = None
    jwks_file: Path | None = None
    audience: str = "authenticated"
    issuer: str | None = None
    tenant_claim: str = "tenant_id"
    scopes_claim: str = "scopes"


def verify_jwt(token: str, settings: JwtSettings) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"malformed token: {exc}") from exc
    alg = header.get("alg")
    if alg == "HS256" and settings.hs256_secret:
        key: object = settings.hs256_secret
    elif alg == "RS256" and settings.jwks_file:
        jwks = json.loads(settings.jwks_file.read_text())
        matches = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid") or len(jwks["keys"]) == 1]
        if not matches:
            raise Unauthorized("the token's key id is not in the configured JWKS")
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(matches[0]))
    else:
        raise Unauthorized(f"tokens signed with {alg!r} are not accepted")
    try:
        claims = jwt.decode(token, key, algorithms=[alg], audience=settings.audience, issuer=settings.issuer,
                            options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    tenant = claims.get(settings.tenant_claim) or (claims.get("app_metadata") or {}).get(settings.tenant_claim)
    if not tenant:
        raise Unauthorized(f"the token has no {settings.tenant_claim} claim")
    scopes = claims.get(settings.scopes_claim) or []
    if isinstance(scopes, str):
        scopes = scopes.split()
    return Principal(str(tenant), frozenset(scopes), user_id=claims.get("sub"))
