"""BigQuery Standard SQL -> DuckDB SQL that gives BigQuery's values, or a refusal before it runs.

sqlglot translates the syntax; several constructs keep their name but change meaning on the way
(EXTRACT(DAYOFWEEK) is 1..7 from Sunday in BigQuery, 0..6 in DuckDB; WEEK counts Sunday weeks,
DuckDB's is the ISO week; `1 / 0` is an error in BigQuery and `inf` in DuckDB ...). This pass
rewrites those nodes to DuckDB expressions with BigQuery's semantics, and refuses what it cannot
express with an error naming the file, the line and the construct. docs/sql.md lists both, and
tests/unit/test_sql_fidelity.py pins each against BigQuery's documented values.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from functools import lru_cache

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.optimizer.annotate_types import annotate_types

from adctr.core.errors import PermanentError
from adctr.warehouse.base import WarehouseError

_SQL: contextvars.ContextVar[str] = contextvars.ContextVar("bigquery_sql", default="")
FARM_FINGERPRINT_UDF = "bq_farm_fingerprint"
WEEKDAYS = ("SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
# EXTRACT parts whose DuckDB value equals BigQuery's as sqlglot writes them (others are rewritten
# below or refused).
SAME_EXTRACT_PARTS = {
    "YEAR", "MONTH", "DAY", "DAYOFYEAR", "QUARTER", "ISOYEAR",
    "HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND",
}  # fmt: skip
# FORMAT_*/PARSE_* elements (after sqlglot's mapping) that DuckDB's strftime/strptime render as
# BigQuery does; anything else (%e space padding, %Q, %C, %g, %z, %Z, %c, %x, %E...) is refused.
SAME_FORMAT_ELEMENTS = {
    "%Y", "%m", "%d", "%H", "%M", "%S", "%j", "%a", "%A", "%b", "%B", "%h", "%y", "%p", "%I",
    "%U", "%W", "%V", "%G", "%u", "%w", "%X", "%%",
}  # fmt: skip
# FORMAT() conversions printf renders like BigQuery (no %t/%T, %g, %p).
FORMAT_SPEC = re.compile(r"%[-+ #0']*\d*(?:\.\d+)?([a-zA-Z%])")
SAME_FORMAT_CONVERSIONS = set("disfFxXoeE%")
TIMESTAMP_TYPES = {
    exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ,
    exp.DataType.Type.DATETIME,
}  # fmt: skip
FLOAT_TYPES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
BINARY_TYPES = {exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY}


class UntranslatableSql(PermanentError, WarehouseError):
    """A BigQuery construct DuckDB would answer differently and that no rewrite covers."""

    def __init__(self, source: str, line: int, construct: str, reason: str) -> None:
        self.source, self.line, self.construct, self.reason = source, line, construct, reason
        super().__init__(
            f"{source}:{line}: uses a construct the embedded DuckDB warehouse cannot run "
            f"faithfully: {construct} ({reason})"
        )


class _Refusal(Exception):
    def __init__(self, node: exp.Expression, construct: str, reason: str) -> None:
        super().__init__(construct)
        self.node, self.construct, self.reason = node, construct, reason


def translate(sql: str, source: str = "<query>") -> str:
    """One BigQuery statement as DuckDB SQL with BigQuery's semantics; raises UntranslatableSql.

    Machine-written CASE trees (a compiled model's, `adctr.scoring.tree_sql`) are most of a
    scoring statement and would be most of sqlglot's work (parse, types, generate: seconds per
    model). They are rewritten by `_case_trees` instead, to exactly the text sqlglot writes for
    them, and spliced into sqlglot's translation of the rest.
    """
    template, trees = _case_trees(sql)
    if not trees:
        return _translate(sql, source)
    translated = _translate(template, source)
    seen: list[int] = []

    def splice(match: re.Match[str]) -> str:
        seen.append(int(match.group(1)))
        return trees[int(match.group(1))]

    out = _PLACEHOLDER_OUT.sub(splice, translated)
    if sorted(seen) != list(range(len(trees))):  # a placeholder sqlglot did not keep as written
        return _translate(sql, source)
    return out


def _translate(sql: str, source: str) -> str:
    """The whole statement through sqlglot and the rewrite rules."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise WarehouseError(f"SQL does not parse as BigQuery: {exc}") from exc
    if len(statements) != 1:
        raise WarehouseError(f"expected one SQL statement, got {len(statements)}")
    tree = statements[0]
    try:
        annotate_types(tree, dialect="bigquery")
    except Exception:  # noqa: BLE001 - types only sharpen the rewrites; unknown is handled
        pass
    # Children before parents: a rewritten argument is in place before its caller is looked at.
    for node in reversed(list(tree.walk())):
        rule = _RULES.get(type(node))
        if rule is None:
            continue
        try:
            new = rule(node)
        except _Refusal as refusal:
            raise UntranslatableSql(source, _line(refusal.node, sql), refusal.construct, refusal.reason) from None
        if new is not None and new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    token = _SQL.set(sql)
    try:
        _check_functions(tree)
    except _Refusal as refusal:
        raise UntranslatableSql(source, _line(refusal.node, sql), refusal.construct, refusal.reason) from None
    finally:
        _SQL.reset(token)
    return _generate(tree, sql, source)


