# SQLAlchemy transport: PostgreSQL (127.0.0.1:5432, trust auth) and MariaDB
# (127.0.0.1:3306, root without password), each with a database `test`.
# Reused when listening (machines of this kind run both); otherwise started
# privately under $CACHE.  SQLite needs no server.

sqla_pg_port=5432
if ! listening "$sqla_pg_port"; then
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    sqla_pg_dir="$CACHE/postgres"
    mkdir -p "$sqla_pg_dir"
    chmod 755 "$CACHE" "$sqla_pg_dir"          # postgres (not root) must traverse them
    sqla_run=()
    if [ "$(id -u)" = 0 ]; then chown postgres: "$sqla_pg_dir"; sqla_run=(runuser -u postgres --); fi
    if [ ! -s "$sqla_pg_dir/data/PG_VERSION" ]; then
        "${sqla_run[@]}" "$pg_bin/initdb" -D "$sqla_pg_dir/data" -U postgres --auth=trust \
            -E UTF8 --no-sync >&2
    fi
    "${sqla_run[@]}" "$pg_bin/pg_ctl" -D "$sqla_pg_dir/data" -l "$sqla_pg_dir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $sqla_pg_port -k $sqla_pg_dir/data -c fsync=off" \
        start >&2
    wait_for "$sqla_pg_port" 30
fi
psql -h 127.0.0.1 -p "$sqla_pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
    | grep -q 1 || createdb -h 127.0.0.1 -p "$sqla_pg_port" -U postgres test >&2
echo "export SQLA_POSTGRES_URL=sqla+postgresql+psycopg://postgres@127.0.0.1:$sqla_pg_port/test"

sqla_my_port=3306
if ! listening "$sqla_my_port"; then
    command -v mariadbd >/dev/null || need_apt mariadb-server
    sqla_my_dir="$CACHE/mariadb"
    mkdir -p "$sqla_my_dir"
    if [ ! -d "$sqla_my_dir/data/mysql" ]; then
        mariadb-install-db --datadir="$sqla_my_dir/data" --user=root \
            --auth-root-authentication-method=normal --skip-test-db >&2
    fi
    mariadbd --datadir="$sqla_my_dir/data" --user=root --bind-address=127.0.0.1 \
        --port="$sqla_my_port" --socket="$sqla_my_dir/mysqld.sock" \
        --pid-file="$sqla_my_dir/mysqld.pid" --log-error="$sqla_my_dir/error.log" >/dev/null 2>&1 &
    wait_for "$sqla_my_port" 60
    mariadb --socket="$sqla_my_dir/mysqld.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1';" >&2
fi
mariadb -h 127.0.0.1 -P "$sqla_my_port" -uroot -e 'CREATE DATABASE IF NOT EXISTS test' >&2
echo "export SQLA_MARIADB_URL=sqla+mysql+pymysql://root@127.0.0.1:$sqla_my_port/test"
