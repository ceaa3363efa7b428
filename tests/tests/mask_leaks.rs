//! The masking leak corpus (invariant 3: nothing masked reaches the client by any route).
//!
//! A private cluster holds `customers(id, name, email, ssn, card_number, notes)` with
//! realistic secrets: emails, SSNs in issued ranges, Luhn-valid card numbers, and notes that
//! carry a second email and card (found only by content detectors). Around it: a harmless
//! `products` table, a `staff` table whose `ssn` only the `*.ssn` glob covers, views (one over
//! another), a materialized view, and volatile user functions that return secrets by a path
//! lineage cannot see.
//!
//! The analyst's policy allows `sql.read_only` (and calls of the `leak_*` functions), with
//! `[[policy.mask]]` columns `customers.email`, `*.ssn`, `customers.card_number`, detectors
//! `email`, `credit_card`, `ssn`. Every corpus query is written to extract a secret; for every
//! one, everything the client received (psql's stdout and stderr; for psycopg the repr of all
//! rows, COPY data, error fields and notices, in text and binary format) must hold no secret
//! value and no simple transform of one (case changes, reversed, hex, base64 at any
//! alignment, digits-only SSNs and card numbers).
//!
//! psql runs the whole corpus in one session (`\echo`/`\warn` markers split the output per
//! query); psycopg runs it through `tests/py/mask_corpus.py`, which dumps all it received as
//! JSON.

use std::fmt::Write as _;

use base64::Engine as _;
use vigil_e2e::{Gateway, PgCluster, config_with, psql_through_script, python, random_hex};

// ---- the secrets ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Email,
    Ssn,
    Card,
}

/// A secret stored in the cluster. `column` secrets sit in masked columns, so every transform
/// of them is checked; `note` secrets sit in free text that only content detectors protect,
/// so only their plain forms are checked.
struct Secret {
    what: &'static str,
    value: &'static str,
    kind: Kind,
    column: bool,
}

const fn col(what: &'static str, value: &'static str, kind: Kind) -> Secret {
    Secret {
        what,
        value,
        kind,
        column: true,
    }
}

const fn note(what: &'static str, value: &'static str, kind: Kind) -> Secret {
    Secret {
        what,
        value,
        kind,
        column: false,
    }
}

/// (id, name, email, ssn, card_number, notes)
const CUSTOMERS: &[(i32, &str, &str, &str, &str, &str)] = &[
    (
        1,
        "Ada Lovelace",
        "ada.lovelace@example.com",
        "123-45-6789",
        "4111111111111111",
        "Call back at ada.backup@analytical-engines.com about card 5555555555554444",
    ),
    (
        2,
        "Grace Hopper",
        "grace.hopper@navy-mail.org",
        "219-09-9999",
        "5105105105105100",
        "Refund to 6011111111111117, receipt to g.hopper@cobol-works.net",
    ),
    (
        3,
        "Alan Turing",
        "alan.turing@bletchley.co.uk",
        "536-22-8714",
        "378282246310005",
        "VIP. Statements to turing.stmt@enigma-mail.com; card on file 4012888888881881",
    ),
    (
        4,
        "Katherine Johnson",
        "kj@orbit-calc.com",
        "401-72-3390",
        "6011000990139424",
        "no secrets here",
    ),
    (
        5,
        "Edsger Dijkstra",
        "e.w.dijkstra@shortest-path.nl",
        "772-18-4406",
        "3530111333300000",
        "prefers letters",
    ),
];

/// (id, name, ssn): covered only by the `*.ssn` glob.
const STAFF: &[(i32, &str, &str)] = &[(1, "Linus", "612-33-1298"), (2, "Margaret", "455-67-2201")];

fn secrets() -> Vec<Secret> {
    let mut all = Vec::new();
    for &(_, _, email, ssn, card, _) in CUSTOMERS {
        all.push(col("customers.email", email, Kind::Email));
        all.push(col("customers.ssn", ssn, Kind::Ssn));
        all.push(col("customers.card_number", card, Kind::Card));
    }
    for &(_, _, ssn) in STAFF {
        all.push(col("staff.ssn", ssn, Kind::Ssn));
    }
    all.push(note(
        "email in customers.notes",
        "ada.backup@analytical-engines.com",
        Kind::Email,
    ));
    all.push(note(
        "card in customers.notes",
        "5555555555554444",
        Kind::Card,
    ));
    all.push(note(
        "card in customers.notes",
        "6011111111111117",
        Kind::Card,
    ));
    all.push(note(
        "email in customers.notes",
        "g.hopper@cobol-works.net",
        Kind::Email,
    ));
    all.push(note(
        "email in customers.notes",
        "turing.stmt@enigma-mail.com",
        Kind::Email,
    ));
    all.push(note(
        "card in customers.notes",
        "4012888888881881",
        Kind::Card,
    ));
    all
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Base64 of `value` as it appears inside a longer encoded text, at each of the three byte
/// alignments: the part of the encoding that does not depend on the neighbouring bytes.
fn base64_windows(value: &[u8]) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    (0..3)
        .filter_map(|shift| {
            let mut padded = vec![0u8; shift];
            padded.extend_from_slice(value);
            let enc = engine.encode(&padded);
            let start = if shift == 0 { 0 } else { 4 };
            let end = enc.len().saturating_sub(4);
            (end > start + 6).then(|| enc[start..end].to_string())
        })
        .collect()
}

/// One form of a secret to look for: `(description, needle, case_insensitive)`.
type Needle = (String, String, bool);

