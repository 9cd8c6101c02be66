#!/usr/bin/env python3
"""Regenerates mariadb_expressions.tsv and mariadb_aggregates.tsv by asking a running MariaDB.

Run once by hand (the tests themselves never need MariaDB):
  python3 generate_mariadb_expressions.py /path/to/mariadb.sock expressions > mariadb_expressions.tsv
  python3 generate_mariadb_expressions.py /path/to/mariadb.sock aggregates > mariadb_aggregates.tsv
Expression lines: expression <TAB> MariaDB's text result (or "ERROR <code>") <TAB> warning count.
Aggregate lines: call over column x <TAB> x's values, separated by " | " <TAB> result <TAB> warnings;
the values are one derived table: SELECT call FROM (SELECT v1 AS x UNION ALL SELECT v2 ...) t.
The session uses utf8mb4_general_nopad_ci: case-insensitive and NO PAD like MySQL 8's
utf8mb4_0900_ai_ci (MariaDB 10.11 has no 0900 collations).
"""
import subprocess
import sys

EXPRESSIONS = r"""
1 + 1
2 - 5
3 * 4
7 / 2
1 / 3
10 / 4
-7 / 2
2 / 3
1.0 / 3
1.00 / 7
10 / 3 * 3
7 DIV 2
-7 DIV 2
7 % 3
-7 % 3
7 % -3
MOD(10, 3)
MOD(-7, 3)
MOD(7.5, 2)
MOD(7, 0)
1 / 0
1 DIV 0
1 % 0
1.5 / 0
1e0 / 0
9223372036854775807 + 1
-9223372036854775807 - 2
9223372036854775807 * 2
4611686018427387904 * 2
18446744073709551615 + 0
18446744073709551615 + 1
CAST(1 AS UNSIGNED) - 2
CAST(5 AS UNSIGNED) - 2
CAST(1 AS UNSIGNED) + -1
1.5 + 1
1.50 * 2
1.25 * 1.25
0.1 + 0.2
0.1e0 + 0.2e0
1e0 / 3
2e0 / 3
5.5 DIV 2
5.5e0 DIV 2
-5.5 DIV 2
'3' + 4
'3abc' + 4
'abc' + 1
'1.5' * 2
'1e2' + 0
' 12 ' + 1
-(-5)
- 9223372036854775807
3 - -2
100 * 100 * 100 * 100 * 100 * 100 * 100
2e0 * 3
1e300 * 1e300
123456789.123 * 1000
99999999999999999999 + 1
0.5 * 0.5 * 0.5
10 / 0.3
1 + NULL
NULL * 2
NULL / 0
-NULL
- '5'
- 1.50
1 = 1
1 = '1'
1 = '1abc'
'a' = 'A'
'a' = 'a '
'abc' < 'abd'
'B' > 'a'
10 > '9'
'10' > '9'
1 = 1.0
1.0 = '1'
NULL = NULL
NULL <=> NULL
1 <=> NULL
1 <=> 1
1 <> 2
1 != 1
NULL <> 1
1 < NULL
CAST(18446744073709551615 AS UNSIGNED) > -1
CAST(18446744073709551615 AS UNSIGNED) = -1
0.1e0 + 0.2e0 = 0.3e0
0.1 + 0.2 = 0.3
DATE '2024-01-05' = '2024-01-05'
DATE '2024-01-05' < '2024-02-01'
DATE '2024-01-05' = 20240105
DATE '2024-01-05' = TIMESTAMP '2024-01-05 00:00:00'
DATE '2024-01-05' < TIMESTAMP '2024-01-05 00:00:01'
'2024-01-05' = 20240105
'abc' = 0
'abc' > 'ABD'
2 >= 2
2 <= 1
1.5 > 1
-1 < CAST(0 AS UNSIGNED)
'1e1' = 10
1 AND 0
1 AND NULL
0 AND NULL
1 OR NULL
0 OR NULL
NULL OR NULL
NULL AND NULL
1 XOR 1
1 XOR 0
NULL XOR 1
NOT 0
NOT 1
NOT NULL
NOT 'abc'
NOT '1'
2 AND 3
0.0 OR 0
'a' OR 0
0.1 AND 1
NULL IS NULL
1 IS NULL
1 IS NOT NULL
1 IS TRUE
0 IS TRUE
NULL IS TRUE
NULL IS NOT TRUE
0 IS FALSE
NULL IS NOT FALSE
2 IS TRUE
0.0 IS FALSE
5 BETWEEN 1 AND 10
5 NOT BETWEEN 1 AND 10
'b' BETWEEN 'A' AND 'C'
NULL BETWEEN 1 AND 2
5 BETWEEN NULL AND 4
5 BETWEEN NULL AND 6
1.5 BETWEEN 1 AND 2
10 BETWEEN 9 AND '11'
1 IN (1, 2, 3)
4 IN (1, 2, 3)
4 IN (1, NULL)
1 IN (1, NULL)
NULL IN (1, 2)
4 NOT IN (1, 2)
4 NOT IN (1, NULL)
'a' IN ('A', 'b')
2 IN (1.5, 2.0)
'x' IN ('y', NULL)
'Hello' LIKE 'h%'
'Hello' LIKE 'H_llo'
'Hello' LIKE '%l'
'Hello' LIKE '%LL%'
'50%' LIKE '50\%'
'500' LIKE '50\%'
'a_c' LIKE 'a|_c' ESCAPE '|'
'abc' LIKE 'a|_c' ESCAPE '|'
'abc' NOT LIKE 'A%'
NULL LIKE 'a'
'a' LIKE NULL
123 LIKE '1%'
12.5 LIKE '%.5'
'' LIKE '%'
'' LIKE '_'
'abc' LIKE ''
'a ' LIKE 'a'
'ab' LIKE '%b%b'
'abcb' LIKE '%b%b'
'aXbXc' LIKE 'a%b%c'
'mississippi' LIKE '%iss%ppi'
CASE 1 WHEN 1 THEN 'one' ELSE 'other' END
CASE 2 WHEN 1 THEN 'one' END
CASE WHEN 1 > 2 THEN 1 WHEN 2 > 1 THEN 2.5 END
CASE WHEN NULL THEN 1 ELSE 0 END
CASE 'a' WHEN 'A' THEN 'yes' ELSE 'no' END
CASE NULL WHEN NULL THEN 1 ELSE 2 END
CASE WHEN 1 THEN 1 ELSE 2.5 END
CASE 1 WHEN '1' THEN 'x' END
CASE WHEN 0 THEN 1 ELSE 1e0 END
CASE 3 WHEN 1 THEN 'a' WHEN 3 THEN 'c' ELSE 'z' END
CASE WHEN 1 THEN 'x' ELSE 5 END
CAST('12abc' AS SIGNED)
CAST(-1 AS UNSIGNED)
CAST(18446744073709551615 AS SIGNED)
CAST(1.5 AS SIGNED)
CAST(-1.5 AS SIGNED)
CAST(2.5e0 AS SIGNED)
CAST('1.9' AS SIGNED)
CAST(' 42 ' AS SIGNED)
CAST(-0.4 AS SIGNED)
CAST(0.5 AS UNSIGNED)
CAST(3.14159 AS DECIMAL(5,2))
CAST(123.456 AS DECIMAL(4,1))
CAST(-123.456 AS DECIMAL(4,1))
CAST('abc' AS DECIMAL(5,2))
CAST(1/3 AS DECIMAL(10,6))
CAST(10 AS DECIMAL)
CAST(1.5 AS DECIMAL)
CAST('2.345' AS DECIMAL(4,2))
CAST(1e0/3 AS DECIMAL(8,5))
CAST(123 AS CHAR)
CAST('hello' AS CHAR(3))
CAST(1.50 AS CHAR)
CAST(1e0 AS CHAR)
CAST('2024-01-05' AS DATE)
CAST('2024-13-05' AS DATE)
CAST('2024-01-05 10:20:30' AS DATETIME)
CAST('2024-01-05' AS DATETIME)
CAST('2024-01-05 10:20:30.123456' AS DATETIME(3))
CAST('2024-01-05 10:20:30' AS DATE)
CAST(20240105 AS DATE)
CAST('10:20:30' AS TIME)
CAST('1.5' AS DOUBLE)
CAST(1 AS DOUBLE)
CAST(NULL AS SIGNED)
CAST(DATE '2024-01-05' AS SIGNED)
CAST('2024/1/5' AS DATE)
CAST('20240105' AS DATE)
CAST('-5' AS UNSIGNED)
CAST(1.5 AS DOUBLE) * 2
ABS(-5)
ABS(-5.5)
ABS('-3')
ABS(NULL)
ABS(-1e0)
CEIL(1.2)
CEIL(-1.2)
FLOOR(-1.2)
CEILING(5)
FLOOR(1.5e0)
CEIL('1.2')
FLOOR(-0.5)
ROUND(2.5)
ROUND(-2.5)
ROUND(2.5e0)
ROUND(3.5e0)
ROUND(1.2345, 2)
ROUND(1.2355, 3)
ROUND(155, -1)
ROUND(-155, -1)
ROUND(1.5, 3)
ROUND(123.456, -2)
ROUND(1.2345e0, 2)
ROUND(1.45)
ROUND('2.5')
ROUND(NULL)
TRUNCATE(1.239, 2)
TRUNCATE(-1.239, 2)
TRUNCATE(159, -1)
TRUNCATE(1.239e0, 1)
TRUNCATE(1.2, 3)
LENGTH('héllo')
CHAR_LENGTH('héllo')
LENGTH(123)
LENGTH('')
LENGTH(NULL)
CHAR_LENGTH(1.50)
CONCAT('a', 'b', 'c')
CONCAT('a', NULL)
CONCAT(1, 2.50)
CONCAT('x', 1e0)
CONCAT('d', DATE '2024-01-05')
CONCAT_WS(',', 'a', NULL, 'b')
CONCAT_WS(NULL, 'a')
CONCAT_WS('-', 1, 2)
UPPER('abc')
LOWER('ABC')
UPPER(NULL)
UPPER('héllo')
SUBSTRING('hello', 2)
SUBSTRING('hello', 2, 3)
SUBSTRING('hello', -3)
SUBSTRING('hello', -3, 2)
SUBSTRING('hello', 0)
SUBSTRING('hello', 10)
SUBSTRING('hello', 2, -1)
SUBSTRING('héllo', 2, 2)
SUBSTRING('hello' FROM 2 FOR 2)
SUBSTRING(12345, 2, 2)
CONCAT('[', TRIM('  hi  '), ']')
CONCAT('[', LTRIM('  hi  '), ']')
CONCAT('[', RTRIM('  hi  '), ']')
TRIM(LEADING 'x' FROM 'xxhixx')
TRIM(TRAILING 'x' FROM 'xxhixx')
TRIM(BOTH 'xy' FROM 'xyxyhixy')
TRIM('x' FROM 'xhix')
REPLACE('hello', 'l', 'L')
REPLACE('hello', '', 'x')
REPLACE('aaa', 'aa', 'b')
REPLACE('Hello', 'h', 'j')
LEFT('hello', 2)
RIGHT('hello', 2)
LEFT('hello', 0)
LEFT('hello', -1)
RIGHT('hello', 10)
LEFT(NULL, 1)
LOCATE('l', 'hello')
LOCATE('L', 'hello')
LOCATE('l', 'hello', 4)
LOCATE('z', 'hello')
LOCATE('', 'hello')
LOCATE('l', 'hello', 0)
INSTR('hello', 'll')
INSTR('hello', 'LL')
INSTR('héllo', 'l')
DATE_ADD('2024-01-31', INTERVAL 1 MONTH)
DATE_ADD(DATE '2024-01-31', INTERVAL 1 DAY)
DATE_SUB('2024-03-01', INTERVAL 1 DAY)
DATE_ADD('2024-01-01 10:00:00', INTERVAL 90 MINUTE)
DATE_ADD('2024-01-01', INTERVAL 1 HOUR)
DATE_ADD('2023-12-31', INTERVAL 1 YEAR)
DATE_ADD('2024-02-29', INTERVAL 1 YEAR)
DATE_ADD('2024-01-01', INTERVAL -1 WEEK)
DATE_ADD('2024-01-01', INTERVAL 1 QUARTER)
DATE_ADD('2024-01-01', INTERVAL 1 SECOND)
DATE_ADD('bad', INTERVAL 1 DAY)
DATE_ADD(NULL, INTERVAL 1 DAY)
DATE_ADD('9999-12-31', INTERVAL 1 DAY)
DATE_SUB(DATE '2024-01-01', INTERVAL 1 MONTH)
DATE_ADD(TIMESTAMP '2024-01-01 23:59:59', INTERVAL 1 SECOND)
DATE_ADD('2024-01-01', INTERVAL 1 MICROSECOND)
DATE_ADD(20240101, INTERVAL 2 DAY)
'2024-01-01' + INTERVAL 1 DAY
DATEDIFF('2024-03-01', '2024-02-01')
DATEDIFF('2024-01-01 23:59:59', '2024-01-02')
DATEDIFF('x', '2024-01-01')
DATEDIFF(DATE '2000-01-01', DATE '1999-01-01')
YEAR('2024-05-06')
MONTH('2024-05-06')
DAY('2024-05-06')
DAYOFMONTH(DATE '2024-05-06')
YEAR('2024-13-01')
YEAR(20240506)
MONTH(NULL)
YEAR(TIMESTAMP '1999-12-31 23:59:59')
COALESCE(NULL, 1)
COALESCE(NULL, NULL)
COALESCE(NULL, 1, 2.5)
COALESCE('a', 1)
COALESCE(NULL, 'x', 'y')
IFNULL(NULL, 'x')
IFNULL(1, 'x')
IFNULL(NULL, 2.50)
IFNULL(1, 2.50)
NULLIF(1, 1)
NULLIF(1, 2)
NULLIF('a', 'A')
NULLIF(NULL, 1)
IF(1, 'y', 'n')
IF(0, 'y', 'n')
IF(NULL, 1, 2)
IF(1, 1, 2.5)
IF('0', 1, 2)
IF(0.1, 1, 2)
IF(1 > 0, 'pos', 'neg')
1e20
1e15
1e14
123456789012345678e0
0.0001e0
0.00001e0
1.5e-7
-0.0e0
100e0
3.0e0
1.0
0.10
-0.5
12345678901234567890
0.000000001
1e-5
1e16
1.7976931348623157e308
123456.789e0
1234567890123456789e0
-1.5e-10
2e0 / 7
1e0 * 1e15
0.1e0 * 3
DATE '2024-01-05'
TIMESTAMP '2024-01-05 10:20:30'
TIME '10:20:30'
CAST('2024-01-05 1:2:3.5' AS DATETIME(2))
DATE '2024-01-05' + 0
DATE '2024-01-05' + 1
TIME '10:20:30' + 0
TIMESTAMP '2024-01-05 10:20:30' + 0
-DATE '2024-01-05'
'x' = 'X' AND 'a' < 'B'
(1 + 2) * 3 - 4 / 2
1 + 2 * 3
-2 * -3
(5 DIV 2) * 2 + 5 % 2
ABS(-2) + CEIL(1.1) * FLOOR(2.9)
CONCAT(UPPER('a'), LOWER('B'), LENGTH('abc'))
COALESCE(NULL, NULL, 3) + 1
CASE WHEN 1 IN (1, 2) THEN 'in' ELSE 'out' END
NOT (1 BETWEEN 2 AND 3)
(1 < 2) + (2 < 3)
(1 = 1) = 1
'1' + '2'
'10' / '4'
'9' DIV 2
1 - 0.5
-0
0 * -1
0 = -0
1 / 8
3 / 7 * 7
'É' = 'é'
'é' = 'e'
'abc' LIKE 'ABC'
'é' LIKE 'É'
'  ' = ''
CAST(-1 AS UNSIGNED) DIV 2
18446744073709551615 DIV 2
CAST(10 AS UNSIGNED) % 3
-CAST(5 AS UNSIGNED)
CAST(3 AS UNSIGNED) * -1
5 DIV CAST(2 AS UNSIGNED)
9223372036854775807 + CAST(1 AS UNSIGNED)
CAST(9223372036854775808 AS SIGNED)
-9223372036854775808 - 1
18446744073709551615 * 1
1.5e0 % 1
MOD(-7.5, 2)
-7.5e0 % 2
10 DIV 3.5
-10 DIV 3
10.5 % 3
-10.5 % 3
ROUND(-1.5e0)
ROUND(0.5e0)
ROUND(-0.5)
ROUND(1.005, 2)
ROUND(99.5)
ROUND(1234.5678, -5)
TRUNCATE(-0.5, 0)
CEIL(-0.5)
CEIL(-0.5e0)
FLOOR(0.5e0)
CONCAT('a', CAST('b' AS BINARY))
UPPER(CAST('abc' AS BINARY))
LENGTH(CAST('é' AS BINARY))
CAST('  12' AS DECIMAL(5,1))
CAST('1e3' AS DECIMAL(6,1))
CAST('1e3' AS SIGNED)
'0x10' + 0
1 BETWEEN 2 AND NULL
3 NOT BETWEEN 1 AND NULL
1.0 IN (1, 2)
'1.0' IN (1)
NULL NOT IN (1)
4 IN (1, 2, '4')
'a' IN (1, 2)
CASE WHEN 1 THEN NULL ELSE 2 END
COALESCE(NULL, DATE '2024-01-01')
IF(1, DATE '2024-01-01', 'x')
DATEDIFF(20240301, 20240201)
DATE_ADD('2024-01-31 10:00:00', INTERVAL 1 MONTH)
DATE_ADD(DATE '2024-03-31', INTERVAL -1 MONTH)
DATE_SUB('2024-01-01', INTERVAL 1 MICROSECOND)
DATE_ADD('2024-01-01', INTERVAL 1.6 DAY)
DATE_ADD('2024-01-01', INTERVAL '2' DAY)
DATE_ADD('2024-01-01', INTERVAL 1 DAY) = '2024-01-02'
DATE_ADD('2024-01-01', INTERVAL 1 DAY) = '2024-1-2'
YEAR('99-01-01')
CAST('99-01-01' AS DATE)
CAST('2024-01-05T10:20:30' AS DATETIME)
TIME '10:20:30' < TIME '9:00:00'
TIME '-01:00:00' + 0
CAST('838:59:59' AS TIME)
CAST('839:00:00' AS TIME)
SUBSTRING('hello', 1, 100)
LOCATE('é', 'café')
LEFT('héllo', 2)
REPLACE('aXbXc', 'X', '')
TRIM(BOTH '' FROM 'abc')
CONCAT_WS(',', NULL, NULL)
2 * 0.5e0
1e0 + 1
0.1 * 3 = 0.3
1/3 + 1/3 + 1/3
(1/3) * 3 = 1
1e0 / 7 * 7
0.1e0 + 0.7e0
CAST(1/3 AS CHAR)
CONCAT(1/3)
CAST(0.1e0 + 0.2e0 AS DECIMAL(20,18))
-0.0
CAST(-0.0e0 AS CHAR)
1/3 = 0.3333
1/3 = 0.333333333
(1/3)+0 = 0.3333
1/3 > 0.3333
1/3 IN (0.3333)
(1/3)*1.000 = 0.3333
(1/3)*1.0
ROUND(1/3, 6)
2/3 * 1.00
ABS(1/3)
1/3 + 0.00001
CASE 1/3 WHEN 0.3333 THEN 'rounded' ELSE 'exact' END
1/3 BETWEEN 0.3333 AND 0.3333
LENGTH(1/3)
CAST('-900:00:00' AS TIME)
SUM_NOT_A_FUNCTION_PLACEHOLDER
"""