# --- CASE trees: a fast path for the one machine-written construct of a compiled model --------
#
# Grammar (what tree_sql writes; anything else is left to sqlglot):
#   tree  := CASE WHEN cond THEN value ELSE value END        (values: FLOAT64, so the tree is)
#   value := tree | float
#   cond  := term ((AND | OR) term)*
#   term  := '(' cond ')' | col (<= | = | !=) float | col IS NULL | col IN '(' int (, int)* ')'
#   float := [-]number with '.' or 'e' | CAST('inf' AS FLOAT64) | CAST('-inf' AS FLOAT64)
#   col   := _f<digits>
# Its DuckDB text is sqlglot's: keywords upper case, != as <>, each float literal as
# CAST(x AS DOUBLE) (`_literal`: DuckDB reads 0.5 as DECIMAL), a negative one as -CAST(...).
# In the template a tree becomes `cast(<placeholder> as float64)`: a FLOAT64 like the tree, so
# the rules over its ancestors (which look at types) see what they saw before.
_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>--[^\n]*|\#[^\n]*|/\*.*?\*/)"""
    r"""|(?P<string>[rRbB]*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))|(?P<quoted>`[^`]*`)"""
    r"""|(?P<number>-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<op><=|>=|!=|<>|[(),=<>])|(?P<other>.)""",
    re.DOTALL,
)
_PLACEHOLDER = "_adctr_case_tree_"
_PLACEHOLDER_OUT = re.compile(rf"CAST\({_PLACEHOLDER}(\d+) AS DOUBLE\)")
_COLUMN = re.compile(r"_f\d+")
_INF = ("'inf'", "'-inf'")


class _NotATree(Exception):
    """The tokens leave the grammar: sqlglot translates this CASE."""


