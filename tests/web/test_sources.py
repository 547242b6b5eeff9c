"""Sources through the REST app: project files (FF), contents (FT), documents (FG) and the helpers (FT).

Real PDFs and DOCX made on the spot, real URLs on a server on 127.0.0.1 (the test workspace allows
loopback, as open_test_workspace does; a strict one refuses it), a fake YouTube at the requests boundary.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from finetune_core.services import jobs
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.documents import build_docx, build_pdf
from kits.fake_youtube import VIDEO, FakeYouTube, public_resolver, youtube_session
from kits.local_server import serve
from kits.samples import SAMPLES
from kits.web_api import Account, assert_error, field_errors
from kits.web_uploads import ELF, NOTE, QA_CSV, part, upload_files, upload_one

PDF_TEXT = ["Shaping a boule starts with a gentle pre-shape and a bench rest of twenty minutes.",
            "Scoring the loaf just before baking lets it open along the cut."]
REFUSED_URLS = ["file:///etc/passwd", "ftp://example.com/x", "http://169.254.169.254/latest/meta-data",
                "http://10.0.0.7/admin", "http://[fd12::1]/", "http://0.0.0.0:80/", "http://metadata.google.internal/"]


@pytest.fixture
def project_id(client: FlaskClient, alice: Account) -> str:
    return str(client.post("/api/projects", json={"name": "bakery"}, headers=alice.headers).get_json()["id"])


def docx_bytes() -> bytes:
    def fill(document: Any) -> None:
        document.add_heading("Starter care", level=1)
        document.add_paragraph("Feed the starter every morning with fifty grams of flour and fifty of water.")

    return build_docx(fill)


def stored_names(workspace: Workspace) -> list[str]:
    return sorted(path.name for path in workspace.files.root.rglob("*") if path.is_file())


def limits(monkeypatch: pytest.MonkeyPatch, workspace: Workspace, **values: Any) -> None:
    monkeypatch.setattr(workspace, "settings", workspace.settings.model_copy(update=values))


# --- finetuneflow §4: project files ----------------------------------------------------------------------------

def test_a_pdf_and_a_docx_upload_in_one_request_and_load(client: FlaskClient, alice: Account, project_id: str,
                                                         workspace: Workspace) -> None:
    response = upload_files(client, alice, project_id, (build_pdf(PDF_TEXT), "handbook.pdf"),
                            (docx_bytes(), "care.docx"), kind="raw_doc")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == {"files", "job_id"}
    pdf, docx = body["files"]
    assert (pdf["filename"], pdf["kind"], pdf["mime_type"], pdf["type"]) == \
        ("handbook.pdf", "raw_doc", "application/pdf", "pdf")
    assert docx["mime_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert pdf["status"] == docx["status"] == "ready"  # the ingest job ran (inline in the tests)
    assert pdf["size_bytes"] > 0 and pdf["created_at"].endswith("Z") and pdf["error_message"] is None
    assert jobs.get_job(workspace, body["job_id"]).type == "ingest"
    listed = client.get(f"/api/projects/{project_id}/files", headers=alice.headers).get_json()
    assert [item["filename"] for item in listed["items"]] == ["handbook.pdf", "care.docx"] and listed["total"] == 2
    assert set(listed) == {"items", "total", "limit", "offset"}
    assert client.get(f"/api/projects/{project_id}/files?kind=dataset_upload",
                      headers=alice.headers).get_json()["total"] == 0
    project = client.get(f"/api/projects/{project_id}", headers=alice.headers).get_json()
    assert project["stats"]["file_count"] == 2


def test_a_sample_dataset_file_uploads_as_dataset_rows(client: FlaskClient, alice: Account, project_id: str,
                                                       workspace: Workspace) -> None:
    response = upload_files(client, alice, project_id, ((SAMPLES / "sourdough-faq.csv").read_bytes(), "faq.csv"),
                            kind="dataset_upload")
    assert response.status_code == 201, response.get_json()
    file = response.get_json()["files"][0]
    assert (file["kind"], file["type"], file["status"]) == ("dataset_upload", "csv", "ready")
    assert jobs.get_job(workspace, response.get_json()["job_id"]).type == "ingest_curate"
    examples = client.get(f"/api/projects/{project_id}/dataset/examples", headers=alice.headers).get_json()
    stats = examples["stats"]
    assert examples["total"] > 0 and stats["train"] + stats["eval"] == stats["valid"]
    assert {item["split"] for item in examples["items"] if item["is_valid"]} <= {"train", "eval"}  # curated


def test_an_executable_named_pdf_is_refused_and_nothing_of_the_request_is_kept(
        client: FlaskClient, alice: Account, project_id: str, workspace: Workspace) -> None:
    refused = upload_files(client, alice, project_id, (build_pdf(PDF_TEXT), "good.pdf"), (ELF, "malware.pdf"))
    body = assert_error(refused, 415, "UNSUPPORTED_FILE_TYPE")
    assert "malware.pdf" in body["detail"] and body["context"]["filename"] == "malware.pdf"
    assert client.get(f"/api/projects/{project_id}/files", headers=alice.headers).get_json()["total"] == 0
    assert stored_names(workspace) == []  # the good file went with the request
    wrong_kind = upload_files(client, alice, project_id, (build_pdf(PDF_TEXT), "rows.pdf"), kind="dataset_upload")
    assert_error(wrong_kind, 415, "UNSUPPORTED_FILE_TYPE")


@pytest.mark.parametrize(("name", "stored_as"), [("../../etc/passwd.txt", "passwd.txt"),
                                                 ("..\\..\\boot.ini.txt", "boot.ini.txt"),
                                                 ("my notes (final) é.txt", "my_notes_final_e.txt")])
def test_names_are_sanitised(client: FlaskClient, alice: Account, project_id: str, workspace: Workspace,
                             name: str, stored_as: str) -> None:
    file = upload_files(client, alice, project_id, (NOTE.encode(), name)).get_json()["files"][0]
    assert file["filename"] == stored_as
    stored = [path for path in workspace.files.root.rglob("*") if path.is_file()]
    assert [path.name for path in stored] == [stored_as]
    assert all(path.resolve().is_relative_to(workspace.files.root) for path in stored)


def test_a_stored_name_says_what_the_bytes_are(client: FlaskClient, alice: Account, project_id: str,
                                               workspace: Workspace) -> None:
    data = build_pdf(PDF_TEXT)
    file = upload_files(client, alice, project_id, (data, "invoice.pdf.exe")).get_json()["files"][0]
    assert (file["filename"], file["mime_type"]) == ("invoice.pdf", "application/pdf")
    stored = [path.name for path in workspace.files.root.rglob("*") if path.is_file()]
    assert stored == ["invoice.pdf"]
    downloaded = client.get(f"/api/documents/{file['id']}", headers=alice.headers)
    assert "invoice.pdf" in downloaded.headers["Content-Disposition"] and ".exe" not in \
        downloaded.headers["Content-Disposition"]


def test_an_empty_file_is_kept_as_a_source_in_error(client: FlaskClient, alice: Account, project_id: str) -> None:
    response = upload_files(client, alice, project_id, (b"", "empty.txt"))
    assert response.status_code == 201
    file = response.get_json()["files"][0]
    assert (file["status"], file["error_message"], file["size_bytes"]) == ("error", "the file is empty", 0)
    assert response.get_json()["job_id"] is None  # nothing to load


def test_files_over_the_limits_answer_413(client: FlaskClient, alice: Account, project_id: str,
                                          workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    limits(monkeypatch, workspace, max_file_bytes=2000, max_project_bytes=3000)
    too_big = upload_files(client, alice, project_id, (b"x" * 2500 + b"\n", "big.txt"))
    assert assert_error(too_big, 413, "FILE_TOO_LARGE")["detail"].startswith("File exceeds maximum size")
    assert upload_files(client, alice, project_id, (b"a" * 1500 + b"\n", "one.txt")).status_code == 201
    over_quota = upload_files(client, alice, project_id, (b"b" * 1600 + b"\n", "two.txt"))
    assert "Project storage limit" in assert_error(over_quota, 413, "FILE_TOO_LARGE")["detail"]
    huge = upload_files(client, alice, project_id, (b"c" * (1024 * 1024 + 5000), "huge.txt"))
    assert_error(huge, 413, "PAYLOAD_TOO_LARGE")  # the body itself is over the request's limit, refused unread
    assert client.get(f"/api/projects/{project_id}/files", headers=alice.headers).get_json()["total"] == 1


def test_a_body_announcing_too_many_bytes_is_refused_before_it_is_read(client: FlaskClient, alice: Account,
                                                                      project_id: str) -> None:
    class Unread(io.BytesIO):
        """A body that fails the test if anybody reads it."""

        def read(self, *_args: object) -> bytes:
            raise AssertionError("the body was read")

    def announced(megabytes: int) -> dict[str, str]:
        return {"CONTENT_LENGTH": str(megabytes * 1024 * 1024)}

    response = client.post(f"/api/projects/{project_id}/files/upload", input_stream=Unread(), headers=alice.headers,
                           content_type="multipart/form-data; boundary=x", environ_overrides=announced(600))
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    json_body = client.post("/api/datasets", input_stream=Unread(), headers=alice.headers,
                            content_type="application/json", environ_overrides=announced(64))
    assert_error(json_body, 413, "PAYLOAD_TOO_LARGE")  # any other body: the app's MAX_CONTENT_LENGTH


def test_upload_form_errors(client: FlaskClient, alice: Account, project_id: str) -> None:
    no_files = client.post(f"/api/projects/{project_id}/files/upload", headers=alice.headers,
                           data={"kind": "raw_doc"}, content_type="multipart/form-data")
    assert set(field_errors(no_files)) == {"files"}
    bad_kind = upload_files(client, alice, project_id, (NOTE.encode(), "a.txt"), kind="poetry")
    assert set(field_errors(bad_kind)) == {"kind"}
    as_text = client.post(f"/api/projects/{project_id}/files/upload", headers=alice.headers,
                          data={"files": "not a file"}, content_type="multipart/form-data")
    assert "file part" in field_errors(as_text)["files.0"]
    assert_error(upload_files(client, alice, "missing", (NOTE.encode(), "a.txt")), 404)
    assert_error(client.post(f"/api/projects/{project_id}/files/upload"), 401)


def test_delete_a_file(client: FlaskClient, alice: Account, project_id: str, workspace: Workspace) -> None:
    file = upload_files(client, alice, project_id, (NOTE.encode(), "note.txt")).get_json()["files"][0]
    other = client.post("/api/projects", json={"name": "other"}, headers=alice.headers).get_json()["id"]
    assert_error(client.delete(f"/api/projects/{other}/files/{file['id']}", headers=alice.headers), 404)
    deleted = client.delete(f"/api/projects/{project_id}/files/{file['id']}", headers=alice.headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert stored_names(workspace) == []
    assert_error(client.delete(f"/api/projects/{project_id}/files/{file['id']}", headers=alice.headers), 404)


# --- fintune-platform: contents --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/contents", "/api/contents/url"])
def test_a_url_content_from_a_real_local_server_is_fetched_by_its_job(client: FlaskClient, alice: Account,
                                                                      project_id: str, path: str) -> None:
    with serve() as server:
        server.routes["/guide"] = (200, {"Content-Type": "text/html; charset=utf-8"},
                                   (SAMPLES / "shaping-and-scoring.html").read_bytes())
        response = client.post(path, headers=alice.headers,
                               json={"project_id": project_id, "url": server.url("/guide"), "type": "website",
                                     "name": "Shaping guide", "description": "from the school"})
        assert [seen for seen, _host in server.seen] == ["/guide"]
    assert response.status_code == 201, response.get_json()
    content = response.get_json()
    assert (content["type"], content["kind"], content["name"], content["description"]) == \
        ("website", "raw_doc", "Shaping guide", "from the school")
    assert content["status"] == "ready" and content["url"] == server.url("/guide") and content["file_path"] is None
    assert content["metadata"]["final_url"] == server.url("/guide")
    project_jobs = client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()
    assert [job["type"] for job in project_jobs["items"]] == ["ingest"]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_urls_answer_400_before_any_job(client: FlaskClient, alice: Account, project_id: str,
                                                url: str) -> None:
    response = client.post("/api/contents/url", json={"project_id": project_id, "url": url}, headers=alice.headers)
    assert_error(response, 400, "URL_NOT_ALLOWED")
    assert client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()["total"] == 0
    assert client.get(f"/api/contents?project_id={project_id}", headers=alice.headers).get_json()["total"] == 0


def test_loopback_is_refused_when_the_workspace_does_not_allow_it(client: FlaskClient, alice: Account,
                                                                  project_id: str, workspace: Workspace,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    limits(monkeypatch, workspace, allow_loopback_urls=False)
    with serve() as server:
        server.routes["/page"] = (200, {"Content-Type": "text/plain"}, b"private")
        refused = client.post("/api/contents", json={"project_id": project_id, "url": server.url("/page")},
                              headers=alice.headers)
        assert_error(refused, 400, "URL_NOT_ALLOWED")
        scraped = client.post("/api/helpers/scrape-web", json={"url": server.url("/page")}, headers=alice.headers)
        assert_error(scraped, 400, "URL_NOT_ALLOWED")
        assert server.seen == []


def test_a_youtube_content_and_a_declared_type_that_does_not_match(client: FlaskClient, alice: Account,
                                                                    project_id: str, workspace: Workspace,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("finetune_core.sources.fetch.system_resolver", public_resolver([]))
    workspace.requests_session = youtube_session(FakeYouTube())
    url = f"https://www.youtube.com/watch?v={VIDEO}"
    mismatch = client.post("/api/contents", json={"project_id": project_id, "url": url, "type": "website"},
                           headers=alice.headers)
    assert assert_error(mismatch, 400, "CONTENT_TYPE_MISMATCH")["context"]["detected"] == "youtube"
    content = client.post("/api/contents", json={"project_id": project_id, "url": url, "type": "youtube"},
                          headers=alice.headers).get_json()
    assert (content["type"], content["status"], content["metadata"]["video_id"]) == ("youtube", "ready", VIDEO)
    assert set(field_errors(client.post("/api/contents", json={"project_id": project_id, "url": url, "type": "pdf"},
                                        headers=alice.headers))) == {"type"}


def test_contents_upload_get_put_list_delete(client: FlaskClient, alice: Account, project_id: str) -> None:
    created = upload_one(client, alice, "/api/contents/upload", build_pdf(PDF_TEXT), "handbook.pdf",
                         project_id=project_id, name="Bakery handbook", description="two pages", file_type="pdf")
    assert created.status_code == 201, created.get_json()
    content = created.get_json()
    assert (content["name"], content["type"], content["file_path"], content["status"]) == \
        ("Bakery handbook", "pdf", "handbook.pdf", "ready")
    assert content["metadata"]["pages"] == 2 and content["size"] > 0
    one = client.get(f"/api/contents/{content['id']}", headers=alice.headers).get_json()
    assert one == content
    renamed = client.put(f"/api/contents/{content['id']}", json={"name": "Handbook v2"}, headers=alice.headers)
    assert renamed.status_code == 200
    assert (renamed.get_json()["name"], renamed.get_json()["description"]) == ("Handbook v2", "two pages")
    other = client.post("/api/projects", json={"name": "other"}, headers=alice.headers).get_json()["id"]
    upload_one(client, alice, "/api/contents/upload", NOTE.encode(), "note.txt", project_id=other)
    assert client.get("/api/contents", headers=alice.headers).get_json()["total"] == 2
    mine = client.get(f"/api/contents?project_id={project_id}", headers=alice.headers).get_json()
    assert [item["id"] for item in mine["items"]] == [content["id"]]
    assert_error(client.get("/api/contents?project_id=missing", headers=alice.headers), 404)
    assert client.delete(f"/api/contents/{content['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/contents/{content['id']}", headers=alice.headers), 404)
    spoofed = upload_one(client, alice, "/api/contents/upload", ELF, "x.pdf", project_id=project_id)
    assert_error(spoofed, 415, "UNSUPPORTED_FILE_TYPE")
    assert set(field_errors(upload_one(client, alice, "/api/contents/upload", NOTE.encode(), "n.txt"))) \
        == {"project_id"}


# --- foyergpt: documents ---------------------------------------------------------------------------------------

def test_a_document_is_attached_only_to_an_existing_agent_or_chat_of_the_callers(
        client: FlaskClient, alice: Account, workspace: Workspace) -> None:
    """Ids of no agent or chat (or of another kind of thing): 404, and nothing is kept of the upload."""
    for entity_type, entity_id in (("agent", "3"), ("chat", "made-up"), ("chat", alice.user["id"])):
        refused = assert_error(upload_one(client, alice, "/api/documents/upload", build_pdf(PDF_TEXT), "g.pdf",
                                          entity_type=entity_type, entity_id=entity_id), 404, "ENTITY_NOT_FOUND")
        assert refused["context"] == {"entity_type": entity_type, "entity_id": entity_id}
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0  # no attachments project
    assert [path for path in workspace.files.root.rglob("*") if path.is_file()] == []  # and no stored file


def test_a_document_downloads_as_an_attachment_and_deletes(client: FlaskClient, alice: Account,
                                                           project_id: str) -> None:
    """GET and DELETE /api/documents/{id} take any of the caller's stored sources."""
    data = build_pdf(PDF_TEXT)
    document = upload_files(client, alice, project_id, (data, "guide python.pdf")).get_json()["files"][0]
    downloaded = client.get(f"/api/documents/{document['id']}", headers=alice.headers)
    assert downloaded.status_code == 200 and downloaded.data == data
    assert downloaded.mimetype == "application/pdf"
    assert "guide_python.pdf" in downloaded.headers["Content-Disposition"]
    assert client.delete(f"/api/documents/{document['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/documents/{document['id']}", headers=alice.headers), 404)


