# SecantusDB (PyPI), a MongoDB-wire server on WiredTiger: no real mongod is obtainable
# here. Sourced by .ci/start-servers; starts one server on a spare loopback port and
# exports MONGODB_URL. Later runs reuse it while it answers (its port is kept in $CACHE).
python3 -c 'import secantus, pymongo' 2>/dev/null \
    || python3 -m pip install -q SecantusDB pymongo >&2
mongo_ping() {
    python3 -c "import pymongo, sys; pymongo.MongoClient('mongodb://127.0.0.1:$1/', serverSelectionTimeoutMS=2000).admin.command('ping')" 2>/dev/null
}
if [ -z "${MONGODB_URL:-}" ]; then
    mkdir -p "$CACHE"
    mongo_port=$(cat "$CACHE/mongodb.port" 2>/dev/null || true)
    if [ -z "$mongo_port" ] || ! listening "$mongo_port" || ! mongo_ping "$mongo_port"; then
        mongo_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        mongo_dir="$CACHE/secantus-$mongo_port"
        mkdir -p "$mongo_dir"
        : > "$mongo_dir/secantusd.toml"   # --config: no ./secantusd.toml is picked up
        nohup python3 -m secantus --config "$mongo_dir/secantusd.toml" --host 127.0.0.1 \
            --port "$mongo_port" --storage-path "$mongo_dir/data" --log-level WARNING \
            > "$mongo_dir/log" 2>&1 < /dev/null &
        wait_for "$mongo_port" 60
        echo "$mongo_port" > "$CACHE/mongodb.port"
    fi
    echo "export MONGODB_URL=mongodb://127.0.0.1:$mongo_port/"
fi
