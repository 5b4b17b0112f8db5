"""Activities: thin, idempotent I/O against PostgreSQL through one connection pool per worker."""