fn needles(secrets: &[Secret]) -> Vec<Needle> {
    let mut out: Vec<Needle> = Vec::new();
    for s in secrets {
        let label = |form: &str| format!("{} {:?} as {form}", s.what, s.value);
        // Plain, upper and lower case.
        out.push((label("itself (any case)"), s.value.to_string(), true));
        let digits: String = s.value.chars().filter(char::is_ascii_digit).collect();
        if matches!(s.kind, Kind::Ssn | Kind::Card) && digits != s.value {
            out.push((label("digits only"), digits.clone(), false));
        }
        if !s.column {
            continue;
        }
        let reversed: String = s.value.chars().rev().collect();
        out.push((label("reversed (any case)"), reversed, true));
        out.push((label("hex"), hex(s.value.as_bytes()), true));
        if s.kind == Kind::Email {
            out.push((
                label("hex of upper case"),
                hex(s.value.to_uppercase().as_bytes()),
                true,
            ));
        }
        let mut b64_sources = vec![
            s.value.to_string(),
            s.value.to_uppercase(),
            s.value.to_lowercase(),
        ];
        if matches!(s.kind, Kind::Ssn | Kind::Card) {
            out.push((
                label("digits only, reversed"),
                digits.chars().rev().collect(),
                false,
            ));
            out.push((label("hex of digits"), hex(digits.as_bytes()), true));
            b64_sources.push(digits);
        }
        b64_sources.sort();
        b64_sources.dedup();
        for src in b64_sources {
            for w in base64_windows(src.as_bytes()) {
                out.push((label(&format!("base64 of {src:?}")), w, false));
            }
        }
    }
    out
}

/// Every needle found in `text` (base64 also across line breaks, as `encode` wraps at 76).
fn leaks_in(text: &str, needles: &[Needle]) -> Vec<String> {
    let lower = text.to_lowercase();
    let unwrapped: String = text.replace("\\n", "").replace(['\n', '\r'], "");
    let mut found = Vec::new();
    for (what, needle, ci) in needles {
        let hit = if *ci {
            lower.contains(&needle.to_lowercase())
        } else {
            text.contains(needle.as_str()) || unwrapped.contains(needle.as_str())
        };
        if hit {
            found.push(format!("{what} (found {needle:?})"));
        }
    }
    found
}

// ---- the cluster and the gateway -----------------------------------------------------------

fn schema_sql() -> String {
    let mut sql = String::from(
        "SET ROLE app;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
  ssn text NOT NULL, card_number text NOT NULL, notes text);
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL,
  sku text NOT NULL);
CREATE TABLE staff (id int PRIMARY KEY, name text NOT NULL, ssn text NOT NULL);
CREATE TABLE scratch (v text);
",
    );
    for (id, name, email, ssn, card, notes) in CUSTOMERS {
        let _ = writeln!(
            sql,
            "INSERT INTO customers VALUES ({id}, '{name}', '{email}', '{ssn}', '{card}', '{notes}');"
        );
    }
    for (id, name, ssn) in STAFF {
        let _ = writeln!(sql, "INSERT INTO staff VALUES ({id}, '{name}', '{ssn}');");
    }
    sql.push_str(
        "INSERT INTO products VALUES (1, 'Widget', 9.99, 'W-100'), (2, 'Gadget', 24.50, 'G-200'),
  (3, 'Doohickey', 3.25, 'D-300'), (4, 'Sprocket', 120.00, 'S-400'), (5, 'Gizmo', 45.00, 'Z-500');
CREATE VIEW customer_contacts AS
  SELECT id, name, email AS contact, ssn AS tax_id, card_number AS pan FROM customers;
CREATE VIEW vip AS SELECT * FROM customer_contacts WHERE id < 3;
CREATE MATERIALIZED VIEW mv_emails AS SELECT id, email AS m FROM customers;
CREATE FUNCTION leak_email(i int) RETURNS text LANGUAGE sql VOLATILE
  AS $$ SELECT email FROM customers WHERE id = i $$;
CREATE FUNCTION leak_card(i int) RETURNS text LANGUAGE plpgsql VOLATILE
  AS $$ BEGIN RETURN (SELECT card_number FROM customers WHERE id = i); END $$;
CREATE FUNCTION leak_rows() RETURNS SETOF customers LANGUAGE sql VOLATILE
  AS $$ SELECT * FROM customers $$;
ANALYZE customers;
ANALYZE staff;
",
    );
    sql
}

const MASK: &str = r#"
  [[policy.mask]]
  columns = ["customers.email", "*.ssn", "customers.card_number"]
  detectors = ["email", "credit_card", "ssn"]
  style = "STYLE"
"#;

