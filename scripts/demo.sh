#!/usr/bin/env bash
# make demo: server + fake Realtime + one simulated call, end to end, with no network.
# DEMO_ENGINE=live calls the demo agent on GPT-Live (its stand-in) instead.
set -euo pipefail
PORT=${DEMO_PORT:-8010}
FAKE_PORT=${DEMO_FAKE_PORT:-8766}
TEXT_PORT=${DEMO_TEXT_PORT:-8768}
LIVE_PORT=${DEMO_LIVE_PORT:-8770}
ENGINE=${DEMO_ENGINE:-realtime}
OUT=${DEMO_WAV:-$PWD/demo-call.wav}
PY=.venv/bin/python
BASE="http://127.0.0.1:$PORT"

$PY manage.py migrate --noinput -v0
$PY manage.py setup_demo --base-url "$BASE" >/tmp/demo-setup.txt
case "$ENGINE" in realtime|live) ;; *) echo "DEMO_ENGINE must be realtime or live" >&2; exit 2;; esac
number=$($PY manage.py shell -v 0 -c "from agents.models import Agent; print(Agent.objects.filter(is_active=True, engine='$ENGINE').order_by('pk').first().phone_number)")

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
# The fake "thinks" 300 ms before answering and, on the caller's second turn, calls end_call
# (GPT-Live: its backend does): the demo agent says goodbye and hangs up, as a real one would.
$PY manage.py fake_realtime --port "$FAKE_PORT" --think-ms 300 --tool-call 2:end_call \
  --text-port "$TEXT_PORT" --live-port "$LIVE_PORT" >/tmp/demo-fake.log 2>&1 &
pids+=($!)
OPENAI_API_KEY= OPENAI_REALTIME_URL="ws://127.0.0.1:$FAKE_PORT/v1/realtime" \
  OPENAI_BASE_URL="http://127.0.0.1:$TEXT_PORT/v1" \
  OPENAI_LIVE_URL="ws://127.0.0.1:$LIVE_PORT/v1/live/sessions" \
  .venv/bin/daphne -b 127.0.0.1 -p "$PORT" voiceproject.asgi:application >/tmp/demo-server.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && (echo >"/dev/tcp/127.0.0.1/$FAKE_PORT") 2>/dev/null && break
  sleep 0.1
done

echo "Calling $number ($ENGINE engine) through $BASE (stand-ins on ports $FAKE_PORT and $LIVE_PORT)…"
$PY manage.py simulate_call --number "$number" --base-url "$BASE" --out "$OUT" | tee /tmp/demo-call.txt
call_id=$(sed -n 's/^call \([^ ]*\) at.*/\1/p' /tmp/demo-call.txt)
pk=$($PY manage.py shell -v 0 -c "from calls.models import Call; print(Call.objects.get(call_id='$call_id').pk)")
echo
echo "Recording: $OUT"
echo "Admin page: http://127.0.0.1:8000/admin/calls/call/$pk/change/  (after make run; $(grep -o 'user .*' /tmp/demo-setup.txt | head -1))"
