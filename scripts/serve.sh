#!/usr/bin/env bash
# Serve with daphne. Without OPENAI_API_KEY the bridge talks to the local fake Realtime,
# started here and stopped with the server, so a newcomer's first call works offline.
set -euo pipefail
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
FAKE_PORT=${FAKE_REALTIME_PORT:-8765}
TEXT_PORT=${FAKE_TEXT_PORT:-8767}
LIVE_PORT=${FAKE_LIVE_PORT:-8769}
PY=.venv/bin/python

if [ -z "${OPENAI_API_KEY:-}" ]; then
  echo "OPENAI_API_KEY is unset: calls are answered by the local fake Realtime on port $FAKE_PORT"
  echo "(GPT-Live agents by its GPT-Live stand-in on port $LIVE_PORT), and summarised by the"
  echo "local fake Responses API on port $TEXT_PORT"
  $PY manage.py fake_realtime --host 127.0.0.1 --port "$FAKE_PORT" --think-ms 300 \
    --text-port "$TEXT_PORT" --live-port "$LIVE_PORT" &
  fake=$!
  trap 'kill $fake 2>/dev/null || true' EXIT
  export OPENAI_REALTIME_URL="ws://127.0.0.1:$FAKE_PORT/v1/realtime"
  export OPENAI_BASE_URL="http://127.0.0.1:$TEXT_PORT/v1"
  export OPENAI_LIVE_URL="ws://127.0.0.1:$LIVE_PORT/v1/live/sessions"
fi
# daphne, but SIGTERM / Ctrl-C lets live calls finish first (voiceproject/worker.py).
$PY -m voiceproject.worker -b "$HOST" -p "$PORT" voiceproject.asgi:application