/// The analysts' policy for one masking style (each style its own group).
fn analyst_policy(group: &str, style: &str) -> String {
    format!(
        r#"
[[policy]]
name = "{group}"
groups = ["{group}"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "leak-functions"
  effect = "allow"
  when = 'sql.kind == "select" && ("leak_email" in sql.functions || "public.leak_email" in sql.functions || "leak_card" in sql.functions || "leak_rows" in sql.functions)'
{mask}"#,
        mask = MASK.replace("STYLE", style)
    )
}

struct Env {
    gw: Gateway,
    _pg: PgCluster,
}

impl Env {
    fn start() -> Env {
        let pg = PgCluster::start();
        let password = random_hex(12);
        pg.create_role("app", &password);
        pg.create_database("shop", "app");
        pg.psql("shop", &schema_sql());
        let mut config = format!(
            r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "{addr}"
database = "shop"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["*"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
{mask}"#,
            addr = pg.address(),
            mask = MASK.replace("STYLE", "redact")
        );
        for style in ["redact", "partial", "hash", "null"] {
            config.push_str(&analyst_policy(&format!("analysts_{style}"), style));
        }
        let gw = Gateway::start(&config_with(&config), &[("SHOP_PG_PASSWORD", &password)]);
        Env { gw, _pg: pg }
    }

    fn analyst(&self, style: &str) -> String {
        self.gw.token(
            &format!("analyst-{style}"),
            &[&format!("analysts_{style}")],
            "agent",
        )
    }

    fn admin(&self) -> String {
        self.gw.token("admin", &["admins"], "human")
    }
}

// ---- the corpus ----------------------------------------------------------------------------

/// What a corpus query must do besides leaking nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Runs and returns output (a refusal would make the leak check vacuous).
    Rows,
    /// A server error is the point (its message may echo the value).
    Error,
    /// Runs without an error and raises a notice (a DO block).
    Notice,
    /// Returns rows, or policy refuses it (42501): a refusal is safe, but says nothing of
    /// masking, so the admin corpus repeats these statements.
    RowsOrDenied,
}
use Expect::{Error, Notice, Rows, RowsOrDenied};

/// The analyst's corpus. Several statements in one entry are separated by ";\n".
const CORPUS: &[(&str, Expect)] = &[
    // plain reads, aliases, casts
    ("SELECT * FROM customers ORDER BY id", Rows),
    (
        "SELECT id, email, ssn, card_number FROM customers ORDER BY id",
        Rows,
    ),
    (
        "SELECT email AS e, ssn AS \"not_secret\", card_number AS x FROM customers",
        Rows,
    ),
    ("TABLE customers", Rows),
    ("SELECT * FROM ONLY public.customers", Rows),
    (
        "SELECT x.c3, x.c4, x.c5 FROM customers AS x(c1, c2, c3, c4, c5)",
        Rows,
    ),
    ("SELECT email::bytea FROM customers", Rows),
    (
        "SELECT ssn::text, card_number::varchar(30), ssn::char(11) FROM customers",
        Rows,
    ),
    (
        "SELECT card_number::numeric, replace(ssn, '-', '')::bigint FROM customers",
        Rows,
    ),
    ("SELECT email::text::bytea::text FROM customers", Rows),
    ("SELECT email COLLATE \"C\" FROM customers", Rows),
    // string functions and concatenation
    (
        "SELECT 'mail: ' || email || ' ssn: ' || ssn || ' card: ' || card_number FROM customers",
        Rows,
    ),
    (
        "SELECT lower(email), upper(email), pg_catalog.upper(ssn) FROM customers",
        Rows,
    ),
    (
        "SELECT reverse(email), reverse(ssn), reverse(card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT substr(email, 1, 100), substring(card_number from 1), substr(ssn, 1) FROM customers",
        Rows,
    ),
    (
        "SELECT left(email, 200), right(card_number, 100), left(ssn, -0) FROM customers",
        Rows,
    ),
    (
        "SELECT split_part(email, '@', 1) || '@' || split_part(email, '@', 2) FROM customers",
        Rows,
    ),
    (
        "SELECT translate(ssn, '-', ''), translate(card_number, '0123456789', '0123456789') FROM customers",
        Rows,
    ),
    (
        "SELECT regexp_replace(ssn, '-', '', 'g'), regexp_replace(email, '^(.*)$', '\\1') FROM customers",
        Rows,
    ),
    (
        "SELECT encode(convert_to(email, 'UTF8'), 'base64'), encode(convert_to(ssn, 'UTF8'), 'base64') FROM customers",
        Rows,
    ),
    (
        "SELECT encode(convert_to(card_number, 'UTF8'), 'hex'), encode(email::bytea, 'hex') FROM customers",
        Rows,
    ),
    (
        "SELECT encode(convert_to(translate(card_number, ' ', ''), 'UTF8'), 'base64') FROM customers",
        Rows,
    ),
    (
        "SELECT md5(email), sha256(convert_to(ssn, 'UTF8')), hashtext(card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT format('%s / %s / %s', email, ssn, card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT concat_ws(' | ', name, email, ssn, card_number), concat(email, ssn) FROM customers",
        Rows,
    ),
    (
        "SELECT quote_literal(email), quote_ident(ssn), quote_nullable(card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT lpad(ssn, 11), rpad(card_number, 16), repeat(email, 1), btrim(ssn), ltrim(card_number, 'x') FROM customers",
        Rows,
    ),
    (
        "SELECT overlay(card_number placing '' from 1 for 0), replace(email, '@', '@') FROM customers",
        Rows,
    ),
    (
        "SELECT convert_from(convert_to(email, 'UTF8'), 'UTF8'), decode(encode(email::bytea, 'escape'), 'escape') FROM customers",
        Rows,
    ),
    (
        "SELECT to_char(card_number::numeric, 'FM9999999999999999') FROM customers",
        Rows,
    ),
    (
        "SELECT coalesce(NULL, email), nullif(ssn, 'x'), greatest(email, ''), least(card_number, 'z') FROM customers",
        Rows,
    ),
    (
        "SELECT CASE WHEN id > 0 THEN email ELSE 'x' END, CASE id WHEN 1 THEN ssn ELSE card_number END FROM customers",
        Rows,
    ),
    ("SELECT regexp_matches(email, '(.*)') FROM customers", Rows),
    ("SELECT ARRAY[email, ssn, card_number] FROM customers", Rows),
    // aggregates and window functions
    (
        "SELECT string_agg(email, ','), string_agg(ssn, ';' ORDER BY id) FROM customers",
        Rows,
    ),
    (
        "SELECT string_agg(card_number, '') FILTER (WHERE id < 4) FROM customers",
        Rows,
    ),
    (
        "SELECT array_agg(ssn ORDER BY id), array_agg(card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT max(email), min(ssn), max(card_number) FROM customers",
        Rows,
    ),
    ("SELECT email FROM customers GROUP BY email", Rows),
    (
        "SELECT DISTINCT ON (id) email FROM customers ORDER BY id",
        Rows,
    ),
    (
        "SELECT id, first_value(email) OVER (ORDER BY id), lag(ssn) OVER w, lead(card_number) OVER w FROM customers WINDOW w AS (ORDER BY id)",
        Rows,
    ),
    (
        "SELECT ssn FROM customers ORDER BY 1 LIMIT 2 OFFSET 1",
        Rows,
    ),
    // JSON and XML builders
    (
        "SELECT json_build_object('e', email, 's', ssn, 'c', card_number) FROM customers",
        Rows,
    ),
    (
        "SELECT jsonb_agg(card_number), json_agg(email), jsonb_agg(jsonb_build_array(ssn)) FROM customers",
        Rows,
    ),
    (
        "SELECT jsonb_build_array(email)->>0, to_json(ssn)#>>'{}' FROM customers",
        Rows,
    ),
    ("SELECT row_to_json(c) FROM customers c", Rows),
    ("SELECT to_jsonb(c.*) FROM customers c", Rows),
    (
        "SELECT row_to_json(c)->>'email', to_jsonb(c)->>'card_number' FROM customers c",
        Rows,
    ),
    (
        "SELECT jsonb_path_query(to_jsonb(c), '$.ssn') FROM customers c",
        Rows,
    ),
    ("SELECT jsonb_each_text(to_jsonb(c)) FROM customers c", Rows),
    (
        "SELECT * FROM json_each_text(json_build_object('k', (SELECT email FROM customers WHERE id = 1)))",
        Rows,
    ),
    (
        "SELECT xmlelement(name c, email), xmlelement(name s, xmlattributes(ssn AS v)) FROM customers",
        Rows,
    ),
    ("SELECT xmlforest(email, card_number) FROM customers", Rows),
    // whole-row references
    ("SELECT c FROM customers c", Rows),
    ("SELECT c::text FROM customers c", Rows),
    (
        "SELECT (c).email, (c.*).ssn, (customers.*).card_number FROM customers c, customers WHERE c.id = customers.id",
        Rows,
    ),
    (
        "SELECT ROW(c.*), row(email, ssn)::text FROM customers c",
        Rows,
    ),
    ("SELECT string_agg(c::text, E'\\n') FROM customers c", Rows),
    // subqueries, CTEs, set operations, LATERAL, VALUES
    (
        "SELECT id, (SELECT email FROM customers c2 WHERE c2.id = c1.id) FROM customers c1",
        Rows,
    ),
    (
        "SELECT (SELECT email), (SELECT c.ssn FROM (SELECT 1) AS one) FROM customers c",
        Rows,
    ),
    (
        "SELECT s.* FROM (SELECT ssn, card_number FROM customers) s",
        Rows,
    ),
    ("SELECT z FROM (SELECT email FROM customers) AS x(z)", Rows),
    ("SELECT * FROM (TABLE customers) t", Rows),
    (
        "SELECT sub.e FROM (SELECT email e FROM customers ORDER BY ssn) sub",
        Rows,
    ),
    (
        "SELECT (SELECT x FROM (VALUES (email)) v(x)) FROM customers",
        Rows,
    ),
    (
        "SELECT (SELECT array_agg(email) FROM customers)::text",
        Rows,
    ),
    (
        "SELECT unnest(ARRAY(SELECT card_number FROM customers))",
        Rows,
    ),
    (
        "VALUES ((SELECT email FROM customers ORDER BY id LIMIT 1))",
        Rows,
    ),
    (
        "WITH x AS (SELECT email AS m FROM customers) SELECT m FROM x",
        Rows,
    ),
    (
        "WITH a AS MATERIALIZED (SELECT * FROM customers) SELECT a FROM a",
        Rows,
    ),
    (
        "WITH RECURSIVE r(n, v) AS (SELECT 1, (SELECT email FROM customers WHERE id = 1) UNION ALL SELECT n + 1, v FROM r WHERE n < 3) SELECT v FROM r",
        Rows,
    ),
    (
        "WITH RECURSIVE r AS (SELECT id, ssn FROM customers WHERE id = 1 UNION ALL SELECT c.id, c.ssn FROM customers c JOIN r ON c.id = r.id + 1) SELECT * FROM r",
        Rows,
    ),
    (
        "SELECT name FROM products UNION ALL SELECT email FROM customers",
        Rows,
    ),
    (
        "SELECT email FROM customers UNION SELECT name FROM products",
        Rows,
    ),
    (
        "SELECT name, sku FROM products UNION ALL SELECT name, card_number FROM customers",
        Rows,
    ),
    (
        "SELECT ssn FROM customers INTERSECT SELECT ssn FROM customers",
        Rows,
    ),
    (
        "SELECT email FROM customers EXCEPT SELECT name FROM products",
        Rows,
    ),
    (
        "SELECT p.name, l.e FROM products p, LATERAL (SELECT email AS e FROM customers c WHERE c.id = p.id) l",
        Rows,
    ),
    (
        "SELECT c.id, l.* FROM customers c CROSS JOIN LATERAL (SELECT c.ssn AS s, c.card_number AS k) l",
        Rows,
    ),
    (
        "SELECT e FROM customers c, LATERAL unnest(ARRAY[c.email, c.ssn, c.card_number]) AS e",
        Rows,
    ),
    (
        "SELECT * FROM (VALUES (1)) v(n), LATERAL (SELECT email FROM customers) x",
        Rows,
    ),
    // the *.ssn glob, joins
    ("SELECT name, ssn FROM staff", Rows),
    (
        "SELECT s.ssn || '/' || c.email FROM staff s JOIN customers c USING (id)",
        Rows,
    ),
    (
        "SELECT * FROM staff NATURAL JOIN (SELECT id, card_number FROM customers) k",
        Rows,
    ),
    // views and materialized views
    ("SELECT * FROM customer_contacts", Rows),
    ("SELECT contact, tax_id, pan FROM vip", Rows),
    (
        "SELECT upper(contact), reverse(pan) FROM customer_contacts",
        Rows,
    ),
    ("SELECT v FROM customer_contacts v", Rows),
    ("SELECT * FROM mv_emails", Rows),
    // paths lineage cannot see: user functions (content detectors, or whole-column masking)
    ("SELECT leak_email(id) FROM customers", Rows),
    ("SELECT leak_card(id) FROM products", Rows),
    (
        "SELECT upper(public.leak_email(1)), encode(convert_to(leak_email(2), 'UTF8'), 'base64')",
        Rows,
    ),
    ("SELECT * FROM leak_rows()", Rows),
    // functions that run a query given as text, sampling, planner statistics
    (
        "SELECT query_to_xml('SELECT email, ssn, card_number FROM customers', true, false, '')",
        RowsOrDenied,
    ),
    (
        "SELECT encode(convert_to(table_to_xml('customers', true, false, '')::text, 'UTF8'), 'base64')",
        RowsOrDenied,
    ),
    (
        "SELECT ts_stat('SELECT to_tsvector(''simple'', email) FROM customers')",
        RowsOrDenied,
    ),
    ("SELECT * FROM customers TABLESAMPLE SYSTEM (100)", Rows),
    (
        "SELECT attname, most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE tablename IN ('customers', 'staff')",
        RowsOrDenied,
    ),
    (
        "SELECT attname, encode(convert_to(histogram_bounds::text, 'UTF8'), 'base64'), reverse(histogram_bounds::text) FROM pg_stats WHERE tablename IN ('customers', 'staff')",
        RowsOrDenied,
    ),
    (
        "SELECT s.stavalues1::text FROM pg_statistic s JOIN pg_class c ON c.oid = s.starelid WHERE c.relname = 'customers'",
        RowsOrDenied,
    ),
    // free text that only content detectors protect
    ("SELECT notes FROM customers", Rows),
    (
        "SELECT string_agg(notes, ' ; '), json_agg(notes) FROM customers",
        Rows,
    ),
    // prepared statements and cursors: the rows come from a statement named earlier
    (
        "PREPARE leak AS SELECT email, ssn, card_number FROM customers;\nEXECUTE leak;\nDEALLOCATE leak",
        RowsOrDenied,
    ),
    (
        "BEGIN;\nDECLARE cur CURSOR FOR SELECT email, ssn, card_number FROM customers;\nFETCH ALL FROM cur;\nCOMMIT",
        Rows,
    ),
    // COPY in every format
    ("COPY customers TO STDOUT", Rows),
    (
        "COPY (SELECT email, ssn, card_number FROM customers) TO STDOUT WITH CSV",
        Rows,
    ),
    (
        "COPY (SELECT * FROM customers) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER '|')",
        Rows,
    ),
    (
        "COPY customers (email, ssn, card_number) TO STDOUT (FORMAT binary)",
        Rows,
    ),
    (
        "COPY (SELECT row_to_json(c) FROM customers c) TO STDOUT",
        Rows,
    ),
    ("COPY (SELECT notes FROM customers) TO STDOUT", Rows),
    ("COPY customer_contacts TO STDOUT", Error),
    // errors whose message echoes the value
    ("SELECT email::int FROM customers", Error),
    ("SELECT ssn::int FROM customers", Error),
    ("SELECT card_number::int FROM customers", Error),
    ("SELECT reverse(email)::int FROM customers", Error),
    (
        "SELECT encode(convert_to(email, 'UTF8'), 'base64')::int FROM customers",
        Error,
    ),
    (
        "SELECT translate(ssn, '-', '')::boolean FROM customers",
        Error,
    ),
    ("SELECT upper(card_number)::date FROM customers", Error),
];

/// The corpus for the other styles: every fourth query, starting with
/// `SELECT id, email, ssn, card_number FROM customers`, and every error-echo query.
fn style_subset() -> Vec<usize> {
    (0..CORPUS.len())
        .filter(|&i| i % 4 == 1 || CORPUS[i].1 == Error)
        .collect()
}

// ---- psql ----------------------------------------------------------------------------------

/// One query's share of a psql session's output.
struct Run {
    sql: String,
    stdout: String,
    stderr: String,
}

/// Runs `queries` in one psql session (verbose errors, go on after errors); splits stdout
/// and stderr per query by markers. Also returns the whole output.
fn psql_corpus(gw: &Gateway, token: &str, queries: &[&str]) -> (Vec<Run>, String) {
    let mut script =
        String::from("\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n");
    for (i, q) in queries.iter().enumerate() {
        let _ = writeln!(script, "\\echo <<<Q{i}>>>\n\\warn <<<Q{i}>>>\n{q};");
    }
    script.push_str("\\echo <<<END>>>\n\\warn <<<END>>>\n");
    let out = psql_through_script(gw, "shop", token, &script);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stdout.contains("<<<END>>>"),
        "the psql session did not reach the end of the corpus:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let split = |text: &str, i: usize| -> String {
        let start = format!("<<<Q{i}>>>\n");
        let end = if i + 1 == queries.len() {
            "<<<END>>>".to_string()
        } else {
            format!("<<<Q{}>>>", i + 1)
        };
        let Some(a) = text.find(&start) else {
            return String::new();
        };
        let rest = &text[a + start.len()..];
        rest[..rest.find(&end).unwrap_or(rest.len())].to_string()
    };
    let runs: Vec<Run> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| Run {
            sql: q.to_string(),
            stdout: split(&stdout, i),
            stderr: split(&stderr, i),
        })
        .collect();
    // MASK_CORPUS_DUMP=1 shows what each query returned (to look at a failure by hand).
    if std::env::var_os("MASK_CORPUS_DUMP").is_some() {
        for run in &runs {
            eprintln!("=== {}\n{}\n{}", run.sql, run.stdout, run.stderr);
        }
    }
    (runs, format!("{stdout}\n{stderr}"))
}

