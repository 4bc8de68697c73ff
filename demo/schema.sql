-- The demo application: a shop whose users have orders, messages and invoices. Lethe's catalog for it is
-- lethe.config.yaml. Idempotent: `make demo` runs it on every start.
CREATE SCHEMA IF NOT EXISTS shop;

CREATE TABLE IF NOT EXISTS shop.users (
  id         bigint PRIMARY KEY,
  email      text NOT NULL,
  name       text NOT NULL,
  erased_at  timestamptz
);

CREATE TABLE IF NOT EXISTS shop.orders (
  id       bigint PRIMARY KEY,
  user_id  bigint NOT NULL REFERENCES shop.users (id) ON DELETE CASCADE,
  total    numeric(10, 2) NOT NULL
);
-- Without an index, ON DELETE CASCADE scans the child table once per deleted user.
CREATE INDEX IF NOT EXISTS orders_user_id ON shop.orders (user_id);

CREATE TABLE IF NOT EXISTS shop.messages (
  id         bigint PRIMARY KEY,
  sender_id  bigint NOT NULL REFERENCES shop.users (id) ON DELETE CASCADE,
  body       text NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_sender_id ON shop.messages (sender_id);

-- Invoices are kept for tax law when a user asks to be erased (lethe.config.yaml: onRequest keeps
-- them): the reference has no ON DELETE action, so a request anonymizes the user, never deletes it.
CREATE TABLE IF NOT EXISTS shop.invoices (
  id         bigint PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES shop.users (id),
  amount     numeric(10, 2) NOT NULL,
  issued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS invoices_user_id ON shop.invoices (user_id);

-- A delete of an order or message must carry user_id / sender_id (not only the primary key) so
-- Lethe can attach it to the erased user. `lethe doctor` says so when this is missing.
ALTER TABLE shop.orders REPLICA IDENTITY FULL;
ALTER TABLE shop.messages REPLICA IDENTITY FULL;
