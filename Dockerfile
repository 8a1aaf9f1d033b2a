# One image for every claimflow service: `claimflow run <service>`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY claimflow ./claimflow
COPY services ./services
COPY schemas ./schemas
COPY deploy/topics.yaml ./deploy/topics.yaml
RUN pip install --no-cache-dir -e . && useradd --uid 10001 claimflow && mkdir -p /app/var && chown claimflow /app/var
USER claimflow
ENV CLAIMFLOW_HTTP_HOST=0.0.0.0
ENTRYPOINT ["claimflow"]
