"""The official `openai` client against a live `finetune serve`: an issued key to a model that the embedded chat
model (SmolLM2-135M-Instruct, on this CPU) serves, asked at /v1 without and with streaming, its model listed, its
usage counted in `queries_used`; once the key is revoked the client gets AuthenticationError."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from kits.chat_client import bearer, sign_up
from kits.live_server import LiveServer, finetune_serve

openai = pytest.importorskip("openai")
ANSWER_WAIT_S = 300.0  # the first answer loads the model (about 20 s here): a bound
QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with finetune_serve(tmp_path_factory.mktemp("openai-e2e")) as server:
        yield server


def test_the_openai_client_talks_to_an_issued_key_until_it_is_revoked(live: LiveServer) -> None:
    token, _ = sign_up(live.base, "alice@example.com")
    with httpx.Client(base_url=live.base, timeout=ANSWER_WAIT_S, headers=bearer(token)) as http:
        model = http.post("/api/models", json={"name": "smol", "base_model": "SmolLM2-135M-Instruct", "version": "1",
                                               "provider": "embedded"}).json()
        issued = http.post("/api/apikeys", json={"model_id": model["id"], "name": "e2e"})
        assert issued.status_code == 201, issued.text
        client = openai.OpenAI(base_url=f"{live.base}/v1", api_key=issued.json()["key"], timeout=ANSWER_WAIT_S,
                               max_retries=0)

        answer = client.chat.completions.create(model=model["id"], messages=QUESTION, max_tokens=24, temperature=0,
                                                stop=["\n\n"])
        text = answer.choices[0].message.content
        assert text and "\n\n" not in text and answer.choices[0].finish_reason in ("stop", "length")
        assert answer.usage is not None and answer.usage.completion_tokens <= 24
        assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0

        asked = time.monotonic()
        chunks, arrived = [], []
        for chunk in client.chat.completions.create(model="smol", messages=QUESTION, max_tokens=24, temperature=0,
                                                    stream=True, stream_options={"include_usage": True}):
            chunks.append(chunk)
            if chunk.choices and chunk.choices[0].delta.content:
                arrived.append(time.monotonic())
        # streamed as written, not in one burst at the end: the tokens came over a good part of the answer's time
        # (the embedded model answers on the request's native thread; on a greenlet's loop it would not get a turn)
        assert len(arrived) > 3 and arrived[-1] - arrived[0] > 0.3 * (arrived[-1] - asked), (asked, arrived)
        assert chunks[0].choices[0].delta.role == "assistant"
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        assert streamed.strip() and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

        assert [listed.id for listed in client.models.list()] == [model["id"]]
        assert http.get("/api/auth/me").json()["queries_used"] == 2

        assert http.delete(f"/api/apikeys/{issued.json()['id']}").status_code == 204
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=model["id"], messages=QUESTION, max_tokens=4)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        client.close()  # no keep-alive connection left to hold the server's shutdown
