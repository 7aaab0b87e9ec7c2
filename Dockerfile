# User-code image `dagster-repo`: runs the code server of the dagster-repo location and, in k8s-jobs mode,
# every run pod. Builds on arm64 and amd64 alike: nothing below downloads an architecture-specific file.
#
# PYTHON_IMAGE is python:3.11-slim on a developer machine. CI cannot pull it and passes a Debian bookworm
# root filesystem with python3 and python3-venv instead (.ci/setup-docker.sh); the stages below only rely
# on `python3` being on PATH and able to create a venv, which both bases provide.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

# tini becomes PID 1 of the final image; it is copied as its static binary, so the final image carries
# neither apt lists nor a package cache. binutils (strip) serves the trimming step below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini binutils \
    && rm -rf /var/lib/apt/lists/*

# uv installs the venv from uv.lock, the lock `make install` uses, so the code server runs exactly the versions
# the tests ran. It lives in the builder stage only; the final image gets /opt/venv alone. It trusts the base's
# certificate store, as pip does, so a proxy's CA added there (.ci/setup-docker.sh) is honoured.
ARG UV_VERSION=0.13.8
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 \
    UV_SYSTEM_CERTS=1
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"

# Only the lock and pyproject.toml reach this layer, so editing the pipeline never reinstalls the dependencies.
# The runtime set only, without the project itself or its extras (--frozen: no resolution in the build): the
# package stays a plain directory on PYTHONPATH, so files Tilt syncs into it are the code that runs.
# Bytecode is compiled here, as pip did, because the image's user cannot write it next to the sources.
COPY pyproject.toml uv.lock /tmp/build/
RUN cd /tmp/build && /opt/uv/bin/uv sync --frozen --no-install-project --python python3 \
    && rm -rf /tmp/build

# Keeps the image under 500 MB by removing what nothing runs at run time: the libraries' own test suites
# (pandas alone ships 46 MB), pyarrow's C++ headers and Cython sources, and symbol tables
# of compiled extensions (about 50 MB; Python tracebacks are unaffected). Libraries that auditwheel
# grafted into *.libs/ are left alone: strip corrupts their patched ELF headers. pyarrow's Flight RPC and
# S3 filesystem (40 MB) go too: the pipeline reads local files, and pyarrow.fs reports S3FileSystem as
# unavailable rather than failing. The C and Cython sources and headers of compiled extensions go (debugpy ships
# 6 MB), type stubs (2 MB), Windows launchers, numpy's Fortran wrapper generator f2py (1.3 MB), and
# debugpy's helpers for attaching to another process by pid (4 MB): a debug run listens, nothing attaches by
# pid. The container tests run the pipeline, and a debug server, on the trimmed venv.
RUN site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && find "$site" -depth -type d -name tests -prune -exec rm -rf {} + \
    && find "$site" -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} + \
    && rm -rf "$site/pyarrow/include" "$site/pyarrow/src" "$site"/pyarrow/*.pyx "$site"/pyarrow/*.pxd \
        "$site"/pyarrow/*.pxi \
    && rm -f "$site"/pyarrow/libarrow_flight.so* "$site"/pyarrow/libarrow_python_flight.so* \
        "$site"/pyarrow/_flight.*.so "$site"/pyarrow/libarrow_s3.so* "$site"/pyarrow/_s3fs.*.so \
        "$site"/pyarrow/_pyarrow_cpp_tests.*.so \
    && find "$site" -type f \( -name '*.c' -o -name '*.h' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \
        -o -name '*.exe' \) -delete \
    && rm -rf "$site/numpy/f2py" \
    && rm -rf "$site/debugpy/_vendored/pydevd/pydevd_attach_to_process"


FROM ${PYTHON_IMAGE}

ARG APP_UID=10001
ARG APP_GID=10001
ENV APP_DIR=/opt/dagster/app \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DATA_ROOT=/data \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/dagster/app \
    PYTHONUNBUFFERED=1

# A fixed numeric UID/GID: the pods' runAsUser/fsGroup name the same numbers, and Kubernetes can only
# verify runAsNonRoot against a numeric USER. The layer directories exist and belong to the user so that
# fresh Docker volumes mounted there inherit a writable owner, as PVCs do through fsGroup.
# DAGSTER_HOME stays empty: the chart mounts dagster.yaml into it, and runs get the instance reference
# from the launcher; the code server still writes small state files there.
RUN groupadd --gid "${APP_GID}" dagster \
    && useradd --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /opt/dagster --no-create-home \
        --shell /usr/sbin/nologin dagster \
    && mkdir -p "${APP_DIR}" "${DAGSTER_HOME}" "${DATA_ROOT}/bronze" "${DATA_ROOT}/silver" "${DATA_ROOT}/gold" \
    && chown -R "${APP_UID}:${APP_GID}" /opt/dagster "${DATA_ROOT}"

COPY --from=builder /usr/bin/tini-static /usr/bin/tini
COPY --from=builder /opt/venv /opt/venv

# The sample input: k8s/bronze-seed-job.yaml copies it onto the bronze PVC when that holds no input yet.
COPY --chown=${APP_UID}:${APP_GID} data/bronze/bronze_data.csv ${APP_DIR}/data/bronze/bronze_data.csv
# Last, because it changes most often. Owned by the app user so Tilt's live_update (tar, run as this user)
# can overwrite it.
COPY --chown=${APP_UID}:${APP_GID} dagster_project ${APP_DIR}/dagster_project

USER ${APP_UID}:${APP_GID}
WORKDIR ${APP_DIR}
EXPOSE 3030

# The chart sets only `args`, so this ENTRYPOINT stays in force in the code-server pod and in run pods.
# tini as PID 1 reaps orphaned run-worker processes and, with -g, hands SIGTERM to the whole process group,
# so the code server, the gRPC server it spawns and any run in progress stop together: about 2 s here
# against 3-4 s without tini, well inside Kubernetes' 30 s grace period (tests/deploy/test_container.py).
ENTRYPOINT ["tini", "-g", "--"]
# The chart's codeServerArgs command, so `docker run dagster-repo` alone serves the location. `dagster`, not
# `dg`: dg has no code-server command (and is not installed in the image).
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "dagster_project.definitions"]
