-- Vigil quickstart: a small shop database with personal data worth masking.
--
-- Run as a superuser against an empty database named `shop`:
--   psql -v app_password='...' -d shop -f seed.sql
-- It creates the login role `app` (the account Vigil logs in with; agents never see its
-- password) owning three tables. All people, emails, SSNs and card numbers are fake; the
-- card numbers pass the Luhn check (the test numbers card networks publish, and made-up ones)
-- so Vigil's credit_card detector finds them.

\set ON_ERROR_STOP on
\if :{?app_password}
\else
\set app_password 'app-change-me'
\endif

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN
    CREATE ROLE app LOGIN;
  END IF;
END $$;
ALTER ROLE app LOGIN PASSWORD :'app_password';
GRANT ALL ON SCHEMA public TO app;

SET ROLE app;

DROP TABLE IF EXISTS orders, products, customers;

CREATE TABLE customers (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    ssn         text NOT NULL,
    card_number text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    sku         text NOT NULL UNIQUE,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    in_stock    integer NOT NULL DEFAULT 0
);

CREATE TABLE orders (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    product_id  integer NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    total       numeric(10, 2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO customers (name, email, ssn, card_number, created_at) VALUES
    ('Ada Lovelace', 'ada.lovelace@example.com', '250-98-9899', '4111111111111111', '2024-01-25 16:19:00+00'),
    ('Grace Hopper', 'grace.hopper@example.com', '193-99-5278', '5555555555554444', '2024-09-12 10:22:00+00'),
    ('Alan Turing', 'alan.turing@example.com', '328-78-9873', '378282246310005', '2024-09-11 18:14:00+00'),
    ('Linus Torvalds', 'linus.torvalds@example.com', '299-40-7564', '4012888888881881', '2024-12-26 11:12:00+00'),
    ('Margaret Hamilton', 'margaret.hamilton@example.com', '630-73-6825', '6011111111111117', '2024-12-01 08:50:00+00'),
    ('Dennis Ritchie', 'dennis.ritchie@example.com', '386-70-5246', '5526018159083019', '2024-04-23 17:22:00+00'),
    ('Barbara Liskov', 'barbara.liskov@example.com', '557-54-6974', '4613186091390995', '2024-02-08 09:14:00+00'),
    ('Ken Thompson', 'ken.thompson@example.com', '581-35-6533', '4030824628194820', '2024-04-16 17:57:00+00'),
    ('Frances Allen', 'frances.allen@example.com', '101-71-6636', '5199351819093789', '2024-11-03 18:07:00+00'),
    ('Edsger Dijkstra', 'edsger.dijkstra@example.com', '497-35-8832', '4579754323194873', '2024-03-14 20:40:00+00'),
    ('Radia Perlman', 'radia.perlman@example.com', '440-21-7485', '5574911862527606', '2024-08-13 19:05:00+00'),
    ('Donald Knuth', 'donald.knuth@example.com', '262-31-3081', '5189555979711475', '2024-01-05 17:57:00+00'),
    ('Sophie Wilson', 'sophie.wilson@example.com', '576-93-3394', '5104974650752918', '2024-10-27 17:30:00+00'),
    ('Tim Berners-Lee', 'tim.bernerslee@example.com', '458-29-9989', '4034236671276840', '2024-09-05 08:00:00+00'),
    ('Karen Sparck Jones', 'karen.sparckjones@example.com', '205-77-3281', '5268465632122330', '2024-07-28 11:52:00+00'),
    ('Leslie Lamport', 'leslie.lamport@example.com', '316-13-5126', '4792440268599521', '2024-04-10 16:15:00+00'),
    ('Hedy Lamarr', 'hedy.lamarr@example.com', '433-43-9918', '4786666176031375', '2024-07-27 10:03:00+00'),
    ('John Backus', 'john.backus@example.com', '462-68-9466', '5215901092815900', '2024-07-27 16:08:00+00'),
    ('Annie Easley', 'annie.easley@example.com', '644-29-9577', '5139624595711771', '2024-09-01 15:49:00+00'),
    ('Guido van Rossum', 'guido.vanrossum@example.com', '287-87-1064', '4741215472803857', '2024-03-06 10:30:00+00');

INSERT INTO products (name, sku, price, in_stock) VALUES
    ('Mechanical keyboard', 'KB-001', 89.00, 34),
    ('Wireless mouse', 'MS-002', 29.50, 86),
    ('27in monitor', 'MN-003', 249.99, 12),
    ('USB-C dock', 'DK-004', 129.00, 88),
    ('Noise-cancelling headphones', 'HP-005', 199.00, 27),
    ('Laptop stand', 'LS-006', 39.90, 86),
    ('Webcam 1080p', 'WC-007', 59.00, 62),
    ('Desk lamp', 'DL-008', 24.99, 37),
    ('Ergonomic chair', 'CH-009', 349.00, 90),
    ('Cable organiser', 'CO-010', 9.99, 66);

INSERT INTO orders (customer_id, product_id, quantity, total, created_at) VALUES
    (20, 2, 1, 29.50, '2025-03-22 16:33:00+00'),
    (18, 8, 1, 24.99, '2025-05-02 11:12:00+00'),
    (9, 1, 1, 89.00, '2025-05-15 16:01:00+00'),
    (3, 8, 3, 74.97, '2025-05-17 17:32:00+00'),
    (7, 5, 4, 796.00, '2025-05-18 20:30:00+00'),
    (17, 4, 3, 387.00, '2025-05-07 21:28:00+00'),
    (5, 7, 1, 59.00, '2025-04-15 13:04:00+00'),
    (8, 7, 1, 59.00, '2025-02-22 12:50:00+00'),
    (4, 3, 3, 749.97, '2025-02-09 22:08:00+00'),
    (15, 4, 1, 129.00, '2025-04-16 10:42:00+00'),
    (8, 3, 4, 999.96, '2025-05-13 13:26:00+00'),
    (7, 6, 3, 119.70, '2025-01-24 13:01:00+00'),
    (11, 9, 4, 1396.00, '2025-04-23 08:24:00+00'),
    (11, 9, 3, 1047.00, '2025-05-03 09:58:00+00'),
    (8, 2, 1, 29.50, '2025-03-09 08:57:00+00'),
    (6, 5, 2, 398.00, '2025-04-28 22:43:00+00'),
    (9, 7, 2, 118.00, '2025-05-17 17:31:00+00'),
    (11, 2, 3, 88.50, '2025-01-26 19:11:00+00'),
    (14, 2, 3, 88.50, '2025-01-21 09:51:00+00'),
    (9, 2, 2, 59.00, '2025-01-09 21:07:00+00'),
    (15, 1, 3, 267.00, '2025-05-14 22:58:00+00'),
    (9, 10, 2, 19.98, '2025-01-17 19:15:00+00'),
    (4, 3, 3, 749.97, '2025-01-06 11:59:00+00'),
    (10, 5, 2, 398.00, '2025-03-15 16:43:00+00'),
    (6, 5, 3, 597.00, '2025-01-09 08:00:00+00'),
    (1, 9, 2, 698.00, '2025-05-16 11:59:00+00'),
    (15, 2, 4, 118.00, '2025-06-16 16:53:00+00'),
    (13, 9, 3, 1047.00, '2025-06-07 11:21:00+00'),
    (7, 3, 4, 999.96, '2025-03-02 21:08:00+00'),
    (1, 2, 3, 88.50, '2025-04-06 08:05:00+00'),
    (13, 9, 3, 1047.00, '2025-05-08 19:18:00+00'),
    (2, 8, 2, 49.98, '2025-02-09 15:00:00+00'),
    (9, 6, 3, 119.70, '2025-05-11 11:02:00+00'),
    (10, 4, 3, 387.00, '2025-02-01 13:24:00+00'),
    (3, 8, 3, 74.97, '2025-05-21 11:15:00+00'),
    (17, 1, 1, 89.00, '2025-03-27 09:09:00+00'),
    (13, 10, 1, 9.99, '2025-04-01 12:19:00+00'),
    (8, 2, 2, 59.00, '2025-06-23 20:56:00+00'),
    (20, 7, 3, 177.00, '2025-06-16 10:18:00+00'),
    (20, 3, 1, 249.99, '2025-06-17 18:27:00+00'),
    (17, 3, 1, 249.99, '2025-06-19 20:57:00+00'),
    (8, 2, 1, 29.50, '2025-01-05 18:23:00+00'),
    (4, 7, 4, 236.00, '2025-05-02 18:01:00+00'),
    (18, 4, 4, 516.00, '2025-03-01 15:51:00+00'),
    (3, 9, 1, 349.00, '2025-06-17 09:47:00+00'),
    (16, 5, 1, 199.00, '2025-03-08 19:48:00+00'),
    (7, 4, 4, 516.00, '2025-04-28 14:04:00+00'),
    (16, 5, 1, 199.00, '2025-05-21 18:12:00+00'),
    (3, 10, 2, 19.98, '2025-03-09 18:47:00+00'),
    (10, 10, 2, 19.98, '2025-01-16 08:31:00+00');

RESET ROLE;
