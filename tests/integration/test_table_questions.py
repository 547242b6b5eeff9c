"""dualqueryintelligence's dual query: questions about an uploaded table are computed by DuckDB over it, from one
SQL query the real openai-compatible chat model gets from a fake Chat Completions server; the query runs in a
connection that can read nothing but the table, within a time and a row limit."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from finetune_core import Workspace
from finetune_core.domain import SourceKind
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.services import datasets
from finetune_core.services import sources as sources_service
from finetune_core.services.chat_targets import ChatTarget, build
from finetune_core.services.table_questions import (
    TableAnswer,
    TableInfo,
    answer_table_question,
    answer_table_question_sync,
    is_analytics_question,
    load_table,
    run_query,
)
from kits.chat_completions import Action, FakeChatServer, chat_server

SALES = (b"region,product,amount,month\n"
         b"north,bread,10,2024-01-01\nsouth,bread,20.5,2024-01-01\nnorth,cake,5,2024-02-01\n"
         b"east,cake,7.25,2024-02-01\nsouth,cake,30,2024-03-01\nnorth,bread,12,2024-03-01\n")
TOTALS = "SELECT region, sum(amount) AS total FROM t GROUP BY region ORDER BY total DESC"
TOTALS_JSON = json.dumps({"sql": TOTALS, "chart": {"type": "bar", "x": "region", "y": "total"}})
TOTALS_DATA = [{"region": "south", "total": 50.5}, {"region": "north", "total": 27.0},
               {"region": "east", "total": 7.25}]


def store_table(ws: Workspace, filename: str, data: bytes) -> str:
    """A table uploaded as a dataset (dualqueryintelligence's POST /api/datasets/upload): its id."""
    return datasets.upload_dataset(ws, None, filename, data).id


@pytest.fixture
def sales(finetune_workspace: Workspace) -> TableInfo:
    return load_table(finetune_workspace, store_table(finetune_workspace, "sales.csv", SALES))


def test_a_table_of_any_columns_is_uploaded_as_a_dataset_to_query(finetune_workspace: Workspace) -> None:
    dataset = datasets.upload_dataset(finetune_workspace, None, "sales.csv", SALES)
    assert (dataset.row_count, dataset.column_count, dataset.pairs_count) == (6, 4, 0)
    assert dataset.preview_data.headers == ["region", "product", "amount", "month"]


def test_a_table_is_described_with_duckdbs_types_its_row_count_and_five_samples(sales: TableInfo) -> None:
    assert [(column.name, column.type) for column in sales.columns] == [
        ("region", "VARCHAR"), ("product", "VARCHAR"), ("amount", "DOUBLE"), ("month", "DATE")]
    assert (sales.name, sales.row_count, sales.file_name, sales.file_format) == ("t", 6, "sales.csv", "csv")
    assert sales.sample_rows[0] == ["north", "bread", 10.0, "2024-01-01"] and len(sales.sample_rows) == 5
    assert sales.path.is_file()


def test_an_uploaded_examples_file_is_a_table_too(finetune_workspace: Workspace) -> None:
    data = b"question,answer,score\nWhat is rye?,A grain.,4\nWhat is spelt?,A wheat.,5\n"
    dataset = datasets.upload_dataset(finetune_workspace, None, "rated.csv", data)
    table = load_table(finetune_workspace, dataset.id)
    assert [column.name for column in table.columns] == ["question", "answer", "score"]
    assert run_query(table.path, "SELECT avg(score) AS mean FROM t").rows == [[4.5]]


def test_a_json_table_wrapped_in_data_is_read_as_its_items(finetune_workspace: Workspace) -> None:
    data = b'{"data": [{"city": "Lyon", "people": 520000}, {"city": "Nice", "people": 340000}]}'
    table = load_table(finetune_workspace, store_table(finetune_workspace, "cities.json", data))
    assert (table.file_format, table.row_count) == ("json", 2)
    assert run_query(table.path, "SELECT max(people) AS most FROM t", file_format="json").rows == [[520000]]


def test_a_dataset_without_a_table_is_a_clear_error(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with pytest.raises(NotFoundError, match="dataset 'nope' not found"):
        load_table(ws, "nope")
    generated, _ = datasets.create_dataset(ws, None, name="generated")
    with pytest.raises(InvalidInputError, match="has no uploaded table") as refused:
        load_table(ws, generated.id)
    assert refused.value.error_code == "NO_TABLE"
    pending, _ = datasets.create_dataset(ws, None, name="pending")
    sources_service.add_file(ws, pending.id, "later.csv", SALES, kind=SourceKind.DATASET_UPLOAD)
    with pytest.raises(InvalidInputError, match="is pending, not loaded") as waiting:
        load_table(ws, pending.id)
    assert waiting.value.error_code == "TABLE_NOT_READY"


def test_an_aggregate_is_computed(sales: TableInfo) -> None:
    result = run_query(sales.path, TOTALS)
    assert result.columns == ["region", "total"] and not result.truncated
    assert result.rows == [["south", 50.5], ["north", 27.0], ["east", 7.25]]
    dated = run_query(sales.path, "SELECT month, count(*) AS n FROM t GROUP BY month ORDER BY month LIMIT 1")
    assert dated.rows == [["2024-01-01", 2]]  # dates come back as ISO text


@pytest.mark.parametrize(("sql", "says"), [
    ("DROP TABLE t", "not DROP"),
    ("COPY t TO '{tmp}/x.csv'", "not COPY"),
    ("ATTACH '{tmp}/other.db' AS other", "not ATTACH"),
    ("SELECT 1; SELECT 2", "one statement is allowed, the query has 2"),
    ("INSERT INTO t SELECT * FROM t", "not INSERT"),
    ("SET enable_external_access = true", "not SET"),
    ("INSTALL httpfs", "not"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "file system operations are disabled"),
    ("SELECT * FROM read_text('/etc/hostname')", "file system operations are disabled"),
    ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    ("SELECT * FROM '{tmp}/copy.csv'", "file system operations are disabled"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "file system operations are disabled"),
])
def test_anything_but_one_select_over_the_table_is_refused(sales: TableInfo, tmp_path: Path, sql: str,
                                                           says: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "copy.csv").write_bytes(SALES)
    with pytest.raises(InvalidInputError, match=says) as refused:
        run_query(sales.path, sql.format(tmp=outside))
    assert refused.value.error_code == "QUERY_REFUSED"
    assert [path.name for path in outside.iterdir()] == ["copy.csv"]  # nothing written
    assert run_query(sales.path, "SELECT count(*) FROM t").rows == [[6]]  # the table is intact


def test_the_connection_is_locked_before_the_query_runs(sales: TableInfo) -> None:
    settings = ("enable_external_access", "lock_configuration", "python_enable_replacements", "threads",
                "temp_directory")
    result = run_query(sales.path, "SELECT " + ", ".join(f"current_setting('{name}')" for name in settings))
    assert result.rows == [[False, True, False, 2, ""]]


def test_errors_of_a_select_are_clear(sales: TableInfo) -> None:
    with pytest.raises(InvalidInputError, match='column "price" not found') as failed:
        run_query(sales.path, "SELECT sum(price) FROM t")
    assert failed.value.error_code == "QUERY_ERROR"
    with pytest.raises(InvalidInputError, match="not valid SQL"):
        run_query(sales.path, "SELEC amount FROM t")
    with pytest.raises(InvalidInputError, match="empty"):
        run_query(sales.path, "  ")


def test_a_result_over_the_row_limit_is_truncated(sales: TableInfo) -> None:
    result = run_query(sales.path, "SELECT t.region, r.range FROM t, range(1000) AS r")
    assert (len(result.rows), result.truncated) == (1000, True)
    assert run_query(sales.path, "SELECT * FROM t", max_rows=6).truncated is False
    assert len(run_query(sales.path, "SELECT * FROM t", max_rows=2).rows) == 2


def test_a_slow_query_is_interrupted_at_the_time_limit(sales: TableInfo) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="ran over the 1 s limit") as stopped:
        run_query(sales.path, "SELECT count(*) FROM range(100000000) AS a, range(100000000) AS b", timeout_s=1)
    assert stopped.value.error_code == "QUERY_TIMEOUT"
    assert time.monotonic() - started < 10  # a bound, far below the hours the query would run


def answering(replies: list[str]) -> AbstractContextManager[FakeChatServer]:
    """A fake server answering the calls with `replies` in turn (the last one again past the end)."""
    return chat_server(lambda call: Action(text=replies[min(call.index, len(replies) - 1)]))


def ask(ws: Workspace, server: FakeChatServer, table: TableInfo, question: str) -> TableAnswer:
    model = build(ws, ChatTarget("openai-compatible", "fake", base_url=server.url), None)
    return answer_table_question_sync(ws, model, table, question)


def test_the_models_query_is_run_and_the_answer_written_from_its_result(finetune_workspace: Workspace,
                                                                        sales: TableInfo) -> None:
    with answering([TOTALS_JSON]) as server:
        answer = ask(finetune_workspace, server, sales, "What is the total amount per region?")
    assert len(server.calls) == 1
    prompt = server.calls[0].body["messages"]
    assert [message["role"] for message in prompt] == ["system", "user"]
    assert '"amount": DOUBLE' in prompt[0]["content"] and '"region": "north"' in prompt[0]["content"]
    assert answer.query == TOTALS and answer.result.rows[0] == ["south", 50.5]
    assert "| region | total |" in answer.content and "| south | 50.5 |" in answer.content
    assert "| east | 7.25 |" in answer.content and "3 result rows" in answer.content
    assert answer.charts == [{"type": "bar", "x": "region", "y": "total", "data": TOTALS_DATA, "sql": TOTALS}]


def test_a_single_figure_is_stated(finetune_workspace: Workspace, sales: TableInfo) -> None:
    reply = 'Here you go:\n```json\n{"sql": "SELECT round(avg(amount), 2) AS average FROM t"}\n```'
    with answering([reply]) as server:
        answer = ask(finetune_workspace, server, sales, "What is the average amount?")
    assert answer.content.startswith("**average**: 14.13 (computed over the 6 rows of sales.csv)")
    assert answer.charts[0]["data"] == [{"average": 14.13}] and answer.charts[0]["type"] == "table"


def test_a_failed_query_is_sent_back_once_with_its_error(finetune_workspace: Workspace, sales: TableInfo) -> None:
    bad = '{"sql": "SELECT region, sum(price) AS total FROM t GROUP BY region"}'
    with answering([bad, TOTALS_JSON]) as server:
        answer = ask(finetune_workspace, server, sales, "Total per region?")
    assert len(server.calls) == 2 and answer.charts[0]["data"] == TOTALS_DATA
    retry = server.calls[1].body["messages"]
    assert [message["role"] for message in retry] == ["system", "user", "assistant", "user"]
    assert retry[2]["content"] == bad and 'column "price" not found' in retry[3]["content"]


def test_a_refused_query_is_sent_back_too(finetune_workspace: Workspace, sales: TableInfo) -> None:
    with answering(['{"sql": "DROP TABLE t"}', TOTALS_JSON]) as server:
        answer = ask(finetune_workspace, server, sales, "Total per region?")
    assert len(server.calls) == 2 and answer.result.rows[0] == ["south", 50.5]
    assert "not DROP" in server.calls[1].body["messages"][3]["content"]


def test_two_failed_queries_are_query_failed(finetune_workspace: Workspace, sales: TableInfo) -> None:
    with answering(['{"sql": "SELECT nope FROM t"}', "I think it is about 42."]) as server, \
            pytest.raises(InvalidInputError, match='no JSON object with an "sql" query') as failed:
        ask(finetune_workspace, server, sales, "Total per region?")
    assert failed.value.error_code == "QUERY_FAILED" and len(server.calls) == 2


def test_the_async_answer_leaves_the_model_to_its_caller(finetune_workspace: Workspace, sales: TableInfo) -> None:
    async def twice() -> list[str]:
        model = build(finetune_workspace, ChatTarget("openai-compatible", "fake", base_url=server.url), None)
        try:
            answers = [await answer_table_question(finetune_workspace, model, sales, "Total per region?")
                       for _ in range(2)]
        finally:
            await model.aclose()
        return [answer.query for answer in answers]

    with answering([TOTALS_JSON]) as server:
        assert asyncio.run(twice()) == [TOTALS, TOTALS]


@pytest.mark.parametrize(("question", "analytics"), [
    ("What is the total amount per region?", True),
    ("Which product sells best in the north?", True),
    ("How many rows are there?", True),
    ("Quelle est la moyenne des montants par mois ?", True),
    ("Combien de ventes dans le sud ?", True),
    ("Show me the trend over time", True),
    ("Hello, who are you?", False),
    ("Bonjour, comment vas-tu ?", False),
    ("What is a median?", False),
    ("Qu'est-ce qu'une moyenne ?", False),
    ("Write a poem about bread", False),
])
def test_questions_about_the_table_are_told_from_general_ones(sales: TableInfo, question: str,
                                                               analytics: bool) -> None:
    assert is_analytics_question(question, sales) is analytics
