"""The ipai-rag command line: serve, migrate, ingest, worker, export, search, eval, bench."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from app.services import run_with_services
from app.system.logs import setup_logging
from sql.errors import IpaiError

if TYPE_CHECKING:
    from app.services import Services

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "ingest" / "sample"


def default_tenant() -> str:
    """The tenant of commands given no --tenant: DEFAULT_TENANT."""
    from app.settings import get_settings

    return get_settings().server.tenant_id


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.asgi import create_app
    from app.settings import get_settings
    from app.system import heap

    settings = get_settings()
    sample = [SAMPLE_DIR] if args.sample else []
    app = create_app(settings, startup_ingest=sample, dev_key=settings.security.dev_key)
    print(f"ipai-rag on http://{args.host or settings.server.host}:{args.port or settings.server.port} "
          f"(API docs at /docs); database: {'DATABASE_URL' if settings.database.url else 'embedded, ' + str(settings.database.data_dir)}",
          flush=True)
    heap.settle()  # after the imports and the app are made: the start-up objects are not collected again and again
    uvicorn.run(app, host=args.host or settings.server.host, port=args.port or settings.server.port,
                log_level="info", lifespan="on", log_config=None,  # uvicorn's lines go through setup_logging's handler
                access_log=False)  # the access line is the service's own (app.system.middleware)
    return 0


async def until_signal(*runs: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run workers until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await asyncio.gather(*(run(stop) for run in runs))


def cmd_migrate(args: argparse.Namespace) -> int:
    import asyncpg

    from sql.db import Database, migrate
    from app.settings import get_settings

    async def run() -> None:
        database = Database.start(get_settings().database.url, get_settings().database.data_dir)
        try:
            if args.schema:
                from sql.schema import fresh_schema

                print(await fresh_schema(database.url), end="")
                return
            conn = await asyncpg.connect(database.url)
            try:
                applied = await migrate(conn)
            finally:
                await conn.close()
        finally:
            database.stop()
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))

    asyncio.run(run())
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ingest.loaders import iter_paths, load_files
    from ingest.pipeline import LOADER_PROCESSES, IngestOptions
    from ingest.store import StoreResult

    skipped: list[Path] = []

    async def run(services: Services) -> None:
        files = list(iter_paths([Path(p) for p in args.paths]))
        options = IngestOptions(tenant_id=args.tenant, source=args.source, language=args.language)
        total = StoreResult()
        started = time.perf_counter()
        bar = tqdm(total=len(files), unit="file", desc="ingest")

        def documents():  # type: ignore[no-untyped-def]
            for path, loaded, refused in load_files(files, LOADER_PROCESSES):
                if refused is not None:  # the others still load; the exit status tells a script
                    skipped.append(path)
                    tqdm.write(f"skipped {path}: {refused.detail}", file=sys.stderr)
                yield from loaded
                bar.update(1)
                bar.set_postfix(new=total.inserted, updated=total.updated, unchanged=total.unchanged,
                                chunks=total.chunks_inserted)

        async for result in services.pipeline.ingest_batches(documents(), options):
            total.add(result)
        bar.close()
        elapsed = time.perf_counter() - started
        print(f"{len(files)} files: {total.inserted} new, {total.updated} updated, {total.unchanged} unchanged "
              f"documents; {total.chunks_inserted} chunks stored, {total.chunks_kept} kept, "
              f"{total.chunks_deleted} deleted in {elapsed:.1f}s "
              f"({total.chunks_inserted / max(elapsed, 1e-9):.0f} chunks/s)"
              + (f"; {len(skipped)} skipped (above)" if skipped else ""))
        if args.wait:
            started = time.perf_counter()
            await services.embed_pending(args.tenant)
            print(f"embedded in {time.perf_counter() - started:.1f}s; "
                  f"queue: {await services.queue.pending(args.tenant)} jobs waiting")
        if args.vacuum_after and total.chunks_inserted + total.chunks_deleted >= args.vacuum_after:
            started = time.perf_counter()
            await services.vacuum_knowledge_base()
            print(f"vacuumed and analyzed the knowledge-base tables in {time.perf_counter() - started:.1f}s")

    return run_with_services(run) or (1 if skipped else 0)


def cmd_worker(args: argparse.Namespace) -> int:
    async def run(services: Services) -> None:
        from ingest.embedding import warm

        await warm(services.embedder)
        workers = [services.worker() for _ in range(args.concurrency)]
        logging.getLogger("ipai.worker").info("%d worker(s) on queue embed: %s", len(workers),
                                              ", ".join(w.worker_id for w in workers))
        await until_signal(*(w.run for w in workers))

    return run_with_services(run)


def cmd_export(args: argparse.Namespace) -> int:
    from app.kb.service import KnowledgeBase

    async def run(services: Services) -> None:
        out = open(args.out, "wb") if args.out else sys.stdout.buffer
        try:
            async for line in KnowledgeBase(services, args.tenant).export(args.source):
                out.write(line)
        finally:
            if args.out:
                out.close()

    return run_with_services(run)


def cmd_search(args: argparse.Namespace) -> int:
    async def run(services: Services) -> None:
        started = time.perf_counter()
        hits = await services.retriever.search(args.query, k=args.k, mode=args.mode, tenant_id=args.tenant)
        took = (time.perf_counter() - started) * 1000
        print(f"{len(hits)} hits in {took:.1f} ms ({args.mode})")
        print(f"{'#':>3}  {'score':>7}  {'vec':>4} {'lex':>4} {'tri':>4}  title > section")
        for i, h in enumerate(hits, 1):
            ranks = [h.legs[leg]["rank"] for leg in ("vector", "lexical", "trigram")]
            where = h.section_path if h.section_path.startswith(h.title) else f"{h.title} > {h.section_path}"
            print(f"{i:>3}  {h.score:7.4f}  " + " ".join(f"{r if r else '-':>4}" for r in ranks)
                  + f"  {where.strip(' >')[:90]}")
            if args.explain and h.snippet:
                print("      " + " ".join(h.snippet.split())[:200])

    return run_with_services(run)


def cmd_mcp(args: argparse.Namespace) -> int:
    """The MCP tools over stdio for a desktop client, acting with the key in IPAI_API_KEY (stdout carries the
    protocol; logs go to stderr)."""
    import os

    from app.mcp.gateway import Gateway
    from app.security.auth import Authenticator

    key = os.environ.get("IPAI_API_KEY", "")
    if not key:
        raise SystemExit("ipai-rag mcp: set IPAI_API_KEY to the API key the tools act with")

    async def run(services: Services) -> None:
        authenticator = Authenticator(services.db, services.settings.security)
        principal = await authenticator.authenticate(None, key)
        gateway = Gateway(lambda: services, lambda: authenticator, fixed=principal)
        await gateway.server.run_stdio_async()

    return run_with_services(run)


def cmd_ask(args: argparse.Namespace) -> int:
    async def run(services: Services) -> None:
        async for kind, payload in services.assistant.ask_stream(args.question, tenant_id=args.tenant, k=args.k):
            if kind == "delta":
                print(payload, end="", flush=True)
            elif kind == "done":
                print()
                for c in payload.citations:
                    print(f"  [{c.n}] {c.title} ({c.source}, v{c.version}, chars {c.char_start}-{c.char_end})")
                u = payload.usage
                print(f"  grounded={payload.grounded} model={payload.model} tokens={u.total_tokens}")

    return run_with_services(run)


def cmd_chat(args: argparse.Namespace) -> int:
    """Interactive chat; answers stream as they are produced; an empty line or Ctrl-D ends it."""
    from app.chat.service import ChatService

    async def run(services: Services) -> None:
        chat = ChatService(services, args.tenant)
        session = None
        while True:
            try:
                message = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if not message.strip():
                break
            print("ipai> ", end="", flush=True)
            try:
                async for kind, payload in chat.turn_stream(session, message, k=args.k):
                    if kind == "delta":
                        print(payload, end="", flush=True)
                    elif kind == "done":
                        session = payload.session_id
                        print()
                        for c in payload.answer.citations:
                            print(f"  [{c.n}] {c.title}")
            except IpaiError as exc:
                print(f"\nerror: {exc.detail}")
        if session:
            print(f"session {session}")

    return run_with_services(run)


def cmd_catalog_sync(args: argparse.Namespace) -> int:
    import httpx

    from app.catalog.service import Catalog
    from app.catalog.sync import run_sync
    from app.odoo.jsonrpc import OdooClient, OdooConnection
    from app.odoo.secrets import ODOO_PASSWORD

    async def run(services: Services) -> None:
        odoo = services.settings.odoo
        url = args.odoo_url or odoo.url
        password = args.odoo_password or await services.secret(args.tenant, ODOO_PASSWORD, odoo.password)
        conn = OdooConnection(url, args.odoo_db or odoo.db, args.odoo_user or odoo.user, password) if url else None
        async with httpx.AsyncClient(timeout=30) as http:
            report = await run_sync(Catalog(services, args.tenant), OdooClient(conn, http) if conn else None)
        for scope, counts in report.items():
            print(f"{scope:>20}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    return run_with_services(run)


def cmd_sync_seed(args: argparse.Namespace) -> int:
    from app.odoo.seed import load_seed, read_seed

    async def run(services: Services) -> None:
        seed = read_seed(Path(args.file))
        async with services.db.tenant(args.tenant).acquire() as conn:
            counts = await load_seed(conn, args.tenant, seed)
        print(f"seed loaded: {counts['projects']} projects, {counts['tasks']} tasks")

    return run_with_services(run)


def cmd_sync_pull(args: argparse.Namespace) -> int:
    import httpx

    from sql.errors import NotFound
    from app.odoo.handlers import ChangeHandlers
    from app.odoo.jsonrpc import OdooClient, OdooConnection
    from app.odoo.pull import pull
    from app.odoo.secrets import ODOO_PASSWORD
    from sql.queries import q

    async def run(services: Services) -> None:
        instance = await services.db.tenant(args.tenant).fetchrow(q("odoo_instance"), args.instance)
        if instance is None:
            raise NotFound(f"no Odoo instance {args.instance!r}")
        odoo = services.settings.odoo
        conn = OdooConnection(instance["base_url"], instance["database"], args.user or odoo.user,
                              args.password or await services.secret(args.tenant, ODOO_PASSWORD, odoo.password))
        handlers = ChangeHandlers(services, odoo.kb_models)
        async with httpx.AsyncClient(timeout=60) as http:
            for model in args.model:
                result = await pull(services, handlers, OdooClient(conn, http), instance, model)
                print(f"{model}: {result['applied']} records applied; cursor {result['cursor']}")

    return run_with_services(run)


def cmd_odoo_worker(args: argparse.Namespace) -> int:
    import httpx

    from app.odoo.handlers import ChangeHandlers
    from app.odoo.ledger import Ledger
    from app.odoo.scheduler import Scheduler

    async def run(services: Services) -> None:
        handlers = ChangeHandlers(services, services.settings.odoo.kb_models)
        scheduler = Scheduler(services)
        async with httpx.AsyncClient(timeout=30) as http:
            await until_signal(Ledger(services).worker(handlers).run, scheduler.run,
                               scheduler.delivery_worker(http).run)

    return run_with_services(run)


def cmd_routes(args: argparse.Namespace) -> int:
    """Event routes of a tenant: list, put (create or replace), delete, and the dry run of an event."""
    import json

    import msgspec

    from app.odoo.route_schemas import RouteIn
    from app.odoo.routing import Routes

    async def run(services: Services) -> None:
        routes = Routes(services, args.tenant)
        if args.routes_command == "list":
            for r in await routes.list():
                print(f"{r['name']}\t{r['source']}\t{r['event_type']}\t{r['aggregate_type']}\t"
                      f"{json.dumps(r['predicate'])}\t{r['url']}\t{'on' if r['enabled'] else 'off'}")
        elif args.routes_command == "put":
            try:
                data = msgspec.convert({"source": args.source, "url": args.url, "event_type": args.event_type,
                                        "aggregate_type": args.aggregate_type,
                                        "predicate": json.loads(args.predicate), "enabled": not args.disabled},
                                       RouteIn)
            except (msgspec.ValidationError, json.JSONDecodeError) as exc:
                raise SystemExit(f"routes put: {exc}") from exc
            _, inserted = await routes.put(args.name, **msgspec.structs.asdict(data))
            print(f"route {args.name} {'created' if inserted else 'replaced'}")
        elif args.routes_command == "delete":
            await routes.delete(args.name)
            print(f"route {args.name} deleted")
        else:
            names = await routes.match(args.source, args.event_type, args.aggregate_type, json.loads(args.payload))
            print("\n".join(names) if names else "(no route matches)")

    return run_with_services(run)


def cmd_keys(args: argparse.Namespace) -> int:
    from app.security.keys import create_key, revoke_key

    async def run(services: Services) -> None:
        if args.keys_command == "create":
            key_id, token = await create_key(services.db, args.tenant, [x.strip() for x in args.scopes.split(",")],
                                             args.name)
            print(f"key id {key_id}\n{token}\n(shown once: store it now)")
        else:
            await revoke_key(services.db, args.tenant, args.key_id)
            print(f"revoked {args.key_id}")

    return run_with_services(run)


def cmd_vault(args: argparse.Namespace) -> int:
    async def run(services: Services) -> None:
        vault = services.vault
        if args.vault_command == "put":
            value = sys.stdin.read().rstrip("\n")
            print(f"{args.name} version {await vault.put(args.tenant, args.name, value)}")
        else:
            print(await vault.get_logged(args.tenant, args.bot, args.name, agent="ipai-rag cli"))

    return run_with_services(run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipai-rag", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP service (embedded database unless DATABASE_URL is set)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--no-sample", dest="sample", action="store_false", help="do not load the sample knowledge base")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="serve the MCP tools over stdio (for desktop clients; key from IPAI_API_KEY)")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.add_argument("--schema", action="store_true", help="print the resulting schema description")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("ingest", help="ingest files and folders (md, rst, txt, html, pdf, jsonl; .gz too)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--source")
    p.add_argument("--language")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.add_argument("--wait", action="store_true", help="return when every chunk is embedded")
    p.add_argument("--vacuum-after", type=int, default=1000, metavar="CHUNKS",
                   help="after a load that stored or deleted at least this many chunks, VACUUM ANALYZE the "
                        "knowledge-base tables so searches run at full speed at once (0: leave it to autovacuum)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("worker", help="run standalone embedding workers")
    p.add_argument("--concurrency", type=int, default=1)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("export", help="write the knowledge base as NDJSON (ingest reads it back)")
    p.add_argument("--out")
    p.add_argument("--source")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("search", help="search the knowledge base")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "vector", "lexical", "trigram"])
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.add_argument("--explain", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="ask the knowledge base a question (streams the answer)")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive multi-turn chat with the knowledge base")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("sync", help="the Odoo bridge: seed, pull sync, event worker")
    ssub = p.add_subparsers(dest="sync_command", required=True)
    p = ssub.add_parser("seed", help="load the expected projects and tasks (JSON or YAML) for drift checks")
    p.add_argument("file")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_sync_seed)
    p = ssub.add_parser("pull", help="pull changed records (write_date after the cursor) from an instance")
    p.add_argument("--instance", required=True)
    p.add_argument("--model", required=True, action="append", help="repeat for several models")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_sync_pull)
    p = ssub.add_parser("worker", help="process received events, run scheduled jobs, deliver outbound webhooks")
    p.set_defaults(func=cmd_odoo_worker)

    p = sub.add_parser("routes", help="event routes to outbound webhooks (e.g. n8n workflows)")
    rsub = p.add_subparsers(dest="routes_command", required=True)
    p = rsub.add_parser("list", help="the tenant's routes")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_routes)
    p = rsub.add_parser("put", help="create or replace a route")
    p.add_argument("name")
    p.add_argument("--source", required=True, choices=["odoo", "github", "database", "schedule"])
    p.add_argument("--url", required=True, help="the receiver (signed like inbound webhooks)")
    p.add_argument("--event-type", default="*", help="e.g. pull_request.opened, write; * for any")
    p.add_argument("--aggregate-type", default="*", help="e.g. account.move; * for any")
    p.add_argument("--predicate", default="{}", help='JSON the payload must contain, e.g. {"state": "posted"}')
    p.add_argument("--disabled", action="store_true")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_routes)
    p = rsub.add_parser("delete", help="delete a route")
    p.add_argument("name")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_routes)
    p = rsub.add_parser("match", help="dry run: the routes an event would be delivered to")
    p.add_argument("--source", required=True, choices=["odoo", "github", "database", "schedule"])
    p.add_argument("--event-type", required=True)
    p.add_argument("--aggregate-type", default="")
    p.add_argument("--payload", default="{}")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_routes)

    p = sub.add_parser("keys", help="API keys")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    p = ksub.add_parser("create", help="create a key (printed once)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--scopes", required=True, help="comma list: kb:read,kb:write,ask,sync,catalog,admin")
    p.add_argument("--name", default="")
    p.set_defaults(func=cmd_keys)
    p = ksub.add_parser("revoke", help="revoke a key at once")
    p.add_argument("key_id")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("vault", help="the secrets vault (key from IPAI_VAULT_KEY or IPAI_VAULT_KEY_FILE)")
    vsub = p.add_subparsers(dest="vault_command", required=True)
    p = vsub.add_parser("put", help="store a new version of a secret read from standard input")
    p.add_argument("name")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_vault)
    p = vsub.add_parser("get", help="read a secret as a bot (audited)")
    p.add_argument("name")
    p.add_argument("--bot", required=True)
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_vault)

    p = sub.add_parser("catalog", help="the asset catalog")
    csub = p.add_subparsers(dest="catalog_command", required=True)
    p = csub.add_parser("sync", help="register own tables/views/functions, Odoo models and modules, KB sources")
    p.add_argument("--odoo-url")
    p.add_argument("--odoo-db")
    p.add_argument("--odoo-user")
    p.add_argument("--odoo-password")
    p.add_argument("--tenant", default=default_tenant(), help="default: DEFAULT_TENANT")
    p.set_defaults(func=cmd_catalog_sync)

    # Commands of other packages (the evaluation harness's `eval` and `bench`) register through an entry point,
    # so this module never imports them.
    for plugin in entry_points(group="ipai_rag.commands"):
        plugin.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.func(args)
    except IpaiError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
