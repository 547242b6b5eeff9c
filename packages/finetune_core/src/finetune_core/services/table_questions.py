"""dualqueryintelligence's dual query: a chat bound to an uploaded table answers a question about it by computing.

The chat model is asked for ONE SQL query over the table (named `t`) and a chart to draw its result; DuckDB runs
the query and the answer's figures are written here from the result, never by the model. A query that fails is
sent back to the model once with DuckDB's error; a second failure is QUERY_FAILED.

The text must parse (DuckDB's own parser) as exactly one statement of type SELECT (WITH ... SELECT, VALUES,
DESCRIBE, SUMMARIZE are SELECTs too), else QUERY_REFUSED. It then runs in an in-memory connection of its own that
read the file into `t` and was locked before: `enable_external_access = false` (no file, URL, database or
extension read or written: read_csv, read_parquet, glob, COPY, EXPORT, ATTACH of a file, INSTALL/LOAD fail),
`python_enable_replacements = false` (no Python variable read as a table), `lock_configuration = true` (no
SET/RESET undoes them); `threads`, `memory_limit` and no temporary directory bound the resources, a timer thread
calls `interrupt()` at the time limit, and at most `max_rows + 1` rows are fetched.

`is_analytics_question` tells a question about the table (computed: `query_type` analytics) from one a table chat
answers normally (general). DuckDB is imported on first use: a process that never computes does not load it.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from finetune_core.domain import Message, SourceKind, SourceStatus, SourceType
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.generation.lenient_json import json_values
from finetune_core.services.datasets import require_dataset
from finetune_core.sources.tabular import JSON_LIST_KEYS

if TYPE_CHECKING:
    import duckdb

    from finetune_core.chat.base import ChatModel
    from finetune_core.ports import WorkspacePort

TABLE = "t"
SAMPLE_ROWS = 5
QUERY_TIMEOUT_S = 5.0
MAX_ROWS = 1000
CHART_POINTS = 50
SHOWN_ROWS = 10
CHART_TYPES = ("bar", "line", "pie", "table")
THREADS, MEMORY_LIMIT = 2, "1GB"
REASON_CHARS, CELL_CHARS = 600, 80
FileFormat = Literal["csv", "json"]


class TableColumn(BaseModel):
    name: str
    type: str  # DuckDB's: VARCHAR, BIGINT, DOUBLE, DATE...


class TableInfo(BaseModel):
    """A dataset's uploaded table as the model is shown it: queried as `t`."""

    dataset_id: str
    source_id: str
    file_name: str
    path: Path
    file_format: FileFormat
    name: str = TABLE
    columns: list[TableColumn]
    row_count: int
    sample_rows: list[list[Any]]


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]  # JSON values: decimals as floats, dates as ISO text
    truncated: bool = False  # more rows than max_rows: only max_rows are kept


class TableAnswer(BaseModel):
    content: str  # the figures, written from the result
    charts: list[dict[str, Any]]  # one: {"type", "x", "y", "data": [{x: .., y: ..}], "sql"}
    query: str
    result: QueryResult


def load_table(workspace: WorkspacePort, dataset_id: str) -> TableInfo:
    """The dataset's table: its first loaded upload (CSV, JSONL or JSON), with DuckDB's column types and samples.

    NotFoundError when there is no such dataset or its file is gone; InvalidInputError (NO_TABLE) when the
    dataset has no uploaded table, (TABLE_NOT_READY) while it is not loaded, (TABLE_UNREADABLE) when DuckDB
    cannot read it.
    """
    project = require_dataset(workspace, dataset_id)
    with workspace.unit_of_work() as uow:
        uploads, _ = uow.sources.search(project.id, kind=SourceKind.DATASET_UPLOAD.value)
    ready = [source for source in uploads if source.status is SourceStatus.READY and source.storage_key]
    if not ready and uploads:
        raise InvalidInputError(f"the table file {uploads[0].name} of dataset '{dataset_id}' is "
                                f"{uploads[0].status.value}, not loaded: questions are computed over it once it is",
                                error_code="TABLE_NOT_READY", dataset_id=dataset_id)
    if not ready:
        raise InvalidInputError(f"dataset '{dataset_id}' has no uploaded table (a CSV, JSONL or JSON file) to "
                                f"compute answers over", error_code="NO_TABLE", dataset_id=dataset_id)
    source = ready[0]
    path = workspace.files.local_path(str(source.storage_key))
    if not path.is_file():
        raise NotFoundError(f"the table file {source.name} of dataset '{dataset_id}' is missing from the file store",
                            dataset_id=dataset_id, source_id=source.id)
    file_format: FileFormat = "json" if source.type in (SourceType.JSON, SourceType.JSONL) else "csv"
    with _table_connection(path, file_format) as connection:
        columns = [TableColumn(name=str(row[0]), type=str(row[1]))
                   for row in connection.execute(f"DESCRIBE {TABLE}").fetchall()]
        counted = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
        sample = connection.execute(f"SELECT * FROM {TABLE} LIMIT {SAMPLE_ROWS}").fetchall()
    return TableInfo(dataset_id=dataset_id, source_id=source.id, file_name=source.name, path=path,
                     file_format=file_format, columns=columns, row_count=int(counted[0]) if counted else 0,
                     sample_rows=[[_plain(value) for value in row] for row in sample])


