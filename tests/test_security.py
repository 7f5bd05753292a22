"""API keys, JWTs and the vault (their enforcement on endpoints and RLS come later)."""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.errors import ConfigurationError, Unauthorized
from app.security.jwt import JwtSettings, verify_jwt
from app.security.keys import create_key, revoke_key, verify_key
from app.security.vault import Forbidden, Vault, load_key
from app.services import Services

SENTINEL = "sk-SENTINEL-7f3a9c0d1e2b"


async def test_api_keys_are_hashed_scoped_and_revocable(services: Services) -> None:
    key_id, token = await create_key(services.pool, "acme", ["ask", "kb:write"], "bot")
    stored = await services.pool.fetchrow("SELECT * FROM control_plane.api_keys")
    assert token not in json.dumps({k: str(v) for k, v in dict(stored).items()})
    principal = await verify_key(services.pool, token)
    assert principal and principal.tenant_id == "acme" and principal.allows("ask") and not principal.allows("sync")
    assert await verify_key(services.pool, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await verify_key(services.pool, "not-a-key") is None
    await revoke_key(services.pool, key_id)
    assert await verify_key(services.pool, token) is None, "revocation takes effect at once"
    with pytest.raises(Exception, match="scopes"):
        await create_key(services.pool, "acme", ["root"])


def test_jwt_checks(tmp_path: Path) -> None:
    secret = "super-secret-jwt-token-with-at-least-32-characters"
    settings = JwtSettings(hs256_secret=secret, issuer="https://proj.supabase.co/auth/v1")
    now = int(time.time())
    claims = {"sub": "u1", "aud": "authenticated", "iss": "https://proj.supabase.co/auth/v1", "exp": now + 60,
              "tenant_id": "acme", "scopes": "ask kb:read"}
    principal = verify_jwt(jwt.encode(claims, secret, algorithm="HS256"), settings)
    assert (principal.tenant_id, principal.user_id, principal.allows("ask")) == ("acme", "u1", True)
    for bad, reason in [({**claims, "exp": now - 10}, "expired"), ({**claims, "aud": "other"}, "(?i)audience"),
                        ({**claims, "iss": "https://evil"}, "(?i)issuer")]:
        with pytest.raises(Unauthorized, match=reason):
            verify_jwt(jwt.encode(bad, secret, algorithm="HS256"), settings)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthorized, match="not accepted"):
        verify_jwt(unsigned, settings)

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    rs = JwtSettings(jwks_file=jwks, issuer="https://proj.supabase.co/auth/v1")
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    assert verify_jwt(good, rs).tenant_id == "acme"
    # Algorithm confusion: an HS256 token whose "secret" is the public key must not verify.
    from cryptography.hazmat.primitives import serialization

    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac as hmac_

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{b64(json.dumps(claims).encode())}"
    forged = f"{signing_input}.{b64(hmac_.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    with pytest.raises(Unauthorized, match="not accepted"):
        verify_jwt(forged, rs)


def vault_key() -> bytes:
    return load_key({"IPAI_VAULT_KEY": base64.b64encode(os.urandom(32)).decode()})


async def test_vault_ciphertext_aad_audit_and_rotation(services: Services) -> None:
    vault = Vault(services.pool, vault_key())
    await services.pool.execute("INSERT INTO control_plane.bot_registry (bot_id, allowed_secrets) "
                                "VALUES ('n8n', ARRAY['openai_key'])")
    assert await vault.put("openai_key", SENTINEL) == 1
    dump = await services.pool.fetchval("SELECT string_agg(t::text, '|') FROM control_plane.secrets AS t")
    assert SENTINEL not in dump and SENTINEL.encode().hex() not in dump
    assert await vault.get_logged("n8n", "openai_key", remote="10.0.0.1", agent="n8n/1.0") == SENTINEL
    with pytest.raises(Forbidden):
        await vault.get_logged("intruder", "openai_key")
    with pytest.raises(Forbidden):
        await vault.get_logged("n8n", "other_secret")
    audit = [tuple(r) for r in await services.pool.fetch(
        "SELECT bot_id, secret_name, access_type, allowed FROM control_plane.audit_log ORDER BY id")]
    assert audit == [("n8n", "openai_key", "read", True), ("intruder", "openai_key", "read:unknown-bot", False),
                     ("n8n", "other_secret", "read:denied", False)]

    assert await vault.put("openai_key", "sk-second") == 2
    assert await vault.get_logged("n8n", "openai_key") == "sk-second"
    assert await vault.get_logged("n8n", "openai_key", version=1) == SENTINEL, "the old version stays readable"
    await vault.retire("openai_key", 1)
    with pytest.raises(Forbidden):
        await vault.get_logged("n8n", "openai_key", version=1)

    # Associated data: ciphertext moved into another row does not decrypt.
    await services.pool.execute(
        "UPDATE control_plane.secrets AS s SET nonce = o.nonce, ciphertext = o.ciphertext "
        "FROM control_plane.secrets AS o WHERE s.version = 2 AND o.version = 1")
    with pytest.raises(ConfigurationError, match="does not decrypt"):
        await vault.get_logged("n8n", "openai_key")

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await services.pool.execute("UPDATE control_plane.audit_log SET allowed = true")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await services.pool.execute("DELETE FROM control_plane.audit_log")


async def test_no_value_without_its_audit_row(services: Services) -> None:
    vault = Vault(services.pool, vault_key())
    await services.pool.execute("INSERT INTO control_plane.bot_registry (bot_id, allowed_secrets) VALUES ('b', ARRAY['s'])")
    await vault.put("s", SENTINEL)
    await services.pool.execute("""
        CREATE FUNCTION public.fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit storage full'; END $$;
        CREATE TRIGGER fail BEFORE INSERT ON control_plane.audit_log FOR EACH ROW EXECUTE FUNCTION public.fail_audit();
    """)
    with pytest.raises(asyncpg.RaiseError, match="audit storage full"):
        await vault.get_logged("b", "s")


def test_vault_key_comes_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="IPAI_VAULT_KEY"):
        load_key({})
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_key({"IPAI_VAULT_KEY": base64.b64encode(b"short").decode()})
    key_file = tmp_path / "vault.key"
    key_file.write_text(base64.b64encode(b"k" * 32).decode())
    assert load_key({"IPAI_VAULT_KEY_FILE": str(key_file)}) == b"k" * 32
