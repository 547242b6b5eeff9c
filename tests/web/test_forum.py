"""The forum routes (crealia): topics, search, pages, views, comments, moderation, HTML escaping."""

from __future__ import annotations

from typing import Any

from finetune_core.workspace import Workspace
from flask.testing import FlaskClient

from tests.kits.web_api import Account, assert_error, sign_up

TOPICS = "/api/forum/topics"


def _topic(client: FlaskClient, account: Account, title: str = "How to fine-tune?", content: str = "Some content",
           category: str = "questions") -> str:
    created = client.post(TOPICS, json={"title": title, "content": content, "category": category},
                          headers=account.headers)
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["topicId"])


def _admin(client: FlaskClient, workspace: Workspace) -> Account:
    admin = sign_up(client, "admin@example.com", name="Admin")
    with workspace.unit_of_work() as uow:
        user = uow.users.get(admin.id)
        user.is_admin = True
        uow.users.save(user)
    return admin


def _listing(client: FlaskClient, query: str = "") -> dict[str, Any]:
    listed = client.get(f"{TOPICS}{query}")
    assert listed.status_code == 200, listed.get_json()
    body: dict[str, Any] = listed.get_json()
    return body


def test_create_needs_a_sign_in_and_valid_fields(client: FlaskClient, alice: Account) -> None:
    assert_error(client.post(TOPICS, json={"title": "Hello", "content": "x", "category": "questions"}), 401)
    assert_error(client.post(TOPICS, json={"title": "Hello", "content": "x" * 20_001, "category": "questions"},
                             headers=alice.headers), 422)
    assert_error(client.post(TOPICS, json={"title": "Hi", "content": "x"}, headers=alice.headers), 422)
    assert_error(client.post(TOPICS, json={"title": "Hello", "content": "x", "category": "nope"},
                             headers=alice.headers), 422)
    created = client.post(TOPICS, json={"title": "Ma question", "content": "Contenu", "category": "questions"},
                          headers=alice.headers)
    assert created.status_code == 201
    assert set(created.get_json()) == {"topicId", "title", "createdAt"}
    assert created.get_json()["title"] == "Ma question"


def test_list_is_public_pinned_first_then_newest_with_crealia_pagination(
        client: FlaskClient, workspace: Workspace, alice: Account) -> None:
    ids = [_topic(client, alice, title=f"Topic number {index}", category="general") for index in range(5)]
    admin = _admin(client, workspace)
    pinned = client.patch(f"{TOPICS}/{ids[1]}", json={"isPinned": True}, headers=admin.headers)
    assert pinned.status_code == 200 and pinned.get_json()["isPinned"] is True

    body = _listing(client, "?page=1&limit=2")
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 5, "pages": 3}
    assert [topic["id"] for topic in body["topics"]] == [ids[1], ids[4]]
    first = body["topics"][0]
    assert set(first) == {"id", "title", "category", "userId", "userName", "views", "commentCount", "isPinned",
                          "isLocked", "createdAt"}
    assert first["userId"] == alice.id and first["userName"] == "Alice"
    assert [topic["id"] for topic in _listing(client, "?page=3&limit=2")["topics"]] == [ids[0]]
    assert _listing(client, "?page=9&limit=2")["topics"] == []
    assert _listing(client)["pagination"] == {"page": 1, "limit": 20, "total": 5, "pages": 1}
    assert_error(client.get(f"{TOPICS}?limit=0"), 422)
    assert_error(client.get(f"{TOPICS}?page=0"), 422)


def test_list_filters_by_category_and_searches_title_and_content(client: FlaskClient, alice: Account) -> None:
    lora = _topic(client, alice, title="LoRA adapters", content="rank and alpha", category="tutorials")
    qlora = _topic(client, alice, title="Memory questions", content="QLoRA needs less memory", category="questions")
    assert [topic["id"] for topic in _listing(client, "?category=tutorials")["topics"]] == [lora]
    assert [topic["id"] for topic in _listing(client, "?search=memory")["topics"]] == [qlora]
    assert [topic["id"] for topic in _listing(client, "?search=Alpha%20RANK")["topics"]] == [lora]
    assert _listing(client, "?search=memory&category=tutorials")["pagination"]["total"] == 0
    assert _listing(client, "?search=%22%2A%20OR%20NOT")["topics"] == []  # FTS operators are plain words
    assert_error(client.get(f"{TOPICS}?category=unknown"), 422)


