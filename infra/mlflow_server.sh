#!/usr/bin/env bash
# The study's MLflow tracking server: PostgreSQL backend store, artifacts proxied by the
# server (--serve-artifacts) to a folder or an object store. Binds to 127.0.0.1 unless told.
#
#   infra/mlflow_server.sh [--backend-store-uri URI] [--artifacts-destination URI]
#                          [--host H] [--port P] [any other `mlflow server` option]
#
# Defaults come from the environment:
#   MLFLOW_BACKEND_STORE_URI       postgresql+psycopg2://mlflow@127.0.0.1:5432/mlflow (infra/postgres_local.sh;
#                                  a password goes in PGPASSWORD, not in the URI)
#   MLFLOW_ARTIFACTS_DESTINATION   ./mlartifacts (absolute), or s3://bucket/prefix, gs://...
#                                  (S3-compatible stores: set MLFLOW_S3_ENDPOINT_URL as well)
#   MLFLOW_HOST                    127.0.0.1   (0.0.0.0 only behind a firewall: the server has no auth)
#   MLFLOW_PORT                    5000
#   MLFLOW_WORKERS                 2
# Clients then use MLFLOW_TRACKING_URI=http://HOST:PORT and never need the store's credentials.
set -euo pipefail
backend=${MLFLOW_BACKEND_STORE_URI:-postgresql+psycopg2://mlflow@127.0.0.1:5432/mlflow}
artifacts=${MLFLOW_ARTIFACTS_DESTINATION:-$PWD/mlartifacts}
host=${MLFLOW_HOST:-127.0.0.1}
port=${MLFLOW_PORT:-5000}
workers=${MLFLOW_WORKERS:-2}
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend-store-uri) backend=$2; shift 2 ;;
    --artifacts-destination) artifacts=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) extra+=("$1"); shift ;;
  esac
done
case "$artifacts" in
  *://*) ;;
  *) mkdir -p "$artifacts"; artifacts=$(cd "$artifacts" && pwd) ;;
esac
exec mlflow server \
  --backend-store-uri "$backend" \
  --serve-artifacts --artifacts-destination "$artifacts" \
  --host "$host" --port "$port" --workers "$workers" \
  "${extra[@]}"
