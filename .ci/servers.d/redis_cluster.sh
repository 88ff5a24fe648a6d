# Redis Cluster transport: three redis-server masters in cluster mode on spare loopback ports
# (their bus ports, +10000, must be free too), created once per CI run; the tests read
# REDIS_CLUSTER_URL (rediscluster://127.0.0.1:P1;rediscluster://127.0.0.1:P2;...).
need_apt redis-server
rc_base=${REDIS_CLUSTER_BASE_PORT:-7300}
rc_nodes=()
for i in 0 1 2; do rc_nodes+=("127.0.0.1:$((rc_base + i))"); done
if redis-cli -p "$rc_base" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
    echo "redis cluster: reusing 127.0.0.1:$rc_base.." >&2   # started by an earlier run
else
    rc_dir=$(mktemp -d /tmp/kombu-ci-rediscluster.XXXXXX)
    for node in "${rc_nodes[@]}"; do
        rc_port=${node##*:}
        mkdir -p "$rc_dir/$rc_port"
        redis-server --bind 127.0.0.1 --port "$rc_port" --dir "$rc_dir/$rc_port" \
            --cluster-enabled yes --cluster-config-file nodes.conf --save '' --appendonly no \
            --daemonize no > "$rc_dir/$rc_port.log" 2>&1 &
    done
    for node in "${rc_nodes[@]}"; do wait_for "${node##*:}" 20; done
    redis-cli --cluster create "${rc_nodes[@]}" --cluster-yes > "$rc_dir/create.log" 2>&1
fi
for _ in $(seq 50); do
    redis-cli -p "$rc_base" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.2
done
rc_url=$(printf "rediscluster://%s;" "${rc_nodes[@]}"); rc_url=${rc_url%;}
printf "export REDIS_CLUSTER_URL=%q\n" "$rc_url"   # quoted: the alternates are joined by ";"