AGGREGATES = [
    ("SUM(x)", "1 | 2 | 3"),
    ("SUM(x)", "1 | NULL | 3"),
    ("SUM(x)", "NULL | NULL"),
    ("SUM(x)", "9223372036854775807 | 9223372036854775807"),
    ("SUM(x)", "-5 | 2"),
    ("SUM(DISTINCT x)", "1 | 1 | 2"),
    ("SUM(x)", "1.10 | 2.20"),
    ("SUM(x)", "0.1e0 | 0.2e0"),
    ("SUM(x)", "'1' | '2x'"),
    ("SUM(x)", "'a' | 'b'"),
    ("AVG(x)", "1 | 2 | 2"),
    ("AVG(x)", "-1 | -2"),
    ("AVG(x)", "1.50 | 2.25"),
    ("AVG(x)", "1e0 | 2e0"),
    ("AVG(x)", "2 | NULL"),
    ("AVG(x)", "NULL | NULL"),
    ("AVG(DISTINCT x)", "1 | 1 | 4"),
    ("AVG(x)", "'1' | '4'"),
    ("AVG(x)", "1 | 2 | 3 | 4 | 5 | 6 | 7"),
    ("AVG(x)", "0.001 | 0.002"),
    ("COUNT(x)", "1 | NULL | 3"),
    ("COUNT(*)", "1 | NULL | 3"),
    ("COUNT(x)", "NULL | NULL"),
    ("COUNT(DISTINCT x)", "'a' | 'A' | 'b'"),
    ("COUNT(DISTINCT x)", "1 | 1 | NULL | 2"),
    ("COUNT(DISTINCT x)", "'a' | 'a ' | 'b'"),
    ("COUNT(DISTINCT x)", "1.0 | 1.00 | 2"),
    ("MIN(x)", "3 | 1 | 2"),
    ("MAX(x)", "10 | 9"),
    ("MAX(x)", "'10' | '9'"),
    ("MIN(x)", "'b' | 'C' | 'a'"),
    ("MAX(x)", "'b' | 'C' | 'a'"),
    ("MIN(x)", "NULL | 5 | NULL"),
    ("MAX(x)", "NULL | NULL"),
    ("MIN(x)", "DATE '2024-01-05' | DATE '2023-12-31'"),
    ("MAX(x)", "TIMESTAMP '2024-01-05 10:00:00' | TIMESTAMP '2024-01-05 09:59:59'"),
    ("MAX(x)", "-1.5 | -1.25"),
    ("MIN(x)", "-0.5e0 | 0.25e0"),
    ("SUM(x) / COUNT(x)", "1 | 2"),
    ("MAX(x) - MIN(x)", "7 | 3 | 5"),
]


