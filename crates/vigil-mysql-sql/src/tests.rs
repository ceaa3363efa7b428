use crate::*;

fn ctx() -> Context<'static> {
    Context {
        mode: LexMode::default(),
        target: Target {
            flavor: Flavor::Mariadb,
            version: Some(101106),
        },
        database: Some("shop"),
    }
}

fn one(sql: &str) -> SqlFacts {
    let mut v = analyze(sql.as_bytes(), &ctx()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(v.len(), 1, "{sql}");
    v.remove(0).facts
}

#[test]
fn driver_handshake_statements_are_read_only() {
    for sql in [
        "SET NAMES utf8mb4",
        "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'",
        "SET autocommit = 1",
        "SET AUTOCOMMIT = 0",
        "SELECT @@version",
        "select @@version_comment limit 1",
        "SHOW VARIABLES LIKE 'sql_mode'",
        "SELECT DATABASE()",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET @@session.sql_mode = 'STRICT_TRANS_TABLES'",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SHOW TABLES",
        "SHOW DATABASES",
        "USE shop",
        "DESCRIBE customers",
        "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.cid = c.id WHERE c.id > 3 GROUP BY c.name",
        "WITH x AS (SELECT id FROM customers) SELECT * FROM x",
        "SELECT 1 UNION SELECT 2",
        "EXPLAIN DELETE FROM customers",
    ] {
        let f = one(sql);
        assert!(f.read_only, "{sql}: {f:?}");
        assert!(!f.writes, "{sql}");
    }
}

#[test]
fn never_read_only() {
    for sql in [
        "INSERT INTO t VALUES (1)",
        "REPLACE INTO t VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t WHERE id = 1",
        "DROP TABLE t",
        "TRUNCATE TABLE t",
        "CREATE TABLE f (id int) ENGINE=FEDERATED",
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t LOCK IN SHARE MODE",
        "SELECT sleep(10)",
        "SELECT get_lock('x', 1)",
        "SELECT nextval(s)",
        "SELECT shop.my_func(1)",
        "SELECT my_func(1)",
        "CALL p()",
        "SET GLOBAL max_connections = 1",
        "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SET @@global.sql_mode = ''",
        "PREPARE s FROM 'DELETE FROM t'",
        "EXECUTE s",
        "GRANT ALL ON *.* TO x",
        "LOCK TABLES t WRITE",
        "KILL 3",
        "SELECT last_insert_id(5)",
        "EXPLAIN ANALYZE DELETE FROM t",
        "SET foreign_key_checks = 0",
        "SELECT @a := 1",
        "SET @x = (SELECT email FROM customers LIMIT 1)",
    ] {
        // Refused outright is fine too.
        if let Ok(v) = analyze(sql.as_bytes(), &ctx()) {
            for a in v {
                assert!(!a.facts.read_only, "{sql}: {:?}", a.facts);
            }
        }
    }
}

#[test]
fn refused_outright() {
    for sql in [
        "SELECT * FROM t INTO OUTFILE '/tmp/x'",
        "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t",
        "HANDLER t OPEN",
        "INSTALL PLUGIN x SONAME 'x.so'",
        "SELECT 'unterminated",
        "SELECT /* open",
        "SELECT /*!5 1 */",
        "SELECT /*!50700 1; DELETE FROM t */",
        "SELECT /*!50700 /* nested */ 1 */",
    ] {
        let r = analyze(sql.as_bytes(), &ctx());
        match r {
            Err(_) => {}
            Ok(v) => assert!(v.iter().all(|a| !a.facts.read_only), "{sql}: {v:?}"),
        }
    }
    assert_eq!(
        analyze(b"SELECT '\xff'", &ctx()),
        Err(AnalysisError::NotUtf8)
    );
    assert_eq!(analyze(b"SELECT 1\0", &ctx()), Err(AnalysisError::NulByte));
}

#[test]
fn comments_hide_nothing_from_the_analyser() {
    // MySQL reads `--x` as two minus signs, not a comment.
    let v = analyze(b"SELECT 1 --1, (SELECT 2); DELETE FROM t", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 2);
    assert!(!v[1].facts.read_only);
    // `#` comments and `-- ` comments end at the newline.
    let v = analyze(b"SELECT 1 # c\n; DELETE FROM t", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].facts.kind, "delete");
    // A `;` inside a string or a comment does not split.
    let v = analyze(b"SELECT ';' /* ; */ -- ;\n", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 1);
    // A backslash-escaped quote stays inside the string.
    let v = analyze(br"SELECT 'a\'; DELETE FROM t; '", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert!(v[0].facts.read_only);
}

#[test]
fn versioned_comments_run_as_the_target_runs_them() {
    // MariaDB 10.11 runs /*!50700 */ and /*M!100100 */ bodies.
    let v = analyze(b"SELECT 1 /*!50700 , LOAD_FILE('/x') */", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 1);
    assert!(!v[0].facts.read_only);
    let v = analyze(b"SELECT 1 /*M!100100 , sleep(1) */", &ctx()).unwrap_or_default();
    assert!(!v[0].facts.read_only);
    // A version above the target's is a comment.
    let v = analyze(b"SELECT 1 /*M!120000 , sleep(1) */", &ctx()).unwrap_or_default();
    assert!(v[0].facts.read_only);
    // MySQL ignores /*M! */.
    let mysql = Context {
        target: Target {
            flavor: Flavor::Mysql,
            version: Some(80036),
        },
        ..ctx()
    };
    let v = analyze(b"SELECT 1 /*M!100100 , sleep(1) */", &mysql).unwrap_or_default();
    assert!(v[0].facts.read_only);
    // Unknown version: refused.
    let unknown = Context {
        target: Target::default(),
        ..ctx()
    };
    assert!(analyze(b"SELECT 1 /*!50700 , 2 */", &unknown).is_err());
}

#[test]
fn sql_mode_changes_are_followed_or_refused() {
    let ansi = Context {
        mode: LexMode::from_sql_mode("ANSI_QUOTES").unwrap_or_default(),
        ..ctx()
    };
    assert!(analyze(br#"SELECT "ssn" FROM people"#, &ansi).is_err());
    let nbe = Context {
        mode: LexMode::from_sql_mode("NO_BACKSLASH_ESCAPES").unwrap_or_default(),
        ..ctx()
    };
    assert!(analyze(br"SELECT 'a\'; DELETE FROM t; '", &nbe).is_err());
    let pipes = Context {
        mode: LexMode::from_sql_mode("PIPES_AS_CONCAT").unwrap_or_default(),
        ..ctx()
    };
    assert!(analyze(b"SELECT a || b FROM t", &pipes).is_err());
    let v = analyze(b"SET sql_mode = 'ANSI_QUOTES'", &ctx()).unwrap_or_default();
    assert_eq!(v[0].effect, Effect::Lexing);
    let v = analyze(b"SET NAMES gbk", &ctx()).unwrap_or_default();
    assert_eq!(v[0].effect, Effect::Lexing);
}

#[test]
fn tables_are_qualified_by_the_current_database() {
    let f = one("SELECT * FROM customers JOIN other.orders ON 1");
    assert_eq!(f.tables_read, vec!["shop.customers", "other.orders"]);
    let f = one("DELETE FROM customers WHERE id = 1");
    assert_eq!(f.tables_written, vec!["shop.customers"]);
    assert!(f.has_where && f.writes);
    let f = one("UPDATE customers SET a = (SELECT 1 FROM t2)");
    assert_eq!(f.tables_written, vec!["shop.customers"]);
    assert_eq!(f.tables_read, vec!["shop.t2"]);
}

#[test]
fn lineage_of_direct_columns() {
    let v = analyze(
        b"SELECT c.email AS e, name, 1, upper(email), * FROM customers c",
        &ctx(),
    )
    .unwrap_or_default();
    let src = |c: &str| ("shop".to_string(), "customers".to_string(), c.to_string());
    assert_eq!(
        v[0].lineage,
        Lineage::Columns(vec![
            Origin::Sources(vec![src("email")]),
            Origin::Sources(vec![src("name")]),
            Origin::Sources(vec![]),
            Origin::Sources(vec![src("email")]),
            Origin::Star("shop".into(), "customers".into()),
        ])
    );
    // An expression derives from every column it names, through any
    // function; a subquery inside it is not traced.
    let v = analyze(
        b"SELECT concat(c.name, '-', email), id * 2, cast(id AS CHAR), (SELECT 1) + id FROM customers c",
        &ctx(),
    )
    .unwrap_or_default();
    assert_eq!(
        v[0].lineage,
        Lineage::Columns(vec![
            Origin::Sources(vec![src("email"), src("name")]),
            Origin::Sources(vec![src("id")]),
            Origin::Sources(vec![src("id")]),
            Origin::Unproven("an expression with a subquery"),
        ])
    );
    // Over two tables an unqualified name may be either's: both count.
    let v = analyze(b"SELECT upper(email) FROM customers, orders", &ctx()).unwrap_or_default();
    assert_eq!(
        v[0].lineage,
        Lineage::Columns(vec![Origin::Sources(vec![
            src("email"),
            ("shop".to_string(), "orders".to_string(), "email".to_string()),
        ])])
    );
    let v = analyze(b"SELECT email FROM customers UNION SELECT 'x'", &ctx()).unwrap_or_default();
    assert!(matches!(v[0].lineage, Lineage::Unproven(_)));
}

/// Found by the property below: the server reads `-- ` to the end of the
/// line as a comment, so the DELETE after it is not a statement at all.
#[test]
fn a_double_dash_comment_swallows_the_rest_of_the_line() {
    let v = analyze(b"SELECT 0-- ; DELETE FROM t", &ctx()).unwrap_or_default();
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].facts.kind, "select");
    // Without the space it is two minus signs, and the DELETE is seen.
    let v = analyze(b"SELECT 0--1; DELETE FROM t", &ctx()).unwrap_or_default();
    assert!(v.iter().any(|a| a.facts.kind == "delete"), "{v:?}");
}

/// DDL names what it changes: a deny rule on `sql.tables_written` holds for
/// DROP, ALTER, CREATE and RENAME as it does for DML.
#[test]
fn ddl_writes_the_tables_it_changes() {
    for (sql, written) in [
        ("DROP TABLE customers", vec!["shop.customers"]),
        ("DROP TABLE IF EXISTS crm.a, b", vec!["crm.a", "shop.b"]),
        ("DROP VIEW v", vec!["shop.v"]),
        ("DROP INDEX i ON customers", vec!["shop.customers"]),
        (
            "ALTER TABLE customers ADD COLUMN x INT",
            vec!["shop.customers"],
        ),
        ("CREATE TABLE t2 (id INT)", vec!["shop.t2"]),
        (
            "CREATE TABLE t3 AS SELECT * FROM customers",
            vec!["shop.t3"],
        ),
        ("CREATE VIEW v2 AS SELECT 1", vec!["shop.v2"]),
        (
            "CREATE INDEX i ON customers (email)",
            vec!["shop.customers"],
        ),
        (
            "RENAME TABLE customers TO old_customers",
            vec!["shop.customers", "shop.old_customers"],
        ),
    ] {
        let f = one(sql);
        assert!(f.writes && f.ddl && !f.read_only, "{sql}: {f:?}");
        assert_eq!(f.tables_written, written, "{sql}");
    }
    // What it reads stays read.
    let f = one("CREATE TABLE t3 AS SELECT * FROM customers");
    assert_eq!(f.tables_read, vec!["shop.customers".to_string()]);
}

/// Big data arrives in string literals: a 20 MiB one (with escapes and
/// doubled quotes) is analysed whole, in about the time of a copy.
#[test]
fn a_20_mib_string_literal_is_analysed_whole() {
    let body = "a\\'b''cd".repeat((20 << 20) / 8);
    let sql = format!("INSERT INTO blobs VALUES (1, '{body}')");
    let started = std::time::Instant::now();
    let f = one(&sql);
    assert_eq!(f.kind, "insert");
    assert_eq!(f.tables_written, vec!["shop.blobs".to_string()]);
    assert_eq!(f.text.len(), sql.len());
    // The two readings of the literal agree: a `;` in it splits nothing.
    let sql = format!("SELECT '{body};DELETE FROM t'");
    assert!(one(&sql).read_only);
    eprintln!("two 20 MiB statements analysed in {:?}", started.elapsed());
}

/// What is not in a literal (words, numbers, spaces, comments) becomes
/// parser tokens: past `MAX_CODE_LEN` of it the message is refused, while
/// the whole message may be as long as `MAX_SQL_LEN`.
#[test]
fn text_outside_literals_is_bounded_separately() {
    let code = |n: usize| format!("SELECT 1 /*{}*/", " ".repeat(n));
    assert!(analyze(code(MAX_CODE_LEN - 100).as_bytes(), &ctx()).is_ok());
    assert_eq!(
        analyze(code(MAX_CODE_LEN).as_bytes(), &ctx()),
        Err(AnalysisError::TooMuchCode)
    );
    let values = format!(
        "INSERT INTO t VALUES {}(1)",
        "(1),".repeat(MAX_CODE_LEN / 4)
    );
    assert_eq!(
        analyze(values.as_bytes(), &ctx()),
        Err(AnalysisError::TooMuchCode)
    );
    // Split over many statements, it counts once for the message.
    let many = format!("SELECT 1 /*{}*/;", " ".repeat(1200)).repeat(900);
    assert_eq!(
        analyze(many.as_bytes(), &ctx()),
        Err(AnalysisError::TooMuchCode)
    );
    let huge = format!("SELECT '{}'", "x".repeat(MAX_SQL_LEN));
    assert_eq!(
        analyze(huge.as_bytes(), &ctx()),
        Err(AnalysisError::TooLong)
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = analyze(s.as_bytes(), &ctx());
        }

        #[test]
        fn never_panics_on_sql_shaped_bytes(s in "[a-zA-Z0-9 ;'\"`#*/!M\\\\-]{0,120}") {
            let _ = analyze(s.as_bytes(), &ctx());
        }

        /// Whatever follows a `;` outside quotes is its own statement: a
        /// write appended after any read-only prefix is never read-only.
        /// The `;` starts a new line: `-- ` comments to the end of the line
        /// in MySQL, so `SELECT 0-- ; DELETE FROM t` runs no DELETE (see
        /// `a_double_dash_comment_swallows_the_rest_of_the_line`).
        #[test]
        fn an_appended_write_is_always_seen(prefix in "[a-z0-9 ,()+*-]{0,40}") {
            let sql = format!("SELECT {prefix}\n; DELETE FROM t");
            if let Ok(v) = analyze(sql.as_bytes(), &ctx()) {
                prop_assert!(v.iter().any(|a| a.facts.kind == "delete"));
            }
        }
    }
}
