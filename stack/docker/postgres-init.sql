-- The compose stack's Postgres: Lethe's database (created by POSTGRES_DB) and one for the registry.
CREATE DATABASE schema_registry;
