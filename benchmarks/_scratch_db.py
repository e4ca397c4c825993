"""Scratch namespaces on the loopback database servers, dropped after the measurement.

Benchmarks that time a store, a board or a page against PostgreSQL or MariaDB
each get a fresh schema (PostgreSQL) or database (MariaDB) here, so that runs
never see each other's rows and leave nothing behind.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

__all__ = ["MYSQL_HOST", "PG_URL", "mysql_database", "postgres_schema"]

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_HOST = "127.0.0.1"


@contextlib.contextmanager
def postgres_schema(prefix: str = "sf_bench") -> Iterator[str]:
    """A URL confined to a fresh schema of the loopback server's ``test`` database."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def mysql_database(prefix: str = "sf_bench") -> Iterator[str]:
    """A URL naming a fresh database on the loopback MariaDB server."""
    import pymysql

    database = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host=MYSQL_HOST, user="root", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        try:
            yield f"mysql://root@{MYSQL_HOST}:3306/{database}"
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        admin.close()
