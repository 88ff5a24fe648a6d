# PGMQ transport: PGMQ's SQL, as the PyPI package pgmq ships it (pgmq/sql/pgmq.sql), installed
# without the extension into a database `kombu_pgmq` of the PostgreSQL that sqlalchemy.sh
# provides (sourced here first when nothing listens yet; it reuses what runs).
python3 -m pip install -q pgmq >&2
if ! listening 5432; then
    # shellcheck disable=SC1091
    source .ci/servers.d/sqlalchemy.sh > /dev/null
fi
pgmq_sql=$(python3 -c 'import os, pgmq.sql; print(os.path.join(os.path.dirname(pgmq.sql.__file__), "pgmq.sql"))')
if ! psql -h 127.0.0.1 -p 5432 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='kombu_pgmq'" | grep -q 1; then
    createdb -h 127.0.0.1 -p 5432 -U postgres kombu_pgmq >&2
    psql -q -h 127.0.0.1 -p 5432 -U postgres -d kombu_pgmq -v ON_ERROR_STOP=1 -f "$pgmq_sql" >&2
fi
echo "export PGMQ_URL=pgmq://postgres@127.0.0.1:5432/kombu_pgmq"