def test_a_topic_counts_its_views_and_shows_its_comments(client: FlaskClient, alice: Account, bob: Account) -> None:
    topic_id = _topic(client, alice)
    comment = client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "Réponse"}, headers=bob.headers)
    assert comment.status_code == 201
    assert set(comment.get_json()) == {"commentId", "content", "createdAt"}
    assert client.get(f"{TOPICS}/{topic_id}").get_json()["topic"]["views"] == 1
    shown = client.get(f"{TOPICS}/{topic_id}").get_json()
    assert shown["topic"]["views"] == 2 and shown["topic"]["content"] == "Some content"
    assert [(c["content"], c["userId"], c["userName"]) for c in shown["comments"]] == [("Réponse", bob.id, "Bob")]
    assert _listing(client)["topics"][0]["commentCount"] == 1
    assert_error(client.get(f"{TOPICS}/missing"), 404)
    assert_error(client.post(f"{TOPICS}/missing/comments", json={"content": "x"}, headers=bob.headers), 404)
    assert_error(client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "x"}), 401)
    assert_error(client.post(f"{TOPICS}/{topic_id}/comments", json={"content": ""}, headers=bob.headers), 422)
    assert_error(client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "x" * 10_001},
                             headers=bob.headers), 422)


def test_html_is_escaped_on_output_and_stored_as_written(client: FlaskClient, workspace: Workspace,
                                                         alice: Account) -> None:
    topic_id = _topic(client, alice, title="<script>alert('x')</script>", content='a & b "quoted" <b>bold</b>')
    client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "<img src=x onerror=alert(1)>"},
                headers=alice.headers)
    shown = client.get(f"{TOPICS}/{topic_id}").get_json()
    assert shown["topic"]["title"] == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert shown["topic"]["content"] == "a &amp; b &quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt;"
    assert shown["comments"][0]["content"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert _listing(client)["topics"][0]["title"].startswith("&lt;script&gt;")
    from finetune_core.services import forum

    assert forum.list_topics(workspace)[0][0].title == "<script>alert('x')</script>"


def test_admins_pin_and_lock_others_get_403_and_locked_topics_refuse_comments(
        client: FlaskClient, workspace: Workspace, alice: Account, bob: Account) -> None:
    topic_id = _topic(client, alice)
    assert_error(client.patch(f"{TOPICS}/{topic_id}", json={"isPinned": True}, headers=alice.headers), 403)
    assert_error(client.patch(f"{TOPICS}/{topic_id}", json={"isLocked": True}, headers=bob.headers), 403)
    assert_error(client.patch(f"{TOPICS}/{topic_id}", json={"isLocked": True}), 401)
    admin = _admin(client, workspace)
    assert_error(client.patch(f"{TOPICS}/missing", json={"isLocked": True}, headers=admin.headers), 404)
    locked = client.patch(f"{TOPICS}/{topic_id}", json={"isLocked": True}, headers=admin.headers)
    assert locked.status_code == 200 and locked.get_json()["isLocked"] is True
    assert_error(client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "late"}, headers=bob.headers),
                 409, "TOPIC_LOCKED")
    client.patch(f"{TOPICS}/{topic_id}", json={"isLocked": False}, headers=admin.headers)
    assert client.post(f"{TOPICS}/{topic_id}/comments", json={"content": "now"},
                       headers=bob.headers).status_code == 201


def test_only_the_author_or_an_admin_deletes_a_topic(client: FlaskClient, workspace: Workspace, alice: Account,
                                                     bob: Account) -> None:
    first, second = _topic(client, alice), _topic(client, alice)
    client.post(f"{TOPICS}/{first}/comments", json={"content": "hi"}, headers=bob.headers)
    assert_error(client.delete(f"{TOPICS}/{first}", headers=bob.headers), 403)
    assert_error(client.delete(f"{TOPICS}/{first}"), 401)
    assert client.delete(f"{TOPICS}/{first}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"{TOPICS}/{first}"), 404)
    assert_error(client.delete(f"{TOPICS}/{first}", headers=alice.headers), 404)
    admin = _admin(client, workspace)
    assert client.delete(f"{TOPICS}/{second}", headers=admin.headers).status_code == 204
    assert _listing(client)["pagination"]["total"] == 0


def test_gdpr_exports_the_forum_rows_and_erasure_deletes_them(client: FlaskClient, workspace: Workspace,
                                                               alice: Account, bob: Account) -> None:
    from finetune_core.services import forum, gdpr, gdpr_export

    alices = _topic(client, alice, title="Alice's topic")
    bobs = _topic(client, bob, title="Bob's topic")
    client.post(f"{TOPICS}/{bobs}/comments", json={"content": "from alice"}, headers=alice.headers)
    client.post(f"{TOPICS}/{alices}/comments", json={"content": "from bob"}, headers=bob.headers)

    exported = gdpr_export.export_user_data(workspace, alice.id)["forum"]
    assert [topic["id"] for topic in exported["topics"]] == [alices]
    assert [comment["content"] for comment in exported["comments"]] == ["from alice"]

    gdpr.erase_user(workspace, alice.id, grace_s=0)
    topics, total = forum.list_topics(workspace)
    assert total == 1 and topics[0].id == bobs and topics[0].comment_count == 0
    assert forum.view_topic(workspace, bobs)[1] == []
    with workspace.unit_of_work() as uow:
        assert uow.forum.comments_of(bob.id) == []  # bob's comment went with alice's topic
