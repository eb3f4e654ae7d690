# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md fragments.graphql ./
COPY src ./src
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/order_graph-*.whl

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /app order-graph
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels order-graph && rm -rf /wheels
USER order-graph
ENV ORDER_GRAPH_HOST=0.0.0.0 \
    ORDER_GRAPH_PORT=8000 \
    ORDER_GRAPH_ENV=production \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["order-graph"]
CMD ["serve"]
