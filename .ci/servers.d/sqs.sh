# Amazon SQS/SNS emulator for the sqs:// tests: one shared moto_server on loopback.
# Sourced by .ci/start-servers (bash, set -euo pipefail); exports KOMBU_SQS_ENDPOINT.
# (moto accepts any credentials: the tests put theirs in the sqs:// URL.)
SQS_PORT=${SQS_PORT:-5123}
python -c 'import moto.server, flask_cors' 2>/dev/null \
    || python -m pip install -q 'moto[server]>=5' >&2
if ! listening "$SQS_PORT"; then
    mkdir -p /tmp/kombu-ci-moto
    nohup python -m moto.server -H 127.0.0.1 -p "$SQS_PORT" \
        >/tmp/kombu-ci-moto/moto.log 2>&1 </dev/null &
    wait_for "$SQS_PORT" 30
fi
echo "export KOMBU_SQS_ENDPOINT=http://127.0.0.1:$SQS_PORT"
