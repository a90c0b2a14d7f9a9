# quotaflow's container image, in two stages: `build` installs the package into a virtualenv;
# the runtime stage holds that virtualenv and nothing else (no pip cache, no source tree, no
# compiler) and runs it as an unprivileged user with a numeric id, so that Kubernetes'
# `runAsNonRoot` can check it. See docs/operations.md.
#
#   docker build -t quotaflow:0.1.0 .
#   docker run --rm -p 4000:4000 --env-file deploy/kubernetes/base/secrets.env \
#     -v "$PWD/deploy/kubernetes/base/config.yaml:/app/config.yaml:ro" \
#     -v quotaflow-data:/var/lib/quotaflow quotaflow:0.1.0

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/quotaflow
WORKDIR /src
# The dependencies first, read from pyproject.toml alone: a change to the code reuses this layer.
# Every dependency ships binary wheels (amd64 and arm64), so no compiler is needed.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/quotaflow/bin/pip install --requirement /tmp/requirements.txt
COPY src ./src
# Then pip and setuptools leave the virtualenv: the runtime installs nothing.
RUN /opt/quotaflow/bin/pip install --no-deps . \
    && /opt/quotaflow/bin/python -c "import quotaflow.app" \
    && /opt/quotaflow/bin/python -m pip uninstall --yes --quiet pip setuptools

FROM ${PYTHON_IMAGE}
# Bytecode was compiled at install time; the root filesystem may be read-only at run time.
ENV PATH=/opt/quotaflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The gateway writes its data (spend spool; SQLite without a database) to
# general_settings.data_dir: /var/lib/quotaflow in the manifests, a volume; else the config file's
# folder, /app, so that a config without data_dir also starts. Both belong to the user; the code
# in /opt/quotaflow does not.
RUN groupadd --system --gid 10001 quotaflow \
    && useradd --system --uid 10001 --gid quotaflow --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin quotaflow \
    && install --directory --owner 10001 --group 10001 --mode 0750 /app /var/lib/quotaflow
COPY --from=build /opt/quotaflow /opt/quotaflow
WORKDIR /app
USER 10001:10001
EXPOSE 4000
# For `docker run` and Compose; Kubernetes ignores it and uses the manifests' probes instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=2)"]
# The config file is mounted at /app/config.yaml (a ConfigMap in Kubernetes); secrets arrive as
# environment variables named by its os.environ/NAME references.
ENTRYPOINT ["quotaflow"]
CMD ["serve", "--config", "/app/config.yaml", "--host", "0.0.0.0", "--port", "4000"]