/// Checks every run for leaks and for its expected outcome; returns the problems found.
fn check_runs(label: &str, runs: &[Run], expects: &[Expect], needles: &[Needle]) -> Vec<String> {
    let mut problems = Vec::new();
    for (run, expect) in runs.iter().zip(expects) {
        let text = format!("{}\n{}", run.stdout, run.stderr);
        for leak in leaks_in(&text, needles) {
            problems.push(format!(
                "[{label}] LEAK: `{}` shows {leak}\n    output: {}",
                run.sql,
                text.trim().chars().take(600).collect::<String>()
            ));
        }
        let errored = run.stderr.contains("ERROR:");
        match expect {
            // (Not trimmed: a row of NULLs is an empty line.)
            Rows if errored || run.stdout.is_empty() => problems.push(format!(
                "[{label}] `{}` was expected to return rows, got:\n    stdout: {}\n    stderr: {}",
                run.sql,
                run.stdout.trim(),
                run.stderr.trim()
            )),
            Error if !errored => problems.push(format!(
                "[{label}] `{}` was expected to fail, got: {}",
                run.sql,
                run.stdout.trim()
            )),
            Notice if errored || !run.stderr.contains("NOTICE:") => problems.push(format!(
                "[{label}] `{}` was expected to raise a notice, got: {}",
                run.sql,
                run.stderr.trim()
            )),
            _ => {}
        }
    }
    problems
}

