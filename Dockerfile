# syntax=docker/dockerfile:1
#
# nimbuild-controller images.
#
#   docker build -t nimbuild-controller .                          # target runtime (default)
#   docker build --target trtllm -t nimbuild-controller-trtllm .   # trtllm engine builder
#
# runtime: the hook (CMD: gunicorn serving hooks.sync:app) AND the nim-backend engine builder
#          (the build Job runs `python -m engine_builder` in the same image).
# trtllm:  the engine builder for `spec.build.backend: trtllm`, on NVIDIA's TensorRT-LLM 1.2
#          release image (the last line that builds engines).
#
# Base images are pinned by tag AND digest; refresh both together (docs/install.md, "Images"):
#   docker buildx imagetools inspect python:3.11-slim-bookworm
#   docker buildx imagetools inspect nvcr.io/nvidia/tensorrt-llm/release:1.2.1
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
ARG TRTLLM_IMAGE=nvcr.io/nvidia/tensorrt-llm/release:1.2.1@sha256:33cd085b772947bd22b7273886539331420404e5d2a4a039945241945ff927b9

# ---------------------------------------------------------------------------------------------
# build: hash-locked dependencies into a venv (no pip or setuptools inside it), app bytecode.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv --without-pip /opt/venv
COPY requirements.lock /tmp/requirements.lock
# --require-hashes: every distribution must match a hash in the lock; --no-deps: the lock is
# complete, nothing is resolved at build time; --only-binary: no compilers needed or shipped.
RUN pip --python /opt/venv/bin/python install \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock
COPY hooks/ /app/hooks/
COPY engine_builder/ /app/engine_builder/
# The root filesystem is read-only at run time: compile now, so nothing tries to write .pyc.
RUN /opt/venv/bin/python -m compileall -q /app

# ---------------------------------------------------------------------------------------------
# trtllm: engine builder with the TensorRT-LLM backend. The base image brings Python,
# tensorrt_llm and the engine builder's own dependencies (PyYAML, filelock), all fixed by its
# digest; only the engine_builder package is added.
FROM ${TRTLLM_IMAGE} AS trtllm
ENV PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    NIMBUILD_BACKEND=trtllm
COPY --from=build /app/engine_builder/ /app/engine_builder/
RUN python3 -m compileall -q /app
WORKDIR /app
USER 10001:10001
# Smoke test as the runtime user: the builder imports, its dependencies are there, and the
# TensorRT-LLM package is installed (imported lazily by the builder, so only located here:
# importing it needs a GPU driver).
RUN python3 -c "import engine_builder, yaml, filelock, importlib.util as u; \
assert u.find_spec('tensorrt_llm'), 'tensorrt_llm missing'"
ENTRYPOINT []
CMD ["python3", "-m", "engine_builder"]

# ---------------------------------------------------------------------------------------------
# runtime (default target): only the venv and the app on the slim base.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="nimbuild-controller" \
      org.opencontainers.image.description="NIMBuild Metacontroller hook and engine builder" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8080
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# Numeric, so the kubelet can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
# Smoke test as the runtime user: the hook app and the engine builder import, gunicorn
# accepts the configuration, and `python -m hooks.cli` finds its CRD and CEL/jsonschema.
RUN python -c "import hooks.sync, engine_builder" \
    && gunicorn --check-config -c python:hooks.gunicorn_conf hooks.sync:app \
    && python -c "from hooks.cli import checks; checks.crd_schema('v1alpha1')"
EXPOSE 8080
# Exec form: gunicorn is PID 1 and receives SIGTERM directly.
CMD ["gunicorn", "-c", "python:hooks.gunicorn_conf", "hooks.sync:app"]
