# Google Pub/Sub transport: the Cloud SDK's Pub/Sub emulator, which the machine image ships
# (google-cloud-cli-pubsub-emulator; no registry can install it), on a free loopback port,
# started once per CI run. Without it the tests skip locally and fail under CI=true.
python3 -m pip install -q google-cloud-pubsub >&2
pubsub_bin=$(dpkg -L google-cloud-cli-pubsub-emulator 2>/dev/null | grep 'bin/cloud-pubsub-emulator$' || true)
if [ -n "$pubsub_bin" ]; then
    pubsub_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pubsub_dir=$(mktemp -d /tmp/kombu-ci-pubsub.XXXXXX)
    "$pubsub_bin" --host=127.0.0.1 --port="$pubsub_port" > "$pubsub_dir/log" 2>&1 &
    wait_for "$pubsub_port" 60
    echo "export PUBSUB_EMULATOR_HOST=127.0.0.1:$pubsub_port"
else
    echo "gcpubsub: no Pub/Sub emulator in this image (google-cloud-cli-pubsub-emulator)" >&2
fi