def run_aggregate(sock, call, values):
    rows = " UNION ALL ".join(f"SELECT {v} AS x" for v in values.split(" | "))
    return run(sock, f"{call} FROM ({rows}) t")


def run(sock, expression):
    query = f"SET NAMES utf8mb4 COLLATE utf8mb4_general_nopad_ci; SELECT {expression}; SELECT @@warning_count"
    done = subprocess.run(
        ["mariadb", f"--socket={sock}", "-uroot", "-N", "-B", "-r", "-e", query],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        code = done.stderr.split()[1] if done.stderr.startswith("ERROR") else "?"
        return f"ERROR {code}", "0"
    lines = done.stdout.rstrip("\n").split("\n")
    return lines[0], lines[1] if len(lines) > 1 else "0"


def main():
    sock = sys.argv[1]
    if sys.argv[2] == "aggregates":
        for call, values in AGGREGATES:
            result, warnings = run_aggregate(sock, call, values)
            print(f"{call}\t{values}\t{result}\t{warnings}")
        return
    for expression in EXPRESSIONS.strip().split("\n"):
        expression = expression.strip()
        if not expression or expression.endswith("PLACEHOLDER"):
            continue
        result, warnings = run(sock, expression)
        print(f"{expression}\t{result}\t{warnings}")


main()
