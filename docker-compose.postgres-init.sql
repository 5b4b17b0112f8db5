-- Run once by the postgres image when its volume is first created (docker-compose.yml mounts it).
-- The app's least-privilege role with the password of KAMREVIEW_DATABASE_URL; migration 0006 grants it what the
-- app needs. An older volume: run this ALTER yourself (docker compose exec postgres psql -U kamreview).
CREATE ROLE kamreview_app LOGIN;
ALTER ROLE kamreview_app PASSWORD 'kamreview_app';