def _format_of(path: Path) -> FileFormat:
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson", ".csv", ".tsv"):
        return "csv" if path.suffix.lower() in (".csv", ".tsv") else "json"
    with path.open("rb") as handle:
        start = handle.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if start[:1] in (b"[", b"{") else "csv"


@contextmanager
def _table_connection(path: Path, file_format: FileFormat) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection holding the file as table `t`, locked down (see the module's docstring)."""
    import duckdb

    connection = duckdb.connect(":memory:", config={
        "threads": THREADS, "memory_limit": MEMORY_LIMIT, "temp_directory": "",
        "autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        try:
            reader = "read_json_auto" if file_format == "json" else "read_csv_auto"
            connection.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM {reader}(?)", [str(path)])
            described = connection.execute(f"DESCRIBE {TABLE}").fetchall()
            if (file_format == "json" and len(described) == 1 and str(described[0][0]).lower() in JSON_LIST_KEYS
                    and str(described[0][1]).endswith("[]")):  # {"data": [...]}: the rows are the list's items
                column = '"' + str(described[0][0]).replace('"', '""') + '"'
                connection.execute(f"CREATE OR REPLACE TABLE {TABLE} AS "
                                   f"SELECT unnest({column}, max_depth := 2) FROM {TABLE}")
        except duckdb.Error as exc:
            raise InvalidInputError(f"the table file {path.name} could not be read as {file_format.upper()}: "
                                    f"{_reason(exc)}", error_code="TABLE_UNREADABLE") from None
        connection.execute("SET enable_external_access = false; SET python_enable_replacements = false; "
                           "SET lock_configuration = true")
        yield connection
    finally:
        connection.close()


def _reason(error: BaseException) -> str:
    """DuckDB's message, without the caret drawing under the query."""
    return str(error).split("\n\n")[0].strip()[:REASON_CHARS]


def check_query(sql: str) -> str:
    """The query when it is exactly one SELECT (by DuckDB's parser); InvalidInputError QUERY_REFUSED otherwise."""
    import duckdb

    text = sql.strip()
    if not text:
        raise InvalidInputError("the query is empty", error_code="QUERY_REFUSED")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise InvalidInputError(f"the query is not valid SQL: {_reason(exc)}", error_code="QUERY_ERROR",
                                query=text) from None
    if len(statements) != 1:
        raise InvalidInputError(f"one statement is allowed, the query has {len(statements)}",
                                error_code="QUERY_REFUSED", query=text)
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise InvalidInputError(f"only a read-only SELECT over the table is allowed, not {kind.name}",
                                error_code="QUERY_REFUSED", query=text)
    return text


def run_query(table_path: str | Path, sql: str, *, timeout_s: float = QUERY_TIMEOUT_S, max_rows: int = MAX_ROWS,
              file_format: FileFormat | None = None) -> QueryResult:
    """Run one read-only SELECT over the table file (as `t`), within `timeout_s` and `max_rows`.

    InvalidInputError: QUERY_REFUSED (not one SELECT, or it reached outside the table), QUERY_TIMEOUT,
    QUERY_ERROR (DuckDB's error: an unknown column, a type mismatch...).
    """
    import duckdb

    query = check_query(sql)
    path = Path(table_path)
    with _table_connection(path, file_format or _format_of(path)) as connection:
        timer = threading.Timer(timeout_s, connection.interrupt)
        timer.start()
        try:
            cursor = connection.execute(query)
            columns = [str(column[0]) for column in cursor.description or []]
            rows = cursor.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise InvalidInputError(f"the query was stopped: it ran over the {timeout_s:g} s limit",
                                    error_code="QUERY_TIMEOUT", query=query) from None
        except duckdb.PermissionException as exc:
            raise InvalidInputError(f"the query may read only the table {TABLE}: {_reason(exc)}",
                                    error_code="QUERY_REFUSED", query=query) from None
        except duckdb.Error as exc:
            raise InvalidInputError(f"the query failed: {_reason(exc)}", error_code="QUERY_ERROR",
                                    query=query) from None
        finally:
            timer.cancel()
    return QueryResult(columns=columns, rows=[[_plain(value) for value in row] for row in rows[:max_rows]],
                       truncated=len(rows) > max_rows)


def _plain(value: Any) -> Any:
    """A JSON value for what DuckDB returns."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)  # UUID, interval, blob...


def _instructions(table: TableInfo) -> str:
    names = [column.name for column in table.columns]
    samples = "\n".join(json.dumps({name: value[:CELL_CHARS] if isinstance(value, str) else value
                                    for name, value in zip(names, row, strict=False)}, ensure_ascii=False)
                         for row in table.sample_rows)
    schema = "\n".join(f'- "{column.name}": {column.type}' for column in table.columns)
    return (f"You answer questions about a table by writing ONE DuckDB SQL query over it; the query is run and "
            f"its result is shown to the user.\nThe table is named {TABLE} ({table.row_count} rows, from the file "
            f"{table.file_name}). Its columns:\n{schema}\nSample rows:\n{samples}\n\n"
            f"Rules: a single SELECT (WITH ... SELECT allowed) reading only {TABLE}; quote column names with double "
            f"quotes; compute aggregates, groups and ordering in SQL; name computed columns with AS; LIMIT "
            f"listings to {CHART_POINTS} rows.\nReply with only a JSON object: "
            '{"sql": "<the query>", "chart": {"type": "bar" | "line" | "pie" | "table", '
            '"x": "<a column of the result>", "y": "<a column of the result>"}}')


_FENCED_SQL = re.compile(r"```sql\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _read_reply(text: str) -> tuple[str, dict[str, Any]]:
    """The query and the chart the model asked for; InvalidInputError QUERY_MISSING when it gave none."""
    for value in json_values(text):
        if isinstance(value, dict) and isinstance(value.get("sql"), str) and value["sql"].strip():
            chart = value.get("chart")
            return value["sql"].strip(), chart if isinstance(chart, dict) else {}
    fenced = _FENCED_SQL.search(text)
    if fenced and fenced.group(1).strip():
        return fenced.group(1).strip(), {}
    raise InvalidInputError('the reply held no JSON object with an "sql" query', error_code="QUERY_MISSING")


async def answer_table_question(workspace: WorkspacePort, chat_model: ChatModel, table: TableInfo, question: str,
                                *, timeout_s: float = QUERY_TIMEOUT_S, max_rows: int = MAX_ROWS) -> TableAnswer:
    """Ask `chat_model` for a query answering `question`, run it, and write the answer from its result.

    The model is asked twice at most: again with the error when its first query is missing, refused or fails;
    then InvalidInputError QUERY_FAILED with the reason. The model's own failures (a server down...) propagate.
    `workspace` holds the table (unused for now: the limits may come from its settings).
    """
    messages = [Message(role="system", content=_instructions(table)), Message(role="user", content=question)]
    reason, sql = "", ""
    for _attempt in range(2):
        reply = await chat_model.complete(messages)
        try:
            sql, chart = _read_reply(reply.text)
            result = await asyncio.to_thread(run_query, table.path, sql, timeout_s=timeout_s, max_rows=max_rows,
                                             file_format=table.file_format)
        except InvalidInputError as exc:
            reason = exc.message
            messages += [Message(role="assistant", content=reply.text),
                         Message(role="user", content=f"That did not work: {reason}\nReply with a corrected JSON "
                                                      f"object only.")]
            continue
        return TableAnswer(content=_content(table, result), charts=[_chart(chart, result, sql)], query=sql,
                           result=result)
    raise InvalidInputError(f"no query could compute the answer over the table: {reason}", error_code="QUERY_FAILED",
                            reason=reason, query=sql or None)


def answer_table_question_sync(workspace: WorkspacePort, chat_model: ChatModel, table: TableInfo,
                               question: str) -> TableAnswer:
    """`answer_table_question` from synchronous code; the model is closed afterwards."""
    async def answer() -> TableAnswer:
        try:
            return await answer_table_question(workspace, chat_model, table, question)
        finally:
            await chat_model.aclose()

    return asyncio.run(answer())


def _numeric(result: QueryResult, index: int) -> bool:
    values = [row[index] for row in result.rows if row[index] is not None]
    return bool(values) and all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)


def _chart(requested: dict[str, Any], result: QueryResult, sql: str) -> dict[str, Any]:
    """The chart the model asked for where it fits the result, else a bar of its first numeric column."""
    columns = result.columns
    numbers = [name for index, name in enumerate(columns) if _numeric(result, index)]
    x = requested.get("x") if requested.get("x") in columns else None
    y = requested.get("y") if requested.get("y") in columns and requested.get("y") != x else None
    y = y or next((name for name in numbers if name != x), columns[-1])
    x = x or next((name for name in columns if name != y and name not in numbers), None) \
        or next((name for name in columns if name != y), y)
    kind = requested.get("type") if requested.get("type") in CHART_TYPES else \
        "bar" if x != y and y in numbers else "table"
    data = [{x: row[columns.index(x)], y: row[columns.index(y)]} for row in result.rows[:CHART_POINTS]]
    return {"type": kind, "x": x, "y": y, "data": data, "sql": sql}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{round(value, 4):f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    text = "" if value is None else json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) \
        else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text[:CELL_CHARS] + "…" if len(text) > CELL_CHARS else text


def _content(table: TableInfo, result: QueryResult) -> str:
    """A sentence with the figures, and the first rows as a markdown table."""
    over = f"computed over the {table.row_count} rows of {table.file_name}"
    if not result.rows:
        return f"No rows match ({over})."
    if len(result.rows) == 1 and len(result.columns) == 1:
        return f"**{result.columns[0]}**: {_cell(result.rows[0][0])} ({over})."
    count = f"more than {len(result.rows)}" if result.truncated else str(len(result.rows))
    shown = f", the first {SHOWN_ROWS} below" if len(result.rows) > SHOWN_ROWS else ""
    lines = [f"{count} result row{'s' if len(result.rows) > 1 else ''}{shown} ({over}):", "",
             "| " + " | ".join(_cell(name) for name in result.columns) + " |",
             "|" + "---|" * len(result.columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in result.rows[:SHOWN_ROWS]]
    return "\n".join(lines)


_AGGREGATES = {  # words and phrases of a computed question, English and French (accents folded)
    "average", "avg", "median", "sum", "total", "totals", "count", "number of", "how many", "how much", "per",
    "maximum", "max", "minimum", "min", "highest", "lowest", "largest", "smallest", "biggest", "top", "trend",
    "trends", "distribution", "percentage", "percent", "ratio", "ranking", "breakdown", "growth", "over time",
    "by month", "by year", "group by", "moyenne", "mediane", "somme", "combien", "nombre de", "nombre d", "maximale",
    "minimale", "plus grand", "plus petit", "plus eleve", "plus elevee", "plus bas", "tendance", "repartition",
    "pourcentage", "proportion", "classement", "croissance", "evolution", "par mois", "par an", "par annee",
}
_DATA_WORDS = {"table", "data", "dataset", "rows", "records", "columns", "entries", "csv", "tableau", "donnees",
               "lignes", "colonnes", "enregistrements", "fichier"}
_ASKING = {"which", "what", "where", "when", "how", "who", "quel", "quelle", "quels", "quelles", "ou", "quand",
           "comment", "qui"}
_DEFINITIONS = re.compile(r"^(what is an? |what does |define |explain |qu est ce qu|c est quoi |definis |explique )")


def _normal(text: str) -> str:
    """Lower case, accents and punctuation dropped: "Qu'est-ce que la médiane ?" is "qu est ce que la mediane"."""
    folded = "".join(char for char in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(char))
    return " ".join(re.findall(r"[a-z0-9]+", folded))


def _has(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def is_analytics_question(question: str, table: TableInfo) -> bool:
    """Whether `question` is about the table (computed) rather than a general one: it names a column, speaks of
    the data, asks for an aggregate (average, total, how many, max, trend...: English and French) or asks about
    a value of the samples."""
    text = _normal(question)
    if not text:
        return False
    columns = {_normal(column.name.replace("_", " ")) for column in table.columns}
    if any(column and (_has(text, column) or _has(text, column + "s")) for column in columns if len(column) > 1):
        return True
    if _DEFINITIONS.match(text):
        return False  # "what is a median?": a general question
    if any(_has(text, word) for word in _DATA_WORDS):
        return True
    if any(_has(text, phrase) for phrase in _AGGREGATES):
        return True
    values = {_normal(value) for row in table.sample_rows for value in row if isinstance(value, str)}
    asked = bool(_ASKING & set(text.split())) or question.rstrip().endswith("?")
    return asked and any(len(value) > 3 and _has(text, value) for value in values)  # "and in the north?"
