# syntax=docker/dockerfile:1
# One image for the API (default command) and the worker (`orderflow-worker`); `orderflow-migrate`
# runs from it too. See docker-compose.yml for how the pieces are wired together.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/orderflow
WORKDIR /src
COPY . .
# A regular (not editable) install: the venv holds the code, the migrations and the entry points.
RUN /opt/orderflow/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/orderflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORDERFLOW_ENVIRONMENT=production \
    ORDERFLOW_DATA_DIR=/var/lib/orderflow \
    ORDERFLOW_API_HOST=0.0.0.0 \
    ORDERFLOW_API_PORT=8000
RUN groupadd --system --gid 10001 orderflow \
    && useradd --system --uid 10001 --gid orderflow --home-dir /var/lib/orderflow --create-home \
       --shell /usr/sbin/nologin orderflow
COPY --from=build /opt/orderflow /opt/orderflow
# orderflow-migrate creates ORDERFLOW_DATA_DIR even when the database is PostgreSQL, so it must be writable.
WORKDIR /var/lib/orderflow
USER 10001:10001
EXPOSE 8000
CMD ["orderflow-api"]
