"""API keys, JWTs and the vault; authentication on every endpoint, scopes, rate limits, the development key."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac as hmac_
import json
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from sql.db import Database
from sql.errors import ConfigurationError, Forbidden, Unauthorized
from app.security.auth import RateLimiter
from app.security.jwt import verify_jwt
from app.security.key_cache import KeyCache
from sql.listener import Listener
from app.security.keys import create_key, revoke_key, verify_key
from app.security.vault import Vault, load_key
from app.services import Services
from app.settings import SecuritySettings
from tests.conftest import CountingEmbedder, bearer, issue_key, make_settings

SENTINEL = "sk-SENTINEL-7f3a9c0d1e2b"
ISSUER = "https://proj.supabase.co/auth/v1"
JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters"


async def test_api_keys_are_hashed_scoped_and_revocable(services: Services, owner: asyncpg.Pool) -> None:
    key_id, token = await create_key(services.db, "acme", ["ask", "kb:write"], "bot")
    stored = await owner.fetchrow("SELECT * FROM control_plane.api_keys")
    assert token not in json.dumps({k: str(v) for k, v in dict(stored).items()})
    principal = await verify_key(services.db, token)
    assert principal and principal.tenant_id == "acme" and principal.allows("ask") and not principal.allows("sync")
    assert await verify_key(services.db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await verify_key(services.db, "not-a-key") is None
    with pytest.raises(Exception, match="no active API key"):
        await revoke_key(services.db, "other-tenant", key_id)
    await revoke_key(services.db, "acme", key_id)
    assert await verify_key(services.db, token) is None, "revocation takes effect at once"
    with pytest.raises(Exception, match="scopes"):
        await create_key(services.db, "acme", ["root"])


async def _until(check, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_verified_keys_are_held_until_the_database_announces_a_change(services: Services,
                                                                           owner: asyncpg.Pool) -> None:
    """A held key costs no lookup; a change to it made anywhere (here: plain SQL, as another replica or an operator
    would) drops it at once; without the LISTEN connection nothing is held."""
    listener = Listener(services.db.url)
    cache = KeyCache(listener, seconds=60)
    await listener.start()
    try:
        assert cache.listening
        _, token = await create_key(services.db, "acme", ["ask"], "bot")
        prefix = token.split("_")[1]
        assert await verify_key(services.db, token, cache) is not None
        assert cache.get(prefix) is not None, "a verified key is held"
        _, other = await create_key(services.db, "acme", ["ask"], "other")
        assert await verify_key(services.db, other, cache) is not None
        await owner.execute("UPDATE control_plane.api_keys SET scopes = '{kb:read}' WHERE prefix = $1",
                            other.split("_")[1])
        assert await _until(lambda: _none(cache.get(other.split("_")[1])))
        principal = await verify_key(services.db, other, cache)
        assert principal is not None and principal.scopes == {"kb:read"}, "an edited key is read again"
        await owner.execute("UPDATE control_plane.api_keys SET revoked_at = now() WHERE prefix = $1", prefix)

        async def refused() -> bool:
            return await verify_key(services.db, token, cache) is None
        assert await _until(refused, 2.0), "a revocation reaches the cache at once"

        # a lookup that began before a change was announced is not held
        row = await owner.fetchrow("SELECT id, tenant_id, key_hash, scopes, revoked_at FROM control_plane.api_keys "
                                   "WHERE prefix = $1", other.split("_")[1])
        started = cache.generation
        await owner.execute("TRUNCATE control_plane.api_keys")
        assert await _until(lambda: _true(cache.generation != started))
        cache.put("stale", row, started)
        assert cache.get("stale") is None

        # bounded: the least recently used key goes first
        own = Listener(services.db.url)
        small = KeyCache(own, seconds=60, max_keys=2)
        await own.start()
        try:
            for name in ("a", "b", "c"):
                small.put(name, row, small.generation)
            assert [small.get(n) is not None for n in ("a", "b", "c")] == [False, True, True]
        finally:
            await own.close()

        # the LISTEN connection lost: what was held is dropped, the listener connects again by itself and a change
        # is heard again
        _, third = await create_key(services.db, "acme", ["ask"], "third")
        third_prefix = third.split("_")[1]
        assert await verify_key(services.db, third, cache) is not None and cache.get(third_prefix) is not None
        lost = await owner.fetchval("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%ipai_api_keys%'")
        started = cache.generation
        await owner.execute("SELECT pg_terminate_backend($1)", lost)
        assert await _until(lambda: _true(cache.generation != started))
        assert cache.get(third_prefix) is None, "nothing held survives the loss"
        assert await _until(lambda: _true(cache.listening), 3.0), "connected again without being asked"
        assert await owner.fetchval("SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%ipai_api_keys%'") != lost
        assert await verify_key(services.db, third, cache) is not None and cache.get(third_prefix) is not None
        await owner.execute("UPDATE control_plane.api_keys SET revoked_at = now() WHERE prefix = $1", third_prefix)
        assert await _until(lambda: _none(cache.get(third_prefix)), 2.0), "heard on the new connection"
        assert await verify_key(services.db, third, cache) is None
    finally:
        await listener.close()


async def _none(value: object) -> bool:
    return value is None


async def _true(value: bool) -> bool:
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwt_checks(tmp_path: Path) -> None:
    settings = SecuritySettings(jwt_secret=JWT_SECRET, jwt_issuer=ISSUER)
    now = int(time.time())
    claims = {"sub": "u1", "aud": "authenticated", "iss": ISSUER, "exp": now + 60,
              "tenant_id": "acme", "scopes": "ask kb:read"}
    principal = verify_jwt(jwt.encode(claims, JWT_SECRET, algorithm="HS256"), settings)
    assert (principal.tenant_id, principal.user_id, principal.allows("ask")) == ("acme", "u1", True)
    plain = {k: v for k, v in claims.items() if k != "scopes"}
    assert verify_jwt(jwt.encode(plain, JWT_SECRET, algorithm="HS256"), settings).scopes == {"kb:read", "ask"}
    for bad, reason in [({**claims, "exp": now - 10}, "expired"), ({**claims, "aud": "other"}, "(?i)audience"),
                        ({**claims, "iss": "https://evil"}, "(?i)issuer"), ({**claims, "tenant_id": None}, "tenant_id")]:
        with pytest.raises(Unauthorized, match=reason):
            verify_jwt(jwt.encode(bad, JWT_SECRET, algorithm="HS256"), settings)
    with pytest.raises(Unauthorized, match="(?i)signature"):
        verify_jwt(jwt.encode(claims, "another-secret-of-at-least-32-characters!", algorithm="HS256"), settings)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthorized, match="not accepted"):
        verify_jwt(unsigned, settings)

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    rs = SecuritySettings(jwt_jwks_file=jwks, jwt_issuer=ISSUER)
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    assert verify_jwt(good, rs).tenant_id == "acme"
    # Algorithm confusion: an HS256 token whose "secret" is the public key must not verify.
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{_b64(json.dumps(claims).encode())}"
    forged = f"{signing_input}.{_b64(hmac_.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    with pytest.raises(Unauthorized, match="not accepted"):
        verify_jwt(forged, rs)


def vault_key() -> bytes:
    return load_key(SecuritySettings(vault_key=base64.b64encode(os.urandom(32)).decode()))


async def test_vault_ciphertext_aad_audit_and_rotation(services: Services, owner: asyncpg.Pool) -> None:
    vault = Vault(services.db, vault_key())
    await owner.execute("INSERT INTO control_plane.bot_registry (bot_id, allowed_secrets) "
                        "VALUES ('n8n', ARRAY['openai_key'])")
    assert await vault.put("default", "openai_key", SENTINEL) == 1
    dump = await owner.fetchval("SELECT string_agg(t::text, '|') FROM control_plane.secrets AS t")
    assert SENTINEL not in dump and SENTINEL.encode().hex() not in dump
    assert await vault.get_logged("default", "n8n", "openai_key", remote="10.0.0.1", agent="n8n/1.0") == SENTINEL
    with pytest.raises(Forbidden):
        await vault.get_logged("default", "intruder", "openai_key")
    with pytest.raises(Forbidden):
        await vault.get_logged("default", "n8n", "other_secret")
    with pytest.raises(Forbidden):
        await vault.get_logged("acme", "n8n", "openai_key")  # another tenant does not see the bot
    audit = [tuple(r) for r in await owner.fetch(
        "SELECT tenant_id, bot_id, secret_name, access_type, allowed FROM control_plane.audit_log "
        "WHERE bot_id <> 'ipai-rag' ORDER BY id")]  # ipai-rag: the service reading its model key at start
    assert audit == [("default", "n8n", "openai_key", "read", True),
                     ("default", "intruder", "openai_key", "read:unknown-bot", False),
                     ("default", "n8n", "other_secret", "read:denied", False),
                     ("acme", "n8n", "openai_key", "read:unknown-bot", False)]

    assert await vault.put("default", "openai_key", "sk-second") == 2
    assert await vault.get_logged("default", "n8n", "openai_key") == "sk-second"
    assert await vault.get_logged("default", "n8n", "openai_key", version=1) == SENTINEL, "old version readable"
    assert await vault.service_values("default", "openai_key") == ["sk-second", SENTINEL]
    await vault.retire("default", "openai_key", 1)
    with pytest.raises(Forbidden):
        await vault.get_logged("default", "n8n", "openai_key", version=1)
    assert await vault.service_values("default", "openai_key") == ["sk-second"]

    # Associated data: ciphertext moved into another row does not decrypt.
    await owner.execute(
        "UPDATE control_plane.secrets AS s SET nonce = o.nonce, ciphertext = o.ciphertext "
        "FROM control_plane.secrets AS o WHERE s.version = 2 AND o.version = 1")
    with pytest.raises(ConfigurationError, match="does not decrypt"):
        await vault.get_logged("default", "n8n", "openai_key")

    # The audit log is append-only: the service role has no UPDATE/DELETE grant, the owner meets a trigger.
    tenant = services.db.tenant("default")
    for statement in ("UPDATE control_plane.audit_log SET allowed = true", "DELETE FROM control_plane.audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await tenant.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await owner.execute(statement)


async def test_no_value_without_its_audit_row(services: Services, owner: asyncpg.Pool) -> None:
    vault = Vault(services.db, vault_key())
    await owner.execute("INSERT INTO control_plane.bot_registry (bot_id, allowed_secrets) VALUES ('b', ARRAY['s'])")
    await vault.put("default", "s", SENTINEL)
    await owner.execute("""
        CREATE FUNCTION public.fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit storage full'; END $$;
        CREATE TRIGGER fail BEFORE INSERT ON control_plane.audit_log FOR EACH ROW EXECUTE FUNCTION public.fail_audit();
    """)
    with pytest.raises(asyncpg.RaiseError, match="audit storage full"):
        await vault.get_logged("default", "b", "s")
    with pytest.raises(asyncpg.RaiseError, match="audit storage full"):
        await vault.service_values("default", "s")


def test_vault_key_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="IPAI_VAULT_KEY"):
        load_key(SecuritySettings(vault_key=None, vault_key_file=None))
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_key(SecuritySettings(vault_key=base64.b64encode(b"short").decode()))
    key_file = tmp_path / "vault.key"
    key_file.write_text(base64.b64encode(b"k" * 32).decode())
    assert load_key(SecuritySettings(vault_key=None, vault_key_file=key_file)) == b"k" * 32
    generated = load_key(SecuritySettings(vault_key=None, vault_key_file=None), tmp_path / "data")
    assert len(generated) == 32 and (tmp_path / "data" / "vault.key").stat().st_mode & 0o077 == 0
    assert load_key(SecuritySettings(vault_key=None, vault_key_file=None), tmp_path / "data") == generated


def test_rate_limiter_is_a_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.take("k"), limiter.take("k")] == [0.0, 0.0]
    assert limiter.take("k") == pytest.approx(1.0)
    assert limiter.take("other") == 0.0, "buckets are per caller"
    now[0] = 1.0
    assert limiter.take("k") == 0.0
    small = RateLimiter(per_minute=60, burst=1, clock=lambda: now[0], max_callers=2)
    small.take("a"), small.take("b")
    now[0] = 5.0
    small.take("c")
    assert set(small.buckets) == {"c"}, "callers whose bucket refilled are forgotten"


# HTTP: every route needs credentials except health, the webhooks and the OpenAPI page.

PUBLIC = {"/health", "/livez", "/v1/odoo/webhook", "/v1/github/webhook", "/v1/signed/tenant:str/bucket:str/key:path",
          "/v1/public/tenant:str/key:path", "/", "/console/file_path:path"}


@pytest.fixture
async def app_client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    settings = replace(make_settings(db_url, tmp_path), security=SecuritySettings(
        jwt_secret=JWT_SECRET, jwt_issuer=ISSUER, rate_limit_per_minute=60, rate_limit_burst=5))
    app = create_app(settings, embedder=CountingEmbedder(), database=Database(db_url))
    async with AsyncTestClient(app) as client:
        yield client


def _routes(client: AsyncTestClient) -> list[tuple[str, str, dict]]:
    out = []
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method not in ("HEAD", "OPTIONS"):
                    out.append((method, route.path.replace("{", "").replace("}", "").replace(":int", "1")
                                .replace("document_id", "1").replace("job_id", "1").replace("event_id", "1"),
                                handler.opt))
    return out


async def test_every_route_but_the_public_ones_needs_credentials(app_client: AsyncTestClient, db_url: str) -> None:
    routes = [(m, p, opt) for m, p, opt in _routes(app_client) if not p.startswith("/docs")]
    assert len(routes) > 30
    for method, path, opt in routes:
        if path in PUBLIC:
            assert opt.get("public"), path
            continue
        assert opt.get("scope"), f"{method} {path} declares no scope"
        r = await app_client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["title"] == "Unauthorized"
    assert (await app_client.get("/docs/openapi.json")).status_code == 200
    assert (await app_client.get("/health")).status_code == 200

    token = await issue_key(db_url, "acme", ["kb:read"])
    assert (await app_client.get("/v1/kb/documents", headers=bearer(token))).status_code == 200
    r = await app_client.post("/v1/kb/documents", json={"content": "x"}, headers=bearer(token))
    assert r.status_code == 403 and "kb:write" in r.json()["detail"]
    assert (await app_client.get("/v1/jobs", headers=bearer(token))).status_code == 403
    for bad in ("Bearer ipai_00000000_nope", "Bearer not-a-token", "Basic abc", "Bearer a.b.c"):
        r = await app_client.get("/v1/kb/documents", headers={"authorization": bad})
        assert r.status_code == 401, bad
    assert (await app_client.get("/v1/kb/documents", headers={"x-api-key": token})).status_code == 200


async def test_revoked_key_is_refused_at_once_and_jwts_carry_tenant_and_user(
        app_client: AsyncTestClient, services: Services) -> None:
    key_id, token = await create_key(services.db, "acme", ["admin"])
    assert (await app_client.get("/v1/kb/documents", headers=bearer(token))).status_code == 200
    await revoke_key(services.db, "acme", key_id)  # as `ipai-rag keys revoke` does, from another process

    async def refused() -> bool:  # once the database's announcement reaches the app's LISTEN connection
        return (await app_client.get("/v1/kb/documents", headers=bearer(token))).status_code == 401
    assert await _until(refused, 2.0)

    claims = {"sub": "user-1", "aud": "authenticated", "iss": ISSUER, "exp": int(time.time()) + 60,
              "app_metadata": {"tenant_id": "acme"}}
    user = bearer(jwt.encode(claims, JWT_SECRET, algorithm="HS256"))
    assert (await app_client.post("/v1/search", json={"query": "x"}, headers=user)).status_code == 200
    assert (await app_client.post("/v1/kb/documents", json={"content": "x"}, headers=user)).status_code == 403
    r = await app_client.post("/v1/memory", json={"text": "I prefer PDF invoices", "user_id": "user-2"}, headers=user)
    assert r.status_code == 403 and "user-1" in r.json()["detail"], "a user cannot write another user's memory"
    r = await app_client.post("/v1/memory", json={"text": "I prefer PDF invoices"}, headers=user)
    assert r.status_code == 201 and r.json()["namespace"] == "acme:memory:user-1"
    expired = bearer(jwt.encode({**claims, "exp": int(time.time()) - 5}, JWT_SECRET, algorithm="HS256"))
    r = await app_client.post("/v1/search", json={"query": "x"}, headers=expired)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_rate_limit_per_key_answers_429_with_retry_after(app_client: AsyncTestClient, db_url: str) -> None:
    one, other = await issue_key(db_url, "acme", ["kb:read"]), await issue_key(db_url, "acme", ["kb:read"])
    statuses = [(await app_client.get("/v1/kb/documents", headers=bearer(one))).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    r = await app_client.get("/v1/kb/documents", headers=bearer(one))
    assert r.headers["content-type"].startswith("application/problem+json") and int(r.headers["retry-after"]) >= 1
    assert (await app_client.get("/v1/kb/documents", headers=bearer(other))).status_code == 200, "limits are per key"


async def test_request_body_limit_is_a_413_problem(db_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(db_url, tmp_path, max_upload_bytes=1024), embedder=CountingEmbedder(),
                     database=Database(db_url))
    async with AsyncTestClient(app) as client:
        token = await issue_key(db_url)
        r = await client.post("/v1/search", content=b"{" + b" " * 4096 + b"}",
                              headers={**bearer(token), "content-type": "application/json"})
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")


async def test_serve_prints_a_working_development_key(db_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(make_settings(db_url, tmp_path), embedder=CountingEmbedder(), database=Database(db_url),
                     dev_key=True)
    async with AsyncTestClient(app) as client:
        first = re.search(r"development API key.*\n\s+(ipai_\S+)", capsys.readouterr().out).group(1)
        assert (await client.get("/v1/jobs", headers=bearer(first))).status_code == 200
    async with AsyncTestClient(app) as client:
        second = re.search(r"development API key.*\n\s+(ipai_\S+)", capsys.readouterr().out).group(1)
        assert second != first
        assert (await client.get("/v1/jobs", headers=bearer(first))).status_code == 401, "the old one is revoked"
        assert (await client.get("/v1/jobs", headers=bearer(second))).status_code == 200


async def test_vault_api_registers_bots_and_audits_reads(app_client: AsyncTestClient, db_url: str,
                                                         owner: asyncpg.Pool) -> None:
    admin, bot = bearer(await issue_key(db_url, "acme")), bearer(await issue_key(db_url, "acme", ["secrets:read"]))
    r = await app_client.put("/v1/vault/secrets/n8n-token", headers=admin, json={"value": SENTINEL})
    assert r.json() == {"name": "n8n-token", "version": 1}
    assert (await app_client.put("/v1/vault/bots/n8n", headers=admin,
                                 json={"allowed_secrets": ["n8n-token"]})).status_code == 200
    r = await app_client.post("/v1/vault/read", headers={**bot, "user-agent": "n8n/1.2"},
                              json={"bot_id": "n8n", "name": "n8n-token"})
    assert r.json() == {"name": "n8n-token", "value": SENTINEL}
    r = await app_client.post("/v1/vault/read", headers=bot, json={"bot_id": "n8n", "name": "other"})
    assert r.status_code == 403 and SENTINEL not in r.text
    assert (await app_client.put("/v1/vault/secrets/x", headers=bot, json={"value": "v"})).status_code == 403
    other = bearer(await issue_key(db_url, "other", ["secrets:read"]))
    r = await app_client.post("/v1/vault/read", headers=other, json={"bot_id": "n8n", "name": "n8n-token"})
    assert r.status_code == 403, "another tenant's key cannot read through acme's bot"
    audit = [tuple(r) for r in await owner.fetch(
        "SELECT tenant_id, bot_id, access_type, user_agent FROM control_plane.audit_log "
        "WHERE bot_id = 'n8n' ORDER BY id")]
    assert audit == [("acme", "n8n", "read", "n8n/1.2"), ("acme", "n8n", "read:denied", "testclient"),
                     ("other", "n8n", "read:unknown-bot", "testclient")]
    # Bot ids are per tenant: another tenant registers its own n8n, which reads only that tenant's secrets.
    other_admin = bearer(await issue_key(db_url, "other"))
    await app_client.put("/v1/vault/secrets/n8n-token", headers=other_admin, json={"value": "others-value"})
    assert (await app_client.put("/v1/vault/bots/n8n", headers=other_admin,
                                 json={"allowed_secrets": ["n8n-token"]})).status_code == 200
    r = await app_client.post("/v1/vault/read", headers=other, json={"bot_id": "n8n", "name": "n8n-token"})
    assert r.json() == {"name": "n8n-token", "value": "others-value"}
    assert await owner.fetchval("SELECT allowed_secrets FROM control_plane.bot_registry "
                                "WHERE tenant_id = 'acme' AND bot_id = 'n8n'") == ["n8n-token"]
    r = await app_client.post("/v1/vault/secrets/n8n-token/retire", headers=admin, json={"version": 1})
    assert r.json()["retired"] == 1
    r = await app_client.post("/v1/vault/read", headers=bot, json={"bot_id": "n8n", "name": "n8n-token"})
    assert r.status_code == 403


async def test_plaintext_webhook_secrets_move_into_the_vault(services: Services, db_url: str, tmp_path: Path,
                                                             owner: asyncpg.Pool) -> None:
    instance = await owner.fetchval("INSERT INTO odoo.instances (tenant_id, name, base_url, database) "
                                    "VALUES ('acme', 'old', 'http://odoo', 'odoo') RETURNING id")
    await owner.execute("INSERT INTO odoo.instance_secrets (instance_id, tenant_id, secret, active) "
                        "VALUES ($1, 'acme', $2, true), ($1, 'acme', 'retired-one-xxxxxxxx', false)", instance, SENTINEL)
    again = await Services.start(services.settings, embedder=CountingEmbedder(), database=Database(db_url))
    try:
        assert await owner.fetchval("SELECT count(*) FROM odoo.instance_secrets") == 0
        assert await again.vault.service_values("acme", "odoo-webhook:old") == [SENTINEL]
        dump = await owner.fetchval("SELECT string_agg(t::text, '|') FROM control_plane.secrets AS t")
        assert SENTINEL not in dump
    finally:
        await again.close()
