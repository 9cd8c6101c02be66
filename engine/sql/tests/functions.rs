//! The built-in functions of `floe_sql::builtins` through a session: each
//! answer below is the one MySQL 8's manual gives for the same call.

mod common;

use common::{execute, rows};
use floe_server::Interrupt;
use floe_sql::SqlSession;

#[test]
fn builtins_answer_as_mysql() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::database(dir.path(), true);
    let mut s = SqlSession::new(std::sync::Arc::clone(&db), 1, "root", Interrupt::new());
    let cases: &[(&str, &str)] = &[
        ("HEX(255)", "FF"),
        ("HEX('abc')", "616263"),
        ("HEX(-1)", "FFFFFFFFFFFFFFFF"),
        ("UNHEX('4D7953514C')", "MySQL"),
        ("UNHEX('GG')", "NULL"),
        ("LPAD('hi', 4, '??')", "??hi"),
        ("LPAD('hi', 1, '??')", "h"),
        ("RPAD('hi', 5, '?')", "hi???"),
        ("REPEAT('MySQL', 3)", "MySQLMySQLMySQL"),
        ("REVERSE('abc')", "cba"),
        ("LENGTH(SPACE(6))", "6"),
        ("ASCII('2')", "50"),
        ("ASCII('')", "0"),
        ("STRCMP('text', 'text2')", "-1"),
        ("STRCMP('text2', 'text')", "1"),
        ("STRCMP('text', 'TEXT')", "0"),
        ("FIELD('Bb', 'Aa', 'Bb', 'Cc', 'Dd', 'Ff')", "2"),
        ("FIELD('Gg', 'Aa', 'Bb', 'Cc', 'Dd', 'Ff')", "0"),
        ("FIELD(NULL, 'Aa')", "0"),
        ("ELT(1, 'Aa', 'Bb', 'Cc', 'Dd')", "Aa"),
        ("ELT(4, 'Aa', 'Bb', 'Cc', 'Dd')", "Dd"),
        ("ELT(5, 'Aa', 'Bb')", "NULL"),
        ("FIND_IN_SET('b', 'a,b,c,d')", "2"),
        ("SUBSTRING_INDEX('www.mysql.com', '.', 2)", "www.mysql"),
        ("SUBSTRING_INDEX('www.mysql.com', '.', -2)", "mysql.com"),
        ("MD5('testing')", "ae2b1fca515949e5d54fb22b8ed95575"),
        ("SHA1('abc')", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "SHA2('abc', 224)",
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        ),
        ("CRC32('MySQL')", "3259397556"),
        ("GREATEST(2, 0)", "2"),
        ("GREATEST(34.0, 3.0, 5.0, 767.0)", "767.0"),
        ("GREATEST('B', 'A', 'C')", "C"),
        ("LEAST(2, 0)", "0"),
        ("LEAST(34.0, 3.0, 5.0, 767.0)", "3.0"),
        ("GREATEST(1, NULL)", "NULL"),
        ("SQRT(4)", "2"),
        ("SQRT(-16)", "NULL"),
        ("POW(2, 2)", "4"),
        ("POW(2, -2)", "0.25"),
        ("EXP(0)", "1"),
        ("LN(2)", "0.6931471805599453"),
        ("LN(-2)", "NULL"),
        ("LOG(2, 65536)", "16"),
        ("LOG2(65536)", "16"),
        ("LOG10(100)", "2"),
        ("SIGN(-32)", "-1"),
        ("SIGN(0)", "0"),
        ("HOUR('10:05:03')", "10"),
        ("HOUR('272:59:59')", "272"),
        ("MINUTE('2008-02-03 10:05:03')", "5"),
        ("SECOND('10:05:03')", "3"),
        ("MICROSECOND('12:00:00.123456')", "123456"),
        ("DAYOFWEEK('2007-02-03')", "7"),
        ("WEEKDAY('2008-02-03 22:23:00')", "6"),
        ("DAYOFYEAR('2007-02-03')", "34"),
        ("QUARTER('2008-04-01')", "2"),
        ("LAST_DAY('2003-02-05')", "2003-02-28"),
        ("LAST_DAY('2004-02-05')", "2004-02-29"),
        ("DATE('2003-12-31 01:02:03')", "2003-12-31"),
        ("TIME('2003-12-31 01:02:03')", "01:02:03"),
        ("DAYNAME('2007-02-03')", "Saturday"),
        ("MONTHNAME('2008-02-03')", "February"),
        ("TO_DAYS('2007-10-07')", "733321"),
        ("FROM_DAYS(730669)", "2000-07-03"),
        (
            "DATE_FORMAT('2009-10-04 22:23:00', '%W %M %Y')",
            "Sunday October 2009",
        ),
        ("DATE_FORMAT('2007-10-04 22:23:00', '%H:%i:%s')", "22:23:00"),
        (
            "DATE_FORMAT('1900-10-04 22:23:00', '%D %y %a %d %m %b %j')",
            "4th 00 Thu 04 10 Oct 277",
        ),
        (
            "DATE_FORMAT('1997-10-04 22:23:00', '%H %k %I %r %T %S %w')",
            "22 22 10 10:23:00 PM 22:23:00 00 6",
        ),
    ];
    let mut wrong = Vec::new();
    for (call, expected) in cases {
        let got = rows(&mut s, &format!("SELECT {call}"));
        if got != [*expected] {
            wrong.push(format!("{call}: {got:?}, MySQL says {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // An invalid logarithm warns (3020); a week specifier is refused (1235);
    // a DOUBLE overflow is an error (1690); wrong argument counts are 1582.
    rows(&mut s, "SELECT LN(0)");
    assert_eq!(
        rows(&mut s, "SHOW WARNINGS"),
        vec!["Warning,3020,Invalid argument for logarithm"]
    );
    assert_eq!(
        execute(&mut s, "SELECT DATE_FORMAT('1999-01-01', '%X %V')").err(),
        Some(1235)
    );
    assert_eq!(execute(&mut s, "SELECT POW(10, 400)").err(), Some(1690));
    assert_eq!(execute(&mut s, "SELECT LPAD('a')").err(), Some(1582));
    drop(s);
    db.shutdown().expect("shutdown");
}
