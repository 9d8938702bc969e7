"""psycopg 3 through signoff's PostgreSQL front door: a parameterised read
(server-side binding, the extended protocol) and a denied DROP TABLE."""
import sys

import psycopg

conninfo = sys.argv[1]
with psycopg.connect(conninfo, autocommit=True) as conn:
    rows = conn.execute(
        "SELECT id, note FROM pg_psycopg WHERE id <= %s ORDER BY id", (2,)
    ).fetchall()
    print("rows", rows)
    try:
        conn.execute("DROP TABLE pg_psycopg")
        print("not denied")
    except psycopg.errors.InsufficientPrivilege as e:
        print("denied", e.sqlstate, str(e).splitlines()[0])
    print("after", conn.execute("SELECT count(*) FROM pg_psycopg").fetchone()[0])
