-- Vigil quickstart, MariaDB side: the shop's customers (the same fake people as seed.sql,
-- whose emails, SSNs and Luhn-valid card numbers the quickstart policy masks) in a database
-- `shop`, and the login `app` that owns it (the account Vigil logs in with; agents never see
-- its password).
--
-- Run it as a MariaDB administrator (root through the server's socket), the password first:
--   { echo "SET @app_password = '...';"; cat seed-mariadb.sql; } | mariadb -u root
-- It can run again: the user's password is reset and the table recreated.

CREATE DATABASE IF NOT EXISTS shop;
SET @app_password = COALESCE(@app_password, 'app-change-me');
EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS app@''%'' IDENTIFIED BY ', QUOTE(@app_password));
EXECUTE IMMEDIATE CONCAT('ALTER USER app@''%'' IDENTIFIED BY ', QUOTE(@app_password));
GRANT ALL ON shop.* TO app@'%';

USE shop;
DROP TABLE IF EXISTS customers;

CREATE TABLE customers (
    id          INT AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    email       VARCHAR(255) NOT NULL UNIQUE,
    ssn         CHAR(11) NOT NULL,
    card_number VARCHAR(19) NOT NULL,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO customers (name, email, ssn, card_number, created_at) VALUES
    ('Ada Lovelace', 'ada.lovelace@example.com', '250-98-9899', '4111111111111111', '2024-01-25 16:19:00'),
    ('Grace Hopper', 'grace.hopper@example.com', '193-99-5278', '5555555555554444', '2024-09-12 10:22:00'),
    ('Alan Turing', 'alan.turing@example.com', '328-78-9873', '378282246310005', '2024-09-11 18:14:00'),
    ('Linus Torvalds', 'linus.torvalds@example.com', '299-40-7564', '4012888888881881', '2024-12-26 11:12:00'),
    ('Margaret Hamilton', 'margaret.hamilton@example.com', '630-73-6825', '6011111111111117', '2024-12-01 08:50:00'),
    ('Dennis Ritchie', 'dennis.ritchie@example.com', '386-70-5246', '5526018159083019', '2024-04-23 17:22:00'),
    ('Barbara Liskov', 'barbara.liskov@example.com', '557-54-6974', '4613186091390995', '2024-02-08 09:14:00'),
    ('Ken Thompson', 'ken.thompson@example.com', '581-35-6533', '4030824628194820', '2024-04-16 17:57:00'),
    ('Frances Allen', 'frances.allen@example.com', '101-71-6636', '5199351819093789', '2024-11-03 18:07:00'),
    ('Edsger Dijkstra', 'edsger.dijkstra@example.com', '497-35-8832', '4579754323194873', '2024-03-14 20:40:00'),
    ('Radia Perlman', 'radia.perlman@example.com', '440-21-7485', '5574911862527606', '2024-08-13 19:05:00'),
    ('Donald Knuth', 'donald.knuth@example.com', '262-31-3081', '5189555979711475', '2024-01-05 17:57:00'),
    ('Sophie Wilson', 'sophie.wilson@example.com', '576-93-3394', '5104974650752918', '2024-10-27 17:30:00'),
    ('Tim Berners-Lee', 'tim.bernerslee@example.com', '458-29-9989', '4034236671276840', '2024-09-05 08:00:00'),
    ('Karen Sparck Jones', 'karen.sparckjones@example.com', '205-77-3281', '5268465632122330', '2024-07-28 11:52:00'),
    ('Leslie Lamport', 'leslie.lamport@example.com', '316-13-5126', '4792440268599521', '2024-04-10 16:15:00'),
    ('Hedy Lamarr', 'hedy.lamarr@example.com', '433-43-9918', '4786666176031375', '2024-07-27 10:03:00'),
    ('John Backus', 'john.backus@example.com', '462-68-9466', '5215901092815900', '2024-07-27 16:08:00'),
    ('Annie Easley', 'annie.easley@example.com', '644-29-9577', '5139624595711771', '2024-09-01 15:49:00'),
    ('Guido van Rossum', 'guido.vanrossum@example.com', '287-87-1064', '4741215472803857', '2024-03-06 10:30:00');