/// Leaks anywhere in a session's whole output (outside the per-query sections too), reported
/// only when no query was found leaking already.
fn session_leaks(problems: &mut Vec<String>, label: &str, all: &str, needles: &[Needle]) {
    if problems.iter().any(|p| p.contains("LEAK")) {
        return;
    }
    for leak in leaks_in(all, needles) {
        problems.push(format!(
            "[{label}] LEAK somewhere in the session's output: {leak}"
        ));
    }
}

fn report(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn corpus_has_at_least_60_queries_and_the_checker_finds_planted_secrets() {
    assert!(CORPUS.len() >= 60, "{}", CORPUS.len());
    eprintln!(
        "corpus: {} analyst queries, {} admin queries, {} in the style subset",
        CORPUS.len(),
        ADMIN_CORPUS.len(),
        style_subset().len()
    );
    let needles = needles(&secrets());
    let engine = base64::engine::general_purpose::STANDARD;
    // The checker itself: each transform of a secret is found inside a larger text.
    for planted in [
        "x ADA.LOVELACE@EXAMPLE.COM y".to_string(),
        format!("<{}>", "moc.elpmaxe@ecalevol.ada"),
        format!("\\x{}", hex(b"ada.lovelace@example.com")),
        engine.encode("(1,\"Ada\",ada.lovelace@example.com)"),
        engine.encode("ab123456789"),
        "card 1111111111111114".to_string(),
        "ssn 123456789.".to_string(),
        format!(
            "{}\n{}",
            &engine.encode("zz4111111111111111")[..10],
            &engine.encode("zz4111111111111111")[10..]
        ),
        "note: turing.stmt@enigma-mail.com".to_string(),
    ] {
        assert!(
            !leaks_in(&planted, &needles).is_empty(),
            "the checker missed {planted:?}"
        );
    }
    for clean in [
        "[REDACTED] [REDACTED:email] ************1111 *******6789",
        "hmac:5f0e3ad29c41b7e8a6d0c2f94b1e7a3d",
        "Ada Lovelace|Widget|9.99",
    ] {
        assert!(
            leaks_in(clean, &needles).is_empty(),
            "false positive on {clean:?}: {:?}",
            leaks_in(clean, &needles)
        );
    }
}

#[test]
fn psql_corpus_leaks_nothing_with_the_redact_style() {
    let env = Env::start();
    let token = env.analyst("redact");
    let needles = needles(&secrets());
    let queries: Vec<&str> = CORPUS.iter().map(|(q, _)| *q).collect();
    let expects: Vec<Expect> = CORPUS.iter().map(|(_, e)| *e).collect();
    let (runs, all) = psql_corpus(&env.gw, &token, &queries);
    let mut problems = check_runs("psql redact", &runs, &expects, &needles);
    session_leaks(&mut problems, "psql redact", &all, &needles);
    // Column masking did happen (not just an empty result).
    assert!(
        runs[1].stdout.contains("[REDACTED"),
        "no redaction marker in `{}`: {}",
        runs[1].sql,
        runs[1].stdout
    );
    report(&problems);
}

#[test]
fn psql_corpus_subset_leaks_nothing_with_partial_hash_and_null_styles() {
    let env = Env::start();
    let needles = needles(&secrets());
    let subset = style_subset();
    let queries: Vec<&str> = subset.iter().map(|&i| CORPUS[i].0).collect();
    let expects: Vec<Expect> = subset.iter().map(|&i| CORPUS[i].1).collect();
    let mut problems = Vec::new();
    for style in ["partial", "hash", "null"] {
        let token = env.analyst(style);
        let (runs, all) = psql_corpus(&env.gw, &token, &queries);
        let label = format!("psql {style}");
        problems.extend(check_runs(&label, &runs, &expects, &needles));
        session_leaks(&mut problems, &label, &all, &needles);
        // SELECT id, email, ssn, card_number: the style shows.
        let shown = &runs[0].stdout;
        let ok = match style {
            "partial" => shown.contains("6789") && shown.contains('*'),
            "hash" => shown.contains("hmac:"),
            _ => shown.lines().any(|l| l.trim() == "1|||"),
        };
        if !ok {
            problems.push(format!(
                "[{label}] `{}` does not show the {style} style: {shown}",
                runs[0].sql
            ));
        }
    }
    report(&problems);
}

// ---- psycopg -------------------------------------------------------------------------------

/// Runs `queries` through `py/mask_corpus.py` in the given modes; returns the parsed JSON.
fn psycopg_corpus(
    gw: &Gateway,
    user: &str,
    token: &str,
    queries: &[&str],
    modes: &[&str],
) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("queries.json");
    std::fs::write(&file, serde_json::to_string(queries).expect("json")).expect("write queries");
    let cfg = serde_json::json!({
        "gw_port": gw.pg_port(),
        "user": user,
        "token": token,
        "queries_file": file.display().to_string(),
        "modes": modes,
    });
    let out = python("py/mask_corpus.py", &[&cfg.to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "mask_corpus.py failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    // Anything psycopg printed (warnings) is client output too.
    let needles = needles(&secrets());
    let leaks = leaks_in(&stderr, &needles);
    assert!(leaks.is_empty(), "psycopg's stderr leaks: {leaks:?}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON from mask_corpus.py: {e}\n{stdout}"))
}

/// Checks what psycopg received for leaks and expected outcomes (and, with `decode`, that
/// psycopg could decode every value as its column's type).
fn check_psycopg(
    label: &str,
    json: &serde_json::Value,
    queries: &[&str],
    expects: &[Expect],
    needles: &[Needle],
    decode: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len() % queries.len(), 0);
    for r in results {
        let i = r["i"].as_u64().expect("i") as usize;
        let mode = r["mode"].as_str().unwrap_or("?");
        let text = r.to_string();
        for leak in leaks_in(&text, needles) {
            problems.push(format!(
                "[{label} {mode}] LEAK: `{}` shows {leak}\n    received: {}",
                queries[i],
                text.chars().take(600).collect::<String>()
            ));
        }
        if let Some(e) = r["ok"].get("load_error")
            && decode
        {
            problems.push(format!(
                "[{label} {mode}] `{}`: psycopg cannot decode a value it received ({e}); raw: {}",
                queries[i],
                r["ok"]["raw"]
                    .to_string()
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        let errored = r.get("error").is_some();
        let empty =
            r["ok"]["raw"].as_array().is_none_or(Vec::is_empty) && r["ok"]["copy"].is_null();
        match expects[i] {
            Rows if errored || empty => problems.push(format!(
                "[{label} {mode}] `{}` was expected to return rows, got: {}",
                queries[i],
                text.chars().take(600).collect::<String>()
            )),
            Error if !errored => problems.push(format!(
                "[{label} {mode}] `{}` was expected to fail, got: {}",
                queries[i],
                text.chars().take(300).collect::<String>()
            )),
            Notice if errored || r["notices"].as_array().is_none_or(Vec::is_empty) => problems
                .push(format!(
                    "[{label} {mode}] `{}` was expected to raise a notice, got: {}",
                    queries[i],
                    text.chars().take(300).collect::<String>()
                )),
            _ => {}
        }
    }
    problems
}

#[test]
fn psycopg_corpus_in_text_and_binary_format_leaks_nothing() {
    let env = Env::start();
    let token = env.analyst("redact");
    let needles = needles(&secrets());
    let queries: Vec<&str> = CORPUS.iter().map(|(q, _)| *q).collect();
    let expects: Vec<Expect> = CORPUS.iter().map(|(_, e)| *e).collect();
    let json = psycopg_corpus(
        &env.gw,
        "analyst-redact",
        &token,
        &queries,
        &["text", "binary"],
    );
    let mut problems = check_psycopg("psycopg", &json, &queries, &expects, &needles, false);

    // Binary format: a masked column comes back NULL (RowDescription unchanged), the
    // unmasked ones as they are.
    let binary = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["i"] == 1 && r["mode"] == "binary")
        .expect("query 1 in binary");
    let rows = binary["ok"]["rows"].as_array().cloned().unwrap_or_default();
    if rows.len() != CUSTOMERS.len() {
        problems.push(format!(
            "binary `{}` returned {} rows: {binary}",
            CORPUS[1].0,
            rows.len()
        ));
    }
    for (row, (id, ..)) in rows.iter().zip(CUSTOMERS) {
        let expected = serde_json::json!([id.to_string(), "None", "None", "None"]);
        if *row != expected {
            problems.push(format!(
                "binary `{}`: row {row} should be {expected} (masked columns NULL)",
                CORPUS[1].0
            ));
        }
    }
    if binary["ok"]["formats"] != serde_json::json!([1, 1, 1, 1]) {
        problems.push(format!(
            "binary `{}` was not fetched in binary: {binary}",
            CORPUS[1].0
        ));
    }
    if binary["ok"]["columns"] != serde_json::json!(["id", "email", "ssn", "card_number"]) {
        problems.push(format!(
            "binary `{}`: RowDescription changed: {binary}",
            CORPUS[1].0
        ));
    }
    report(&problems);
}

// ---- an admin whose policy masks: RETURNING, notices, errors -------------------------------

const ADMIN_CORPUS: &[(&str, Expect)] = &[
    (
        "UPDATE customers SET name = name WHERE id <= 5 RETURNING email, ssn, card_number",
        Rows,
    ),
    ("UPDATE customers SET name = name RETURNING *", Rows),
    ("UPDATE customers SET name = name RETURNING customers", Rows),
    (
        "UPDATE customers c SET name = c.name RETURNING upper(c.email), reverse(c.ssn), encode(convert_to(c.card_number, 'UTF8'), 'base64')",
        Rows,
    ),
    (
        "UPDATE customers SET notes = notes RETURNING notes, row_to_json(customers)",
        Rows,
    ),
    (
        "BEGIN;\nDELETE FROM customers WHERE id = 5 RETURNING *;\nROLLBACK",
        Rows,
    ),
    (
        "WITH u AS (UPDATE customers SET name = name RETURNING email, ssn) SELECT * FROM u",
        Rows,
    ),
    (
        "INSERT INTO scratch (v) SELECT email FROM customers RETURNING v",
        Rows,
    ),
    (
        "INSERT INTO scratch (v) SELECT translate(ssn, '-', '') FROM customers RETURNING v",
        Rows,
    ),
    (
        "INSERT INTO scratch (v) SELECT card_number FROM customers RETURNING reverse(v), upper(v)",
        Rows,
    ),
    (
        "INSERT INTO scratch SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM customers RETURNING *",
        Rows,
    ),
    (
        "COPY (UPDATE customers SET name = name RETURNING email, ssn, card_number) TO STDOUT",
        Rows,
    ),
    ("SELECT * FROM customers", Rows),
    ("SELECT leak_email(id), leak_card(id) FROM customers", Rows),
    (
        "DO $$DECLARE e text; BEGIN SELECT email INTO e FROM customers WHERE id = 1; RAISE NOTICE 'found %', e; END$$",
        Notice,
    ),
    (
        "DO $$DECLARE c text; BEGIN SELECT card_number INTO c FROM customers WHERE id = 2; RAISE NOTICE 'card %', c; END$$",
        Notice,
    ),
    (
        "DO $$DECLARE s text; BEGIN SELECT ssn INTO s FROM customers WHERE id = 3; RAISE NOTICE 'ssn %', s; END$$",
        Notice,
    ),
    (
        "DO $$DECLARE e text; BEGIN SELECT upper(email) INTO e FROM customers WHERE id = 4; RAISE EXCEPTION 'no: %', e; END$$",
        Error,
    ),
    (
        "DO $$DECLARE e text; BEGIN SELECT email INTO e FROM customers WHERE id = 2; RAISE EXCEPTION 'bad' USING DETAIL = e, HINT = e; END$$",
        Error,
    ),
    (
        "INSERT INTO customers SELECT 100 + id, name, email, ssn, card_number, notes FROM customers",
        Error,
    ),
    (
        "UPDATE customers SET ssn = ssn::int::text WHERE id = 1",
        Error,
    ),
    (
        "UPDATE customers SET card_number = card_number::int::text WHERE id = 1",
        Error,
    ),
];

#[test]
fn admin_returning_notices_and_errors_leak_nothing() {
    let env = Env::start();
    let token = env.admin();
    let needles = needles(&secrets());
    let queries: Vec<&str> = ADMIN_CORPUS.iter().map(|(q, _)| *q).collect();
    let expects: Vec<Expect> = ADMIN_CORPUS.iter().map(|(_, e)| *e).collect();
    let (runs, all) = psql_corpus(&env.gw, &token, &queries);
    let mut problems = check_runs("psql admin", &runs, &expects, &needles);
    session_leaks(&mut problems, "psql admin", &all, &needles);
    // The same through psycopg, text and binary (notices and error fields included).
    let json = psycopg_corpus(&env.gw, "admin", &token, &queries, &["text", "binary"]);
    problems.extend(check_psycopg(
        "psycopg admin",
        &json,
        &queries,
        &expects,
        &needles,
        false,
    ));
    report(&problems);
}

/// A masked value of a non-text column (numeric, json, arrays, rows) in text format must still
/// be one a client can decode as the column's type: NULL, since RowDescription is unchanged
/// and a marker such as `[REDACTED]` is not a number, a JSON document or an array.
#[test]
fn psycopg_decodes_every_masked_value_as_its_column_type() {
    let env = Env::start();
    let token = env.analyst("redact");
    let needles = needles(&secrets());
    let queries: Vec<&str> = CORPUS.iter().map(|(q, _)| *q).collect();
    let expects: Vec<Expect> = CORPUS.iter().map(|(_, e)| *e).collect();
    let json = psycopg_corpus(&env.gw, "analyst-redact", &token, &queries, &["text"]);
    let problems: Vec<String> = check_psycopg("psycopg", &json, &queries, &expects, &needles, true)
        .into_iter()
        .filter(|p| p.contains("cannot decode"))
        .collect();
    report(&problems);
}
