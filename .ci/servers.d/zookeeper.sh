# ZooKeeper (Debian's package, standalone on loopback) for the zookeeper:// tests.
# Sourced by .ci/start-servers; exports ZOOKEEPER_URL and ZOOKEEPER_JAR (tests that
# kill and restart a server start private ones from the same jar). The server is
# started once and reused by later runs while it answers (its port is kept in $CACHE).
need_apt zookeeper
# (no grep -m1/head in the pipe: under pipefail an early exit would SIGPIPE dpkg)
zk_jar=$(dpkg -L libzookeeper-java | grep -E '/zookeeper\.jar$')
zk_jar=${zk_jar%%$'\n'*}
zk_ruok() { [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$1"; printf ruok >&3; timeout 1 cat <&3) 2>/dev/null)" = imok ]; }
if [ -z "${ZOOKEEPER_URL:-}" ]; then
    mkdir -p "$CACHE"
    zk_port=$(cat "$CACHE/zookeeper.port" 2>/dev/null || true)
    if [ -z "$zk_port" ] || ! zk_ruok "$zk_port"; then
        zk_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        zk_dir="$CACHE/zookeeper-$zk_port"
        mkdir -p "$zk_dir/data"
        # No admin server (it would open Jetty on 8080); the 4lw commands answer health checks.
        printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n' \
            "$zk_dir/data" "$zk_port" > "$zk_dir/zoo.cfg"
        nohup java -Xmx256m -Dzookeeper.admin.enableServer=false -cp "$zk_dir:$zk_jar" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$zk_dir/zoo.cfg" \
            > "$zk_dir/log" 2>&1 < /dev/null &
        wait_for "$zk_port" 60
        for _ in $(seq 1 100); do zk_ruok "$zk_port" && break; sleep 0.1; done
        echo "$zk_port" > "$CACHE/zookeeper.port"
    fi
    echo "export ZOOKEEPER_URL=zookeeper://127.0.0.1:$zk_port/"
fi
echo "export ZOOKEEPER_JAR=$zk_jar"