def test_document_refusals(client: FlaskClient, alice: Account) -> None:
    eleven_mb = b"word " * (11 * 1024 * 1024 // 5)
    assert_error(upload_one(client, alice, "/api/documents/upload", eleven_mb, "big.txt", entity_type="chat",
                            entity_id="1"), 413, "PAYLOAD_TOO_LARGE")
    just_over = b"w" * (10 * 1024 * 1024 + 10)
    assert_error(upload_one(client, alice, "/api/documents/upload", just_over, "big.txt", entity_type="chat",
                            entity_id="1"), 413, "FILE_TOO_LARGE")
    assert_error(upload_one(client, alice, "/api/documents/upload", b"", "e.txt", entity_type="chat",
                            entity_id="1"), 400, "SOURCE_LOAD_FAILED")
    errors = field_errors(upload_one(client, alice, "/api/documents/upload", NOTE.encode(), "a.txt",
                                     entity_type="folder"))
    assert set(errors) == {"entity_type", "entity_id"}


def test_downloading_a_url_source_has_no_file(client: FlaskClient, alice: Account, project_id: str) -> None:
    with serve() as server:
        server.routes["/n"] = (200, {"Content-Type": "text/plain"}, NOTE.encode())
        content = client.post("/api/contents", json={"project_id": project_id, "url": server.url("/n")},
                              headers=alice.headers).get_json()
    assert_error(client.get(f"/api/documents/{content['id']}", headers=alice.headers), 404, "NO_STORED_FILE")


# --- fintune-platform: helpers ---------------------------------------------------------------------------------

def test_scrape_web_reads_a_real_local_page(client: FlaskClient, alice: Account) -> None:
    with serve() as server:
        server.routes["/guide"] = (200, {"Content-Type": "text/html; charset=utf-8"},
                                   (SAMPLES / "shaping-and-scoring.html").read_bytes())
        server.routes["/binary"] = (200, {"Content-Type": "application/octet-stream"}, ELF)
        page = client.post("/api/helpers/scrape-web", json={"url": server.url("/guide")}, headers=alice.headers)
        missing = client.post("/api/helpers/scrape-web", json={"url": server.url("/gone")}, headers=alice.headers)
        binary = client.post("/api/helpers/scrape-web", json={"url": server.url("/binary")}, headers=alice.headers)
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    assert body["status"] == "success" and body["title"]
    assert any("A boule is a round loaf" in paragraph for paragraph in body["paragraphs"])
    assert body["content"].startswith(body["paragraphs"][0]) and "We use cookies" not in body["content"]
    assert assert_error(missing, 404, "PAGE_NOT_FOUND")["context"]["upstream_status"] == 404
    assert_error(binary, 422, "CONTENT_NOT_EXTRACTED")
    assert_error(client.post("/api/helpers/scrape-web", json={"url": "file:///etc/passwd"}, headers=alice.headers),
                 400, "URL_NOT_ALLOWED")
    assert set(field_errors(client.post("/api/helpers/scrape-web", json={}, headers=alice.headers))) == {"url"}


class CaptionlessYouTube(FakeYouTube):
    """A video whose player answer lists no captions."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if "/youtubei/v1/player" in (request.url or ""):
            return self._response(request, '{"playabilityStatus": {"status": "OK"}}', "application/json")
        return super().send(request, *args, **kwargs)


def test_video_transcript_from_captions_or_a_clear_422(client: FlaskClient, alice: Account,
                                                       workspace: Workspace) -> None:
    url = f"https://youtu.be/{VIDEO}"
    workspace.requests_session = youtube_session(FakeYouTube())
    found = client.post("/api/helpers/video-transcript", json={"video_url": url}, headers=alice.headers)
    assert found.status_code == 200, found.get_json()
    body = found.get_json()
    assert (body["status"], body["source"], body["video_id"], body["language"]) == \
        ("success", "youtube_transcript_api", VIDEO, "en")
    assert body["transcript"].startswith("Welcome back to the bakery school.")
    workspace.requests_session = youtube_session(CaptionlessYouTube())
    none = assert_error(client.post("/api/helpers/video-transcript", json={"video_url": url}, headers=alice.headers),
                        422, "TRANSCRIPT_UNAVAILABLE")
    assert "subtitles are disabled" in none["detail"] and "speech-to-text" in none["detail"]
    assert_error(client.post("/api/helpers/video-transcript", json={"video_url": "https://vimeo.com/1"},
                             headers=alice.headers), 400, "INVALID_INPUT")
    assert_error(client.post("/api/helpers/video-transcript", json={"video_url": url}), 401)


def test_local_mode_needs_no_token_for_sources(make_app: Any, workspace: Workspace) -> None:
    client = make_app(local_mode=True).test_client()
    project = client.post("/api/projects", json={"name": "local"}).get_json()
    uploaded = client.post(f"/api/projects/{project['id']}/files/upload", content_type="multipart/form-data",
                           data={"files": [part(QA_CSV.encode(), "faq.csv")]})
    assert uploaded.status_code == 201, uploaded.get_json()
    assert client.get("/api/contents").get_json()["total"] == 1
