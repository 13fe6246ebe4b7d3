"""Connection strings carrying a password: ``scheme://user:pass@host`` URLs (databases, queues, caches and
any other scheme, the last reported as ``secret.url_credentials``), JDBC ``password=`` parameters, and
ADO/ODBC ``Server=...;Password=...`` strings. The span is the password alone, so a redacted URL still says
where it pointed."""

from __future__ import annotations

from typing import Any

from warded.scan.scanners._re2text import Prepared
from warded.scan.scanners.secrets._base import Detector, Hit, Tier, Variant
from warded.scan.scanners.secrets._values import password_value_ok

_DB_SCHEMES = frozenset(
    {
        "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss", "amqp",
        "amqps", "mssql", "sqlserver", "oracle", "clickhouse", "cockroachdb", "couchdb", "neo4j", "neo4j+s",
        "bolt", "nats", "kafka", "snowflake", "cassandra", "memcached", "elasticsearch", "influxdb",
        "postgresql+psycopg2", "postgresql+asyncpg", "mysql+pymysql", "db2", "sqlite", "ldap", "ldaps",
    }
)  # fmt: skip

#: A password in a URL whose scheme is not a database's (``https://user:pass@host``).
URL_CREDENTIALS = Variant("secret.url_credentials", 0.85, "password in a URL")


def _url_credentials(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    scheme = m.group(1).decode("utf-8", "replace").lower()
    start, end = p.span(m, 3)
    password = p.text[start:end]
    if not password_value_ok(password):
        return None
    if scheme in _DB_SCHEMES or scheme.startswith("jdbc"):
        return detector.hit(start, end, detail={"scheme": scheme})
    return detector.variant_hit(URL_CREDENTIALS, start, end, {"scheme": scheme[:32]})


def _password(detector: Detector, p: Prepared, m: Any) -> Hit | None:
    start, end = p.span(m, 1)
    value = p.text[start:end].rstrip()
    end = start + len(value)
    if not password_value_ok(value):
        return None
    return detector.hit(start, end)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        id="url_credentials",
        rule="secret.connection_string",
        pattern=r"(?i)\b([a-z][a-z0-9+.\-]{1,30})://([^\s:/?#@\"'<>\[\]]*):([^\s:/?#@\"'<>]+)@[^\s/?#@\"'<>]",
        score=0.9,
        message="password in a connection URL",
        tier=Tier.CONNECTION,
        validate=_url_credentials,
        variants=(URL_CREDENTIALS,),
    ),
    Detector(
        id="jdbc_password",
        rule="secret.connection_string",
        pattern=r"(?i)\bjdbc:[a-z0-9]+:[^\s\"'<>]*?[;?&:](?:password|pwd)=([^;&\s\"'<>]+)",
        score=0.9,
        message="password in a JDBC URL",
        tier=Tier.CONNECTION,
        validate=_password,
    ),
    Detector(
        id="odbc_password",
        rule="secret.connection_string",
        pattern=(
            r"(?i)\b(?:server|data source|host|hostname|addr|address|dsn|driver|uid|user id|username|"
            r"initial catalog|database)\s*=[^;\r\n]*;[^\r\n\"]*?\b(?:password|pwd)\s*=\s*([^;\r\n\"']+)"
        ),
        score=0.85,
        message="password in a connection string",
        tier=Tier.CONNECTION,
        validate=_password,
    ),
    Detector(
        id="odbc_password_first",
        rule="secret.connection_string",
        pattern=(
            r"(?i)(?:^|[;\s\"'])(?:password|pwd)\s*=\s*([^;\r\n\"']+);[^\r\n\"]*?"
            r"\b(?:server|data source|host|hostname|dsn|driver|uid|user id|username|initial catalog|database)\s*="
        ),
        score=0.85,
        message="password in a connection string",
        tier=Tier.CONNECTION,
        validate=_password,
    ),
)