class _TreeParser:
    """Recursive descent over the tokens of one candidate tree; emits sqlglot's DuckDB text."""

    def __init__(self, tokens: list[tuple[str, str]], start: int) -> None:
        self.tokens, self.i = tokens, start

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.tokens[j][1].lower() if j < len(self.tokens) else ""

    def take(self, *allowed: str) -> str:
        """The next token as written (one of `allowed`, compared in lower case)."""
        word = self.peek()
        if not word or (allowed and word not in allowed):
            raise _NotATree
        self.i += 1
        return self.tokens[self.i - 1][1]

    def tree(self) -> str:
        self.take("case")
        self.take("when")
        cond = self.cond()
        self.take("then")
        left = self.value()
        self.take("else")
        right = self.value()
        self.take("end")
        return f"CASE WHEN {cond} THEN {left} ELSE {right} END"

    def value(self) -> str:
        return self.tree() if self.peek() == "case" else self.float()

    def float(self) -> str:
        kind, text = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if kind == "number" and re.search(r"[.e]", text):
            self.i += 1
            sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
            return f"{sign}CAST({digits} AS DOUBLE)"
        self.take("cast")
        self.take("(")
        inf = self.take(*_INF)
        self.take("as")
        self.take("float64")
        self.take(")")
        return f"CAST({inf} AS DOUBLE)"

    def cond(self) -> str:
        out = self.term()
        while self.peek() in ("and", "or"):
            out += f" {self.take().upper()} {self.term()}"
        return out

    def term(self) -> str:
        if self.peek() == "(":
            self.take("(")
            inner = self.cond()
            self.take(")")
            return f"({inner})"
        column = self.take()
        if not _COLUMN.fullmatch(column):
            raise _NotATree
        op = self.take("<=", "=", "!=", "is", "in").lower()
        if op == "is":
            self.take("null")
            return f"{column} IS NULL"
        if op == "in":
            self.take("(")
            values = [self.integer()]
            while self.peek() == ",":
                self.take(",")
                values.append(self.integer())
            self.take(")")
            return f"{column} IN ({', '.join(values)})"
        return f"{column} {'<>' if op == '!=' else op} {self.float()}"

    def integer(self) -> str:
        kind, text = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if kind != "number" or not text.isdigit():
            raise _NotATree
        self.i += 1
        return text


def _case_trees(sql: str) -> tuple[str, list[str]]:
    """`sql` with each CASE tree (outside strings and comments) replaced by a placeholder, and
    the trees' DuckDB text; no trees: (sql, []). A comment inside a CASE keeps it out (sqlglot
    would carry the comment along)."""
    if "case" not in sql.lower() or _PLACEHOLDER in sql:
        return sql, []
    matches = [m for m in _TOKEN.finditer(sql) if m.lastgroup != "space"]
    tokens = [(m.lastgroup or "", m.group()) for m in matches]
    parts: list[str] = []
    trees: list[str] = []
    at, i = 0, 0
    while i < len(tokens):
        starts = tokens[i][0] == "word" and tokens[i][1].lower() == "case"
        if starts and i + 1 < len(tokens) and tokens[i + 1][1].lower() == "when":
            parser = _TreeParser(tokens, i)
            try:
                text = parser.tree()
            except _NotATree:
                i += 1
                continue
            if parser.peek() in (".", "["):  # a field or element of the tree's value: not ours
                i += 1
                continue
            start, end = matches[i].start(), matches[parser.i - 1].end()
            newlines = "\n" * sql.count("\n", start, end)  # error messages keep their lines
            parts += [sql[at:start], f"cast({_PLACEHOLDER}{len(trees)} as float64){newlines}"]
            trees.append(text)
            at, i = end, parser.i
            continue
        i += 1
    parts.append(sql[at:])
    return "".join(parts), trees


# Written by sqlglot as call syntax but not in DuckDB's function catalogue.
SPECIAL_FORMS = {"CAST", "TRY_CAST", "EXTRACT", "COALESCE", "TRY", "EXISTS", "STRUCT_PACK", "IF", "ROW",
                 "GROUPING", "UNNEST", "COLUMNS", "INTERVAL", "CASE", "NOT", "ANY", "ALL", "SOME"}  # fmt: skip
# Nodes DuckDB always writes as one of those forms: not generated one by one to be checked (that
# is quadratic in nesting: a compiled tree model is thousands of nested CASEs and CASTs).
SPECIAL_FORM_NODES = (exp.Case, exp.If, exp.Cast, exp.TryCast)


