"""Fidelity table: a BigQuery expression gives BigQuery's documented value on the embedded DuckDB
warehouse, raises where BigQuery documents an error, or is refused before it runs.

Each row: the BigQuery SQL, the value the GoogleSQL for BigQuery reference documents for it (the
page and function are cited; most inputs are the reference's own examples), and the outcome:
"equal" (same value and same Python type through the project's runner), "error" (both raise;
the text is DuckDB's message for BigQuery's error) or "refused" (UntranslatableSql naming the
construct and its line). docs/sql.md lists the rewrites behind the rows.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from typing import Any

import pytest
from adctr.warehouse.base import WarehouseError
from adctr.warehouse.bigquery_to_duckdb import UntranslatableSql
from adctr.warehouse.duckdb_backend import DuckDBWarehouse

UTC = timezone.utc
DATE_FN, TS_FN = "Date functions", "Timestamp functions"
MATH, STR, HASH, ARR = "Mathematical functions", "String functions", "Hash functions", "Array functions"
AGG, APPROX = "Aggregate functions", "Approximate aggregate functions"
WIN, CONV, COND = "Window function calls / Numbering functions", "Conversion rules", "Conditional expressions"
OPS, QUERY = "Operators", "Query syntax"
NUMS = "UNNEST([1, 1, 1, 4, 5, 6, 7, 8, 9, 10])"

# (BigQuery expression, BigQuery's documented value, citation: reference page - function, outcome)
TABLE: list[tuple[str, Any, str, str]] = [
    # Date parts (EXTRACT), weeks starting Sunday, ISO weeks
    ("EXTRACT(DAYOFWEEK FROM DATE '2024-01-07')", 1, f"{DATE_FN} - EXTRACT: DAYOFWEEK [1,7], Sunday first", "equal"),
    ("EXTRACT(DAYOFWEEK FROM DATE '2024-01-13')", 7, f"{DATE_FN} - EXTRACT: DAYOFWEEK (Saturday = 7)", "equal"),
    ("EXTRACT(WEEK FROM DATE '2015-12-27')", 52, f"{DATE_FN} - EXTRACT example (2015-12-23..2016-01-09)", "equal"),
    ("EXTRACT(WEEK FROM DATE '2016-01-01')", 0, f"{DATE_FN} - EXTRACT: WEEK, days before the first Sunday are week 0", "equal"),
    ("EXTRACT(WEEK FROM DATE '2016-01-03')", 1, f"{DATE_FN} - EXTRACT example", "equal"),
    ("EXTRACT(ISOWEEK FROM DATE '2016-01-01')", 53, f"{DATE_FN} - EXTRACT example: ISOWEEK", "equal"),
    ("EXTRACT(ISOWEEK FROM DATE '2016-01-04')", 1, f"{DATE_FN} - EXTRACT example: ISOWEEK", "equal"),
    ("EXTRACT(ISOYEAR FROM DATE '2016-01-01')", 2015, f"{DATE_FN} - EXTRACT example: ISOYEAR", "equal"),
    ("EXTRACT(YEAR FROM DATE '2016-01-01')", 2016, f"{DATE_FN} - EXTRACT example: YEAR", "equal"),
    ("EXTRACT(WEEK(SUNDAY) FROM DATE '2017-11-05')", 45, f"{DATE_FN} - EXTRACT example: WEEK(SUNDAY)", "equal"),
    ("EXTRACT(WEEK(MONDAY) FROM DATE '2017-11-05')", 44, f"{DATE_FN} - EXTRACT example: WEEK(MONDAY)", "equal"),
    ("EXTRACT(WEEK(WEDNESDAY) FROM DATE '2017-11-05')", 44, f"{DATE_FN} - EXTRACT: WEEK(<WEEKDAY>)", "equal"),
    ("EXTRACT(DAYOFYEAR FROM DATE '2024-12-31')", 366, f"{DATE_FN} - EXTRACT: DAYOFYEAR", "equal"),
    ("EXTRACT(QUARTER FROM DATE '2024-05-07')", 2, f"{DATE_FN} - EXTRACT: QUARTER [1,4]", "equal"),
    ("EXTRACT(DAY FROM DATE '2013-12-25')", 25, f"{DATE_FN} - EXTRACT example", "equal"),
    ("EXTRACT(DATE FROM TIMESTAMP '2008-12-25 05:30:00+00')", date(2008, 12, 25), f"{TS_FN} - EXTRACT: DATE (UTC)", "equal"),
    ("EXTRACT(MILLISECOND FROM TIMESTAMP '2008-12-25 05:30:07.123+00')", 123, f"{TS_FN} - EXTRACT: MILLISECOND", "equal"),
    ("EXTRACT(MICROSECOND FROM TIMESTAMP '2008-12-25 05:30:07.123456+00')", 123456, f"{TS_FN} - EXTRACT: MICROSECOND", "equal"),
    ("EXTRACT(DAYOFWEEK FROM TIMESTAMP '2008-12-27 23:30:00+00')", 7, f"{TS_FN} - EXTRACT: DAYOFWEEK in UTC", "equal"),
    # Truncation and date arithmetic
    ("DATE_TRUNC(DATE '2008-12-25', MONTH)", date(2008, 12, 1), f"{DATE_FN} - DATE_TRUNC example", "equal"),
    ("DATE_TRUNC(DATE '2017-11-05', WEEK(MONDAY))", date(2017, 10, 30), f"{DATE_FN} - DATE_TRUNC example", "equal"),
    ("DATE_TRUNC(DATE '2015-06-15', ISOYEAR)", date(2014, 12, 29), f"{DATE_FN} - DATE_TRUNC example: ISOYEAR", "equal"),
    ("DATE_TRUNC(DATE '2024-01-10', WEEK)", date(2024, 1, 7), f"{DATE_FN} - DATE_TRUNC: WEEK starts Sunday", "equal"),
    ("DATE_TRUNC(DATE '2021-01-03', ISOWEEK)", date(2020, 12, 28), f"{DATE_FN} - DATE_TRUNC: ISOWEEK starts Monday", "equal"),
    ("DATE_TRUNC(DATE '2024-05-10', QUARTER)", date(2024, 4, 1), f"{DATE_FN} - DATE_TRUNC: QUARTER", "equal"),
    ("DATE_TRUNC(TIMESTAMP '2008-12-25 15:30:00+00', DAY)", None, f"{DATE_FN} - DATE_TRUNC (use TIMESTAMP_TRUNC)", "refused"),
    ("LAST_DAY(DATE '2008-11-25', MONTH)", date(2008, 11, 30), f"{DATE_FN} - LAST_DAY example", "equal"),
    ("LAST_DAY(DATE '2008-11-25')", date(2008, 11, 30), f"{DATE_FN} - LAST_DAY example (MONTH default)", "equal"),
    ("LAST_DAY(DATE '2008-11-10', WEEK(MONDAY))", date(2008, 11, 16), f"{DATE_FN} - LAST_DAY example", "equal"),
    ("LAST_DAY(DATE '2008-11-10', WEEK)", date(2008, 11, 15), f"{DATE_FN} - LAST_DAY: WEEK ends Saturday", "equal"),
    ("LAST_DAY(DATE '2008-11-25', YEAR)", date(2008, 12, 31), f"{DATE_FN} - LAST_DAY example", "equal"),
    ("DATE_DIFF(DATE '2010-07-07', DATE '2008-12-25', DAY)", 559, f"{DATE_FN} - DATE_DIFF example", "equal"),
    ("DATE_DIFF(DATE '2017-10-15', DATE '2017-10-14', WEEK)", 1, f"{DATE_FN} - DATE_DIFF example (Sunday boundary)", "equal"),
    ("DATE_DIFF(DATE '2017-12-18', DATE '2017-12-17', WEEK)", 0, f"{DATE_FN} - DATE_DIFF example", "equal"),
    ("DATE_DIFF(DATE '2017-12-18', DATE '2017-12-17', WEEK(MONDAY))", 1, f"{DATE_FN} - DATE_DIFF example", "equal"),
    ("DATE_DIFF(DATE '2017-12-18', DATE '2017-12-17', ISOWEEK)", 1, f"{DATE_FN} - DATE_DIFF example", "equal"),
    ("DATE_DIFF(DATE '2017-12-30', DATE '2014-12-30', YEAR)", 3, f"{DATE_FN} - DATE_DIFF example", "equal"),
    ("DATE_ADD(DATE '2008-12-25', INTERVAL 5 DAY)", date(2008, 12, 30), f"{DATE_FN} - DATE_ADD example", "equal"),
    ("DATE_SUB(DATE '2008-12-25', INTERVAL 5 DAY)", date(2008, 12, 20), f"{DATE_FN} - DATE_SUB example", "equal"),
    ("DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH)", date(2024, 2, 29), f"{DATE_FN} - DATE_ADD: last day of the month", "equal"),
    ("DATE_FROM_UNIX_DATE(14238)", date(2008, 12, 25), f"{DATE_FN} - DATE_FROM_UNIX_DATE example", "equal"),
    ("UNIX_DATE(DATE '2008-12-25')", 14238, f"{DATE_FN} - UNIX_DATE example", "equal"),
    ("GENERATE_DATE_ARRAY('2016-10-05', '2016-10-08')", [date(2016, 10, d) for d in range(5, 9)], f"{ARR} - GENERATE_DATE_ARRAY example", "equal"),
    # Format elements
    ("FORMAT_DATE('%b-%d-%Y', DATE '2008-12-25')", "Dec-25-2008", f"{DATE_FN} - FORMAT_DATE example", "equal"),
    ("FORMAT_DATE('%b %Y', DATE '2008-12-25')", "Dec 2008", f"{DATE_FN} - FORMAT_DATE example", "equal"),
    ("FORMAT_DATE('%Y%m%d', DATE '2008-12-25')", "20081225", "Format elements for date and time parts - %Y %m %d", "equal"),
    ("FORMAT_DATE('%F %A %j', DATE '2008-12-25')", "2008-12-25 Thursday 360", "Format elements - %F %A %j", "equal"),
    ("FORMAT_DATE('%U %W %V %G', DATE '2016-01-03')", "01 00 53 2015", "Format elements - %U %W %V %G", "equal"),
    ("FORMAT_DATE('%x', DATE '2008-12-25')", "12/25/08", f"{DATE_FN} - FORMAT_DATE example: %x", "equal"),
    ("FORMAT_DATE('%e', DATE '2008-12-05')", " 5", "Format elements - %e (space padded)", "refused"),
    ("FORMAT_DATE('%Q', DATE '2008-12-25')", "4", "Format elements - %Q", "refused"),
    ("PARSE_DATE('%Y%m%d', '20081225')", date(2008, 12, 25), f"{DATE_FN} - PARSE_DATE example", "equal"),
    ("PARSE_DATE('%F', '2000-12-30')", date(2000, 12, 30), f"{DATE_FN} - PARSE_DATE example", "equal"),
    ("PARSE_DATE('%A %b %e %Y', 'Thursday Dec 25 2008')", date(2008, 12, 25), f"{DATE_FN} - PARSE_DATE example: %e", "refused"),
    # Time zones
    ("DATE(TIMESTAMP '2016-12-25 05:30:00+07', 'America/Los_Angeles')", date(2016, 12, 24), f"{DATE_FN} - DATE example", "equal"),
    ("TIMESTAMP_TRUNC(TIMESTAMP '2008-12-25 15:30:00+00', DAY, 'UTC')", datetime(2008, 12, 25, tzinfo=UTC), f"{TS_FN} - TIMESTAMP_TRUNC example", "equal"),
    ("TIMESTAMP_TRUNC(TIMESTAMP '2008-12-25 15:30:00+00', DAY, 'America/Los_Angeles')", datetime(2008, 12, 25, 8, tzinfo=UTC), f"{TS_FN} - TIMESTAMP_TRUNC example", "equal"),
    ("TIMESTAMP('2008-12-25 15:30:00', 'America/Los_Angeles')", datetime(2008, 12, 25, 23, 30, tzinfo=UTC), f"{TS_FN} - TIMESTAMP example", "equal"),
    ("EXTRACT(DAY FROM TIMESTAMP '2008-12-25 05:30:00+00' AT TIME ZONE 'America/Los_Angeles')", 24, f"{TS_FN} - EXTRACT example", "equal"),
    ("EXTRACT(HOUR FROM TIMESTAMP '2024-01-07 20:00:00+00' AT TIME ZONE 'Asia/Tokyo')", 5, f"{TS_FN} - EXTRACT ... AT TIME ZONE (JST = UTC+9)", "equal"),
    ("EXTRACT(HOUR FROM TIMESTAMP '2008-12-25 15:30:00+00')", 15, f"{TS_FN} - EXTRACT: UTC when no zone is given", "equal"),
    ("FORMAT_TIMESTAMP('%b-%d-%Y', TIMESTAMP '2050-12-25 15:30:55+00')", "Dec-25-2050", f"{TS_FN} - FORMAT_TIMESTAMP example", "equal"),
    ("FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', TIMESTAMP '2024-01-07 20:00:00+00', 'Asia/Tokyo')", "2024-01-08 05:00", f"{TS_FN} - FORMAT_TIMESTAMP with time_zone", "equal"),
    ("FORMAT_TIMESTAMP('%c', TIMESTAMP '2050-12-25 15:30:55+00', 'UTC')", "Sun Dec 25 15:30:55 2050", f"{TS_FN} - FORMAT_TIMESTAMP example: %c", "refused"),
    ("PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S', '2008-12-25 07:30:00')", datetime(2008, 12, 25, 7, 30, tzinfo=UTC), f"{TS_FN} - PARSE_TIMESTAMP (UTC default)", "equal"),
    ("TIMESTAMP_DIFF(TIMESTAMP '2010-07-07 10:20:00+00', TIMESTAMP '2008-12-25 15:30:00+00', HOUR)", 13410, f"{TS_FN} - TIMESTAMP_DIFF example", "equal"),
    ("TIMESTAMP_DIFF(TIMESTAMP '2008-12-26 15:29:00+00', TIMESTAMP '2008-12-25 15:30:00+00', DAY)", 0, f"{TS_FN} - TIMESTAMP_DIFF: DAY is 24 hours", "equal"),
    ("TIMESTAMP_ADD(TIMESTAMP '2008-12-25 15:30:00+00', INTERVAL 10 MINUTE)", datetime(2008, 12, 25, 15, 40, tzinfo=UTC), f"{TS_FN} - TIMESTAMP_ADD example", "equal"),
    ("UNIX_SECONDS(TIMESTAMP '2008-12-25 15:30:00+00')", 1230219000, f"{TS_FN} - UNIX_SECONDS example", "equal"),
    ("TIMESTAMP_SECONDS(1230219000)", datetime(2008, 12, 25, 15, 30, tzinfo=UTC), f"{TS_FN} - TIMESTAMP_SECONDS example", "equal"),
    ("CAST(TIMESTAMP '2008-12-25 15:30:00+00' AS STRING)", "2008-12-25 15:30:00+00", f"{CONV} - TIMESTAMP to STRING (UTC)", "equal"),
    # Safe math, division, rounding
    ("SAFE_DIVIDE(1, 0)", None, f"{MATH} - SAFE_DIVIDE", "equal"),
    ("SAFE_DIVIDE(10, 4)", 2.5, f"{MATH} - SAFE_DIVIDE", "equal"),
    ("IEEE_DIVIDE(20.0, 4.0)", 5.0, f"{MATH} - IEEE_DIVIDE table", "equal"),
    ("IEEE_DIVIDE(1, 0)", math.inf, f"{MATH} - IEEE_DIVIDE table", "equal"),
    ("IEEE_DIVIDE(-1, 0)", -math.inf, f"{MATH} - IEEE_DIVIDE table", "equal"),
    ("IEEE_DIVIDE(0, 0)", math.nan, f"{MATH} - IEEE_DIVIDE table", "equal"),
    ("1 / 0", "division by zero", f"{OPS} - Arithmetic operators: division by zero is an error", "error"),
    ("DIV(20, 4)", 5, f"{MATH} - DIV table", "equal"),
    ("DIV(12, -7)", -1, f"{MATH} - DIV table (rounds toward zero)", "equal"),
    ("DIV(20, 0)", "division by zero", f"{MATH} - DIV table: error", "error"),
    ("MOD(25, 12)", 1, f"{MATH} - MOD table", "equal"),
    ("MOD(-25, 12)", -1, f"{MATH} - MOD: sign of X", "equal"),
    ("MOD(25, 0)", "division by zero", f"{MATH} - MOD table: error", "error"),
    ("5 / 2", 2.5, f"{OPS} - Division returns FLOAT64", "equal"),
    ("0.1 + 0.2", 0.1 + 0.2, "Lexical structure - Floating point literals are FLOAT64", "equal"),
    ("ROUND(2.5)", 3.0, f"{MATH} - ROUND table (half away from zero)", "equal"),
    ("ROUND(-2.5)", -3.0, f"{MATH} - ROUND table", "equal"),
    ("ROUND(123.7, -1)", 120.0, f"{MATH} - ROUND table", "equal"),
    ("TRUNC(-2.7)", -2.0, f"{MATH} - TRUNC table", "equal"),
    ("CEIL(2.1)", 3.0, f"{MATH} - CEIL table", "equal"),
    ("CAST(2.5 AS INT64)", 3, f"{CONV} - FLOAT64 to INT64: halfway cases away from zero", "equal"),
    ("CAST(-2.5 AS INT64)", -3, f"{CONV} - FLOAT64 to INT64", "equal"),
    ("SAFE_CAST('apple' AS INT64)", None, "Conversion functions - SAFE_CAST example", "equal"),
    ("SAFE_ADD(9223372036854775807, 1)", None, f"{MATH} - SAFE_ADD: NULL on overflow", "equal"),
    ("SAFE_MULTIPLY(20, 4)", 80, f"{MATH} - SAFE_MULTIPLY example", "equal"),
    ("SAFE_SUBTRACT(5, 4)", 1, f"{MATH} - SAFE_SUBTRACT example", "equal"),
    ("SAFE_NEGATE(1)", -1, f"{MATH} - SAFE_NEGATE example", "equal"),
    ("CAST(CAST(1 AS FLOAT64) AS STRING)", "1", f"{CONV} - FLOAT64 to STRING", "refused"),
    # Strings (UTF-8 Japanese text included)
    ("LENGTH('日本語')", 3, f"{STR} - LENGTH: characters", "equal"),
    ("BYTE_LENGTH('日本語')", 9, f"{STR} - BYTE_LENGTH: bytes", "equal"),
    ("SUBSTR('apple', 2, 2)", "pp", f"{STR} - SUBSTR example", "equal"),
    ("SUBSTR('apple', -2)", "le", f"{STR} - SUBSTR example", "equal"),
    ("SUBSTR('apple', 0, 2)", "ap", f"{STR} - SUBSTR: position 0 is 1", "equal"),
    ("SUBSTR('apple', -123, 2)", "ap", f"{STR} - SUBSTR example: negative beyond the start is 1", "equal"),
    ("SUBSTR('日本語テキスト', 2, 3)", "本語テ", f"{STR} - SUBSTR: characters", "equal"),
    ("STRPOS('foo@example.com', '@')", 4, f"{STR} - STRPOS example", "equal"),
    ("LPAD('c', 5, 'ab')", "ababc", f"{STR} - LPAD example", "equal"),
    ("LPAD('abc', 2)", "ab", f"{STR} - LPAD: truncated to return_length", "equal"),
    ("SPLIT('a,b,c', ',')", ["a", "b", "c"], f"{STR} - SPLIT", "equal"),
    ("SPLIT('', ',')", [""], f"{STR} - SPLIT: an empty STRING gives one empty STRING", "equal"),
    ("REGEXP_EXTRACT('foo@example.com', r'^[a-zA-Z0-9_.+-]+')", "foo", f"{STR} - REGEXP_EXTRACT example", "equal"),
    ("REGEXP_EXTRACT('foo@example.com', r'^([a-z]+)@')", "foo", f"{STR} - REGEXP_EXTRACT: capturing group", "equal"),
    ("REGEXP_EXTRACT('foo', r'\\d')", None, f"{STR} - REGEXP_EXTRACT: NULL without a match", "equal"),
    ("REGEXP_CONTAINS('foo@example.com', r'@[a-z.]+\\.com$')", True, f"{STR} - REGEXP_CONTAINS example", "equal"),
    ("REGEXP_REPLACE('a1b2', r'\\d', 'x')", "axbx", f"{STR} - REGEXP_REPLACE: every match", "equal"),
    ("INITCAP('Hello World-everyone!')", "Hello World-Everyone!", f"{STR} - INITCAP example", "equal"),
    ("CONCAT('T.P.', ' ', 'Bar')", "T.P. Bar", f"{STR} - CONCAT example", "equal"),
    ("CONCAT('a', NULL)", None, f"{STR} - CONCAT: NULL if any argument is NULL", "equal"),
    ("TRIM('***apple***', '*')", "apple", f"{STR} - TRIM example", "equal"),
    ("FORMAT('|%10d|', 11)", "|        11|", f"{STR} - FORMAT example", "equal"),
    ("FORMAT('+%010d+', 12)", "+0000000012+", f"{STR} - FORMAT example", "equal"),
    ("FORMAT('%t', 12)", "12", f"{STR} - FORMAT %t", "refused"),
    ("CODE_POINTS_TO_STRING([65, 98, 67, 100])", "AbCd", f"{STR} - CODE_POINTS_TO_STRING example", "refused"),
    ("INSTR('banana', 'an', 1, 2)", 4, f"{STR} - INSTR example", "refused"),
    # Hashing (MD5/SHA return BYTES)
    ("TO_BASE64(MD5('Hello World'))", "sQqNsWTgdUEFt6mb5y4/5Q==", f"{HASH} - MD5 example", "equal"),
    ("TO_HEX(MD5('Hello World'))", "b10a8db164e0754105b7a99be72e3fe5", f"{HASH} - MD5 (BYTES) with TO_HEX", "equal"),
    ("MD5('Hello World')", bytes.fromhex("b10a8db164e0754105b7a99be72e3fe5"), f"{HASH} - MD5 returns BYTES", "equal"),
    ("TO_BASE64(SHA1('Hello World'))", "Ck1VqNd45QIvq3AZd8XYQLvEhtA=", f"{HASH} - SHA1 example", "equal"),
    ("TO_BASE64(SHA256('Hello World'))", "pZGm1Av0IEBKARczz7exkNYsZb8LzaMrV7J32a2fFG4=", f"{HASH} - SHA256 example", "equal"),
    ("SHA512('Hello World')", None, f"{HASH} - SHA512", "refused"),
    ("FARM_FINGERPRINT(CONCAT(CAST(1 AS STRING), 'foo', CAST(true AS STRING)))", -1541654101129638711, f"{HASH} - FARM_FINGERPRINT example", "equal"),
    ("FARM_FINGERPRINT(CONCAT(CAST(2 AS STRING), 'apple', CAST(false AS STRING)))", 2794438866806483259, f"{HASH} - FARM_FINGERPRINT example", "equal"),
    ("FARM_FINGERPRINT(CONCAT(CAST(3 AS STRING), '', CAST(true AS STRING)))", -4880158226897771312, f"{HASH} - FARM_FINGERPRINT example", "equal"),
    # Arrays
    ("ARRAY_LENGTH([1, 2, 3, 4])", 4, f"{ARR} - ARRAY_LENGTH", "equal"),
    ("GENERATE_ARRAY(1, 5)", [1, 2, 3, 4, 5], f"{ARR} - GENERATE_ARRAY example", "equal"),
    ("GENERATE_ARRAY(0, 10, 3)", [0, 3, 6, 9], f"{ARR} - GENERATE_ARRAY example", "equal"),
    ("ARRAY_CONCAT([1, 2], [3, 4])", [1, 2, 3, 4], f"{ARR} - ARRAY_CONCAT example", "equal"),
    ("ARRAY_TO_STRING(['coffee', 'tea'], '--')", "coffee--tea", f"{ARR} - ARRAY_TO_STRING", "equal"),
    ("[1, 2, 3][OFFSET(1)]", 2, f"{OPS} - Array subscript operator: OFFSET is zero-based", "equal"),
    ("[1, 2, 3][ORDINAL(1)]", 1, f"{OPS} - Array subscript operator: ORDINAL is one-based", "equal"),
    ("[1, 2, 3][SAFE_OFFSET(5)]", None, f"{OPS} - Array subscript operator: SAFE_OFFSET", "equal"),
    ("[1, 2, 3][OFFSET(5)]", "out of bounds", f"{OPS} - Array subscript operator: out of range is an error", "error"),
    ("(SELECT SUM(x * o) FROM UNNEST([10, 20, 30]) AS x WITH OFFSET AS o)", 80, f"{QUERY} - UNNEST ... WITH OFFSET (zero-based)", "equal"),
    ("(SELECT ARRAY_AGG(x ORDER BY x DESC) FROM UNNEST([2, 1, 3]) AS x)", [3, 2, 1], f"{AGG} - ARRAY_AGG ... ORDER BY", "equal"),
    ("(SELECT ARRAY_AGG(IFNULL(x, -1) ORDER BY x) FROM UNNEST([2, NULL, 1]) AS x)", [-1, 1, 2], f"{QUERY} - ORDER BY: NULLs first ascending", "equal"),
    ("(SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a', 'c']) AS x)", "a,b,c", f"{AGG} - STRING_AGG", "equal"),
    ("3 IN UNNEST([1, 2, 3])", True, f"{OPS} - IN UNNEST", "equal"),
    # Aggregates, approximate aggregates
    ("(SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) AS x)", 2, f"{AGG} - COUNTIF", "equal"),
    ("(SELECT LOGICAL_AND(x) FROM UNNEST([true, false, true]) AS x)", False, f"{AGG} - LOGICAL_AND", "equal"),
    ("(SELECT LOGICAL_OR(x) FROM UNNEST([true, false]) AS x)", True, f"{AGG} - LOGICAL_OR", "equal"),
    ("(SELECT AVG(x) FROM UNNEST([1, 2]) AS x)", 1.5, f"{AGG} - AVG returns FLOAT64", "equal"),
    ("(SELECT APPROX_COUNT_DISTINCT(x) FROM UNNEST([0, 1, 1, 2, 3, 5]) AS x)", 5, f"{APPROX} - APPROX_COUNT_DISTINCT example", "equal"),
    (f"(SELECT APPROX_QUANTILES(x, 2) FROM {NUMS} AS x)", [1, 5, 10], f"{APPROX} - APPROX_QUANTILES example", "equal"),
    (f"(SELECT APPROX_QUANTILES(DISTINCT x, 2) FROM {NUMS} AS x)", [1, 6, 10], f"{APPROX} - APPROX_QUANTILES example", "equal"),
    ("(SELECT APPROX_TOP_COUNT(x, 2) FROM UNNEST(['a', 'b', 'a']) AS x)", None, f"{APPROX} - APPROX_TOP_COUNT", "refused"),
    # Window functions and QUALIFY
    ("(SELECT ARRAY_AGG(r ORDER BY x) FROM (SELECT x, RANK() OVER (ORDER BY x) AS r FROM UNNEST([10, 20, 20, 30]) AS x))", [1, 2, 2, 4], f"{WIN} - RANK", "equal"),
    ("(SELECT ARRAY_AGG(x ORDER BY x) FROM (SELECT x FROM UNNEST([3, 1, 2]) AS x QUALIFY ROW_NUMBER() OVER (ORDER BY x) <= 2))", [1, 2], f"{QUERY} - QUALIFY clause", "equal"),
    ("(SELECT ARRAY_AGG(IFNULL(l, 0) ORDER BY x) FROM (SELECT x, LAG(x) OVER (ORDER BY x) AS l FROM UNNEST([1, 2, 3]) AS x))", [0, 1, 2], "Navigation functions - LAG", "equal"),
    ("(SELECT ARRAY_AGG(s ORDER BY x) FROM (SELECT x, SUM(x) OVER (ORDER BY x) AS s FROM UNNEST([1, 2, 3]) AS x))", [1, 3, 6], f"{WIN} - cumulative SUM (default frame)", "equal"),
    # Conditional expressions
    ("IF(1 > 0, 'a', 'b')", "a", f"{COND} - IF", "equal"),
    ("IFNULL(NULL, 1)", 1, f"{COND} - IFNULL", "equal"),
    ("GREATEST(1, NULL)", None, f"{MATH} - GREATEST: NULL if any input is NULL", "equal"),
    ("LEAST(3, 1, 2)", 1, f"{MATH} - LEAST", "equal"),
    ("NULLIF(0, 0)", None, f"{COND} - NULLIF", "equal"),
]


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> DuckDBWarehouse:
    return DuckDBWarehouse(tmp_path_factory.mktemp("fidelity") / "w.duckdb", lock_timeout_seconds=30)


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    return got == want and (want is None or type(got) is type(want))


def test_the_table_covers_at_least_sixty_constructs() -> None:
    assert len(TABLE) >= 60
    assert {outcome for *_, outcome in TABLE} == {"equal", "error", "refused"}


@pytest.mark.parametrize(("bigquery_sql", "documented", "citation", "outcome"), TABLE, ids=[r[0][:60] for r in TABLE])
def test_duckdb_gives_bigquerys_value_or_refuses(
    wh: DuckDBWarehouse, bigquery_sql: str, documented: Any, citation: str, outcome: str
) -> None:
    sql = f"select\n  {bigquery_sql} as v"  # the construct is on line 2
    if outcome == "refused":
        with pytest.raises(UntranslatableSql) as refused:
            wh.query_arrow(sql)
        construct = next(n for n in re.findall(r"([A-Z_0-9]+)\s*\(", bigquery_sql) if n != "SELECT")
        assert str(refused.value).startswith("<query>:2: uses a construct")
        assert construct in refused.value.construct.upper()
        return
    if outcome == "error":
        with pytest.raises(WarehouseError, match=documented):
            wh.query_arrow(sql)
        return
    got = wh.query_arrow(sql).to_pylist()[0]["v"]
    assert _same(got, documented), f"{bigquery_sql}: DuckDB gives {got!r}, BigQuery documents {documented!r} ({citation})"


def test_the_model_guard_names_file_line_and_construct_before_anything_runs(tmp_path) -> None:  # noqa: ANN001
    from adctr.warehouse import elt

    base = elt.all_sql_models()["staging.ad_performance"]
    path = tmp_path / "sql" / "staging" / "ad_performance.sql"
    path.parent.mkdir(parents=True)
    path.write_text("select\n  report_date,\n  format_date('%e', report_date) as d\nfrom raw.ad_performance\n")
    model = elt.SqlModel(base.table_id, path, (), base.dag)
    with pytest.raises(elt.SqlModelError, match=r"ad_performance\.sql:3: uses a construct .*FORMAT_DATE.* element %e"):
        elt.check(model, path.read_text())

