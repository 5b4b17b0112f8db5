-- Run once by the postgres image when its volume is first created (docker-compose.yml mounts it into
-- /docker-entrypoint-initdb.d), as the superuser POSTGRES_USER, in the database POSTGRES_DB (kamreview).
-- The passwords come from the container's environment (psql's \getenv; set in .env, never written here):
--   kamreview_app  the app's least-privilege role (KAMREVIEW_DATABASE_URL); migration 0006 grants it what the app
--                  needs, and refuses a role with more than LOGIN.
--   temporal       the Temporal server's role; it creates and owns the databases temporal and temporal_visibility
--                  (the temporal-schema service), so it needs CREATEDB and nothing else.
-- An older volume (made before this file existed, or by the compose file with temporalio/auto-setup): run these
-- statements yourself, e.g. `docker compose exec postgres psql -U kamreview -d kamreview`, with the passwords typed in.
\set ON_ERROR_STOP on
\getenv app_password APP_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD
-- An unset variable would otherwise be sent as the literal text :'app_password' and become the password.
SELECT :{?app_password} AND :{?temporal_password} AS passwords_given \gset
\if :passwords_given
\else
DO $$ BEGIN RAISE EXCEPTION 'APP_DB_PASSWORD and TEMPORAL_DB_PASSWORD must be set in the postgres container (.env)'; END $$;
\endif
CREATE ROLE kamreview_app LOGIN PASSWORD :'app_password';
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
