# etcd transport: Debian's etcd 3.4 with the v2 API (python-etcd speaks v2) on two free
# loopback ports; its state lives in a temporary folder.  Started once: later runs reuse
# the etcd whose URL $CACHE/etcd.url records while it still answers /health.
need_apt etcd-server
etcd_state="$CACHE/etcd.url"
etcd_url=
if [ -s "$etcd_state" ]; then
    etcd_url=$(cat "$etcd_state")
    python3 -c 'import sys, urllib.request
sys.exit(b"true" not in urllib.request.urlopen(sys.argv[1] + "/health", timeout=2).read())' \
        "http://${etcd_url#etcd://}" 2>/dev/null || etcd_url=
fi
if [ -z "$etcd_url" ]; then
    etcd_ports=$(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
    read -r etcd_port etcd_peer_port <<< "$etcd_ports"
    etcd_dir=$(mktemp -d /tmp/kombu-ci-etcd.XXXXXX)
    etcd --name kombu-ci --data-dir "$etcd_dir/data" --enable-v2=true \
        --listen-client-urls "http://127.0.0.1:$etcd_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster "kombu-ci=http://127.0.0.1:$etcd_peer_port" \
        > "$etcd_dir/log" 2>&1 &
    wait_for "$etcd_port" 30
    etcd_url="etcd://127.0.0.1:$etcd_port"
    mkdir -p "$CACHE"
    echo "$etcd_url" > "$etcd_state"
fi
echo "export ETCD_URL=$etcd_url"