def _check_functions(tree: exp.Expression) -> None:
    """Refuse a function sqlglot passes through by name that DuckDB does not have: it would fail
    only when run, with DuckDB's own message."""
    functions = _duckdb_functions()
    for node in tree.walk():
        if not isinstance(node, exp.Func) or isinstance(node, (exp.Anonymous, *SPECIAL_FORM_NODES)):
            continue
        try:
            text = node.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE)
        except sqlglot.errors.SqlglotError:
            continue
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\(", text)
        if match and match.group(1).upper() not in SPECIAL_FORMS and match.group(1).lower() not in functions:
            raise _Refusal(node, _source_name(node, _SQL.get()), "not translated and DuckDB has no function of that name")


def register_functions(con: object) -> None:
    """DuckDB functions the translation calls (registered on every warehouse connection)."""
    import duckdb

    if not _has_farmhash():
        return  # FARM_FINGERPRINT is refused by the translation then
    import farmhash

    def farm_fingerprint(value: str) -> int:
        # Fingerprint64 is unsigned; BigQuery returns the same 64 bits as a signed INT64.
        h = farmhash.fingerprint64(value)
        return h - (1 << 64) if h >= 1 << 63 else h

    con.create_function(  # type: ignore[attr-defined]
        FARM_FINGERPRINT_UDF, farm_fingerprint, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("BIGINT"),
        side_effects=False,
    )  # fmt: skip


def _has_farmhash() -> bool:
    import importlib.util

    return importlib.util.find_spec("farmhash") is not None


def _generate(tree: exp.Expression, sql: str, source: str) -> str:
    try:
        return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except sqlglot.errors.UnsupportedError as exc:
        # Name the innermost node that alone fails to generate, for its line.
        culprit = tree
        for node in reversed(list(tree.walk())):
            try:
                node.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
            except sqlglot.errors.UnsupportedError:
                culprit = node
                break
        reason = str(exc).strip()
        raise UntranslatableSql(source, _line(culprit, sql), _source_name(culprit, sql), reason) from exc


def _source_name(node: exp.Expression, sql: str) -> str:
    """The construct as the file spells it (a function's name), else sqlglot's name for it."""
    start, end = node.meta.get("start"), node.meta.get("end")
    if isinstance(start, int) and isinstance(end, int) and isinstance(node, exp.Func):
        return sql[start : end + 1].upper()
    name = node.meta.get("bigquery_name")
    return str(name).upper() if name else (node.sql_name() if isinstance(node, exp.Func) else type(node).__name__)


def _line(node: exp.Expression, sql: str) -> int:
    for n in node.walk():
        if n.meta.get("line"):
            return int(n.meta["line"])
    parent = node.parent
    while parent is not None:
        if parent.meta.get("line"):
            return int(parent.meta["line"])
        parent = parent.parent
    return 1


def _duck(template: str, **args: exp.Expression) -> exp.Expression:
    """A DuckDB expression from a template whose columns named like `args` are those nodes."""
    tree = sqlglot.parse_one(template, read="duckdb")
    for column in list(tree.find_all(exp.Column)):
        if column.name in args and not column.table:
            column.replace(args[column.name].copy())
    return tree


def _type_is(node: exp.Expression, kinds: set[exp.DataType.Type]) -> bool:
    """Whether sqlglot's annotation (or a cast written here) gives `node` one of `kinds`."""
    kind = node.to if isinstance(node, exp.Cast) else node.type
    return kind is not None and kind.this in kinds


def _unit_name(unit: exp.Expression | None) -> str:
    if unit is None:
        return "DAY"
    if isinstance(unit, exp.WeekStart):
        return f"WEEK({unit.this.name.upper()})"
    return unit.name.upper()


def _week_start(unit: str) -> int | None:
    """The weekday (0 = Sunday) a BigQuery week part starts on, or None if not a week part."""
    if unit == "WEEK":
        return 0
    if unit == "ISOWEEK":
        return 1
    match = re.fullmatch(r"WEEK\((\w+)\)", unit)
    return WEEKDAYS.index(match.group(1)) if match and match.group(1) in WEEKDAYS else None


def _extract(node: exp.Extract) -> exp.Expression | None:
    part, value = _unit_name(node.this), node.expression
    if part == "DAYOFWEEK":  # BigQuery 1 = Sunday .. 7; DuckDB DAYOFWEEK 0 = Sunday .. 6
        return _duck("(DAYOFWEEK(v) + 1)", v=value)
    if part == "ISOWEEK":  # DuckDB's WEEK is the ISO week
        return _duck("CAST(WEEKOFYEAR(v) AS BIGINT)", v=value)
    start = _week_start(part)
    if start is not None:
        # Weeks start on `start`; days before the year's first such day are week 0.
        return _duck(
            f"CAST((DAYOFYEAR(v) + 6 - ((DAYOFWEEK(v) + 7 - {start}) % 7)) // 7 AS BIGINT)", v=value
        )
    if part == "DATE":  # sessions run in UTC, BigQuery's default zone
        return _duck("CAST(v AS DATE)", v=value)
    if part not in SAME_EXTRACT_PARTS:
        raise _Refusal(node, f"EXTRACT({part})", "no DuckDB date part with BigQuery's values")
    # DATE_PART, not EXTRACT: sqlglot refuses EXTRACT from a TIMESTAMP for the session zone, which
    # the warehouse pins to UTC. DuckDB's MILLISECOND/MICROSECOND include the seconds.
    modulo = {"MILLISECOND": " % 1000", "MICROSECOND": " % 1000000"}.get(part, "")
    return _duck(f"CAST(DATE_PART('{part.lower()}', v){modulo} AS BIGINT)", v=value)


def _timestamp_diff(node: exp.TimestampDiff) -> exp.Expression:
    """BigQuery counts whole units elapsed (DAY = 24 hours); DuckDB's DATE_DIFF counts boundaries."""
    unit = _unit_name(node.args.get("unit"))
    if unit not in {"MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY"}:
        raise _Refusal(node, f"TIMESTAMP_DIFF({unit})", "not a TIMESTAMP_DIFF part")
    return _duck(f"DATE_SUB('{unit.lower()}', b, a)", a=node.this, b=node.expression)


def _unnest(node: exp.Unnest) -> exp.Expression | None:
    """UNNEST ... WITH OFFSET counts from 0; sqlglot writes DuckDB's WITH ORDINALITY (from 1)."""
    offset = node.args.get("offset")
    if not offset:
        return None
    alias = node.args.get("alias")
    columns = alias.columns if alias else []
    if len(node.expressions) != 1 or len(columns) != 1 or not isinstance(offset, exp.Identifier):
        raise _Refusal(node, "UNNEST ... WITH OFFSET", "needs one array, an alias and an offset name")
    value, position = columns[0].name, offset.name
    return _duck(
        f"(SELECT {value}, __ordinal - 1 AS {position} FROM UNNEST(__array) WITH ORDINALITY "
        f"AS _u({value}, __ordinal)) AS _unnest_{value}",
        __array=node.expressions[0],
    ).find(exp.Subquery)


def _date_trunc(node: exp.DateTrunc) -> exp.Expression:
    unit, value = _unit_name(node.args.get("unit")), node.this
    if _type_is(value, TIMESTAMP_TYPES):
        raise _Refusal(node, "DATE_TRUNC(<timestamp>)", "truncate timestamps with TIMESTAMP_TRUNC")
    start = _week_start(unit)
    if start is not None:
        return _duck(f"CAST(v - CAST((DAYOFWEEK(v) + 7 - {start}) % 7 AS INTEGER) AS DATE)", v=value)
    if unit == "DAY":
        return _duck("CAST(v AS DATE)", v=value)
    if unit in {"MONTH", "QUARTER", "YEAR", "ISOYEAR"}:  # DuckDB returns a TIMESTAMP for a DATE
        return _duck(f"CAST(DATE_TRUNC('{unit.lower()}', v) AS DATE)", v=value)
    raise _Refusal(node, f"DATE_TRUNC({unit})", "no DuckDB truncation with BigQuery's value")


def _date_result(node: exp.Expression) -> exp.Expression:
    """BigQuery returns DATE where DuckDB's date + interval is a TIMESTAMP."""
    return exp.cast(node.copy(), exp.DataType.Type.DATE)


def _farm_fingerprint(node: exp.FarmFingerprint) -> exp.Expression:
    args = node.expressions
    if len(args) != 1 or _type_is(args[0], BINARY_TYPES):
        raise _Refusal(node, "FARM_FINGERPRINT(<bytes>)", "only STRING input is fingerprinted")
    if not _has_farmhash():
        raise _Refusal(node, "FARM_FINGERPRINT", "needs the pyfarmhash package (FarmHash Fingerprint64)")
    return exp.Anonymous(this=FARM_FINGERPRINT_UDF, expressions=[args[0].copy()])


def _nonzero_literal(node: exp.Expression) -> bool:
    inner = node.this if isinstance(node, exp.Neg) else node
    return isinstance(inner, exp.Literal) and not inner.is_string and float(inner.this) != 0


def _checked_division(operator: str) -> Callable[[exp.Expression], exp.Expression | None]:
    """BigQuery raises on a zero divisor (`/`, DIV, MOD); DuckDB returns inf or NULL."""

    def rule(node: exp.Expression) -> exp.Expression | None:
        if _nonzero_literal(node.expression):
            return None
        return _duck(
            f"CASE WHEN b = 0 THEN ERROR('division by zero') ELSE (a {operator} b) END",
            a=node.this, b=node.expression,
        )  # fmt: skip

    return rule


def _anonymous(node: exp.Anonymous) -> exp.Expression | None:
    name = node.name.upper()
    args = node.expressions
    if name == "IEEE_DIVIDE" and len(args) == 2:  # DuckDB's double division is IEEE 754
        return _duck("(CAST(a AS DOUBLE) / CAST(b AS DOUBLE))", a=args[0], b=args[1])
    if name == FARM_FINGERPRINT_UDF.upper():
        return None
    if name.lower() not in _duckdb_functions():
        raise _Refusal(node, name, "not translated and DuckDB has no function of that name")
    return None


@lru_cache(maxsize=1)
def _duckdb_functions() -> frozenset[str]:
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute("select distinct lower(function_name) from duckdb_functions()").fetchall()
    return frozenset(r[0] for r in rows)


def _substring(node: exp.Substring) -> exp.Expression | None:
    """BigQuery: position 0 means 1, a negative position beyond the start means 1, a negative
    length is an error; DuckDB counts position 0 as before the first character."""
    start, length = node.args.get("start"), node.args.get("length")
    changed = False
    if start is not None and not (isinstance(start, exp.Literal) and not start.is_string and int(start.this) > 0):
        start = _duck("CASE WHEN p = 0 OR p < -LENGTH(s) THEN 1 ELSE p END", p=start, s=node.this)
        changed = True
    if length is not None and not (isinstance(length, exp.Literal) and not length.is_string):
        length = _duck("CASE WHEN n < 0 THEN ERROR('SUBSTR length cannot be negative') ELSE n END", n=length)
        changed = True
    elif isinstance(length, exp.Neg):
        raise _Refusal(node, "SUBSTR(<negative length>)", "BigQuery raises an error")
    if not changed:
        return None
    return exp.Substring(this=node.this.copy(), start=start.copy() if start else None,
                         length=length.copy() if length else None)  # fmt: skip


def _byte_length(node: exp.ByteLength) -> exp.Expression:
    if _type_is(node.this, BINARY_TYPES):
        return _duck("OCTET_LENGTH(v)", v=node.this)
    return _duck("STRLEN(v)", v=node.this)  # bytes of the UTF-8 string


def _literal(node: exp.Literal) -> exp.Expression | None:
    """A BigQuery literal with a point or exponent is FLOAT64; DuckDB makes it a DECIMAL."""
    if node.is_string or not re.search(r"[.eE]", str(node.this)):
        return None
    parent = node.parent.parent if isinstance(node.parent, exp.Neg) else node.parent
    if isinstance(parent, (exp.Interval, exp.DataTypeParam)):
        return None
    return exp.cast(node.copy(), exp.DataType.Type.DOUBLE)


def _cast(node: exp.Cast) -> exp.Expression | None:
    to = node.to.this
    if to in {exp.DataType.Type.BIGINT, exp.DataType.Type.INT} and _type_is(node.this, FLOAT_TYPES):
        # BigQuery rounds halfway cases away from zero; DuckDB rounds them to even.
        new = node.copy()
        new.set("this", _duck("ROUND(v)", v=node.this))
        return new
    if to in {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT} and _type_is(node.this, FLOAT_TYPES):
        raise _Refusal(node, "CAST(<FLOAT64> AS STRING)", "DuckDB writes 1.0 where BigQuery writes 1")
    return None


def _approx_distinct(node: exp.ApproxDistinct) -> exp.Expression:
    """Exact count: BigQuery's HLL++ estimate is exact for small inputs and within ~0.5% above."""
    return exp.Count(this=exp.Distinct(expressions=[node.this.copy()]))


def _approx_quantiles(node: exp.ApproxQuantiles) -> exp.Expression:
    """Exact quantiles picked from the input (BigQuery's are exact for small inputs)."""
    value, count = node.this, node.expression
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        value, count = value.expressions[0], value.expressions[1] if len(value.expressions) > 1 else None
    if not (isinstance(count, exp.Literal) and not count.is_string) or isinstance(value, exp.IgnoreNulls | exp.RespectNulls):
        raise _Refusal(node, "APPROX_QUANTILES", "needs a literal number of quantiles, NULLs ignored")
    n = int(count.this)
    points = ", ".join(str(i / n) for i in range(n + 1))
    return _duck(f"QUANTILE_DISC({'DISTINCT ' if distinct else ''}v, [{points}])", v=value)


def _check_format(node: exp.Expression, fmt: exp.Expression | None, construct: str) -> None:
    if not isinstance(fmt, exp.Literal) or not fmt.is_string:
        raise _Refusal(node, construct, "the format must be a literal to be checked")
    for element in re.findall(r"%[-_0^#]?[EO]?[0-9*]*[a-zA-Z%]", fmt.this):
        if element not in SAME_FORMAT_ELEMENTS:
            shown = "%e" if element == "%-d" else element
            raise _Refusal(node, f"{construct} element {shown}", "DuckDB renders it differently")


def _time_to_str(node: exp.TimeToStr) -> exp.Expression | None:
    _check_format(node, node.args.get("format"), "FORMAT_DATE/FORMAT_TIMESTAMP")
    zone = node.args.get("zone")
    if zone is None:
        return None
    value = node.this.this if isinstance(node.this, exp.TsOrDsToTimestamp) else node.this
    new = node.copy()
    new.set("zone", None)  # sqlglot drops the zone; render the wall-clock time there
    new.set("this", exp.AtTimeZone(this=exp.cast(value.copy(), exp.DataType.Type.TIMESTAMPTZ), zone=zone.copy()))
    return new


def _str_to_date(node: exp.Expression) -> None:
    _check_format(node, node.args.get("format"), "PARSE_DATE/PARSE_TIMESTAMP")


def _str_to_time(node: exp.StrToTime) -> exp.Expression:
    _check_format(node, node.args.get("format"), "PARSE_TIMESTAMP")
    zone = node.args.get("zone")
    parsed = node.copy()
    parsed.set("zone", None)
    if zone is not None:  # a wall-clock time in `zone`
        return exp.AtTimeZone(this=exp.cast(parsed, exp.DataType.Type.TIMESTAMP), zone=zone.copy())
    return exp.cast(parsed, exp.DataType.Type.TIMESTAMPTZ)  # an instant read as UTC


def _format(node: exp.Format) -> exp.Expression:
    """BigQuery FORMAT is printf-like; DuckDB's FORMAT is fmt-like, its PRINTF is printf."""
    fmt = node.this
    if not isinstance(fmt, exp.Literal) or not fmt.is_string:
        raise _Refusal(node, "FORMAT", "the format must be a literal to be checked")
    for conversion in FORMAT_SPEC.findall(fmt.this):
        if conversion not in SAME_FORMAT_CONVERSIONS:
            raise _Refusal(node, f"FORMAT %{conversion}", "DuckDB's printf renders it differently")
    return exp.Anonymous(this="PRINTF", expressions=[fmt.copy(), *(e.copy() for e in node.expressions)])


def _safe(template: str) -> Callable[[exp.Expression], exp.Expression]:
    """SAFE_ADD & co.: NULL where BigQuery would raise (overflow)."""

    def rule(node: exp.Expression) -> exp.Expression:
        return _duck(f"TRY({template})", a=node.this, b=node.args.get("expression") or node.this)

    return rule


def _safe_func(node: exp.SafeFunc) -> exp.Expression:
    """SAFE.f(...) returns NULL where f raises: DuckDB's TRY (which cannot wrap the ERROR()
    calls the rewrites above raise BigQuery's errors with)."""
    if any(isinstance(n, exp.Anonymous) and n.name.upper() == "ERROR" for n in node.walk()) or any(
        type(n).__name__ == "Error" for n in node.walk()
    ):
        raise _Refusal(node, f"SAFE.{node.this.sql_name()}", "DuckDB's TRY cannot catch this function's errors")
    return exp.Anonymous(this="TRY", expressions=[node.this.copy()])


def _bracket(node: exp.Bracket) -> exp.Expression | None:
    """arr[OFFSET(i)] / arr[ORDINAL(i)] out of range raise in BigQuery; DuckDB returns NULL."""
    offset = node.args.get("offset")
    if offset is None or node.args.get("safe") or len(node.expressions) != 1:
        return None
    return _duck(
        f"CASE WHEN i < {offset} OR i >= LEN(a) + {offset} THEN ERROR('Array index out of bounds') "
        "ELSE r END",
        i=node.expressions[0], a=node.this, r=node,
    )  # fmt: skip


_RULES: dict[type[exp.Expression], Callable[[exp.Expression], exp.Expression | None]] = {
    exp.Extract: _extract,
    exp.TimestampDiff: _timestamp_diff,
    exp.Unnest: _unnest,
    exp.DateTrunc: _date_trunc,
    exp.DateAdd: _date_result,
    exp.DateSub: _date_result,
    exp.DateFromUnixDate: _date_result,
    exp.FarmFingerprint: _farm_fingerprint,
    exp.Div: _checked_division("/"),
    exp.IntDiv: _checked_division("//"),
    exp.Mod: _checked_division("%"),
    exp.Anonymous: _anonymous,
    exp.Substring: _substring,
    exp.ByteLength: _byte_length,
    exp.Literal: _literal,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.ApproxDistinct: _approx_distinct,
    exp.ApproxQuantiles: _approx_quantiles,
    exp.TimeToStr: _time_to_str,
    exp.StrToDate: _str_to_date,
    exp.StrToTime: _str_to_time,
    exp.Format: _format,
    exp.SafeAdd: _safe("a + b"),
    exp.SafeSubtract: _safe("a - b"),
    exp.SafeMultiply: _safe("a * b"),
    exp.SafeNegate: _safe("-a"),
    exp.SafeFunc: _safe_func,
    exp.Bracket: _bracket,
}
