"""The project use cases on a fake unit of work: what they store, what they refuse, and that a refusal stores
nothing."""

from __future__ import annotations

import pytest
from finetune_core.errors import NotFoundError, UnknownPluginError
from finetune_core.services import projects, tenancy
from kits.fake_workspace import FakeWorkspace


def test_a_project_is_stored_with_its_config_and_found_by_id_or_name(workspace: FakeWorkspace) -> None:
    created = projects.create_project(workspace, "starters", config={"chunk_size_tokens": 300})
    assert projects.get_project(workspace, created.id) == created
    assert projects.get_project(workspace, "starters").id == created.id
    assert workspace.rows.projects[created.id].config.chunk_size_tokens == 300


def test_a_config_naming_a_plugin_that_is_not_installed_is_refused_and_nothing_is_stored(
        workspace: FakeWorkspace) -> None:
    with pytest.raises(UnknownPluginError):
        projects.create_project(workspace, "starters", config={"generator": "no-such-generator"})
    assert workspace.rows.projects == {}


def test_an_update_merges_the_config_key_by_key_and_a_bad_key_leaves_the_project_as_it_was(
        workspace: FakeWorkspace) -> None:
    created = projects.create_project(workspace, "starters", config={"chunk_size_tokens": 300})
    updated = projects.update_project(workspace, created.id, description="notes",
                                      config={"chunk_overlap_tokens": 20})
    assert (updated.description, updated.config.chunk_size_tokens, updated.config.chunk_overlap_tokens) == (
        "notes", 300, 20)
    with pytest.raises(UnknownPluginError):
        projects.update_project(workspace, created.id, name="renamed", config={"chunker": "no-such-chunker"})
    assert workspace.rows.projects[created.id].name == "starters"  # refused: nothing written


def test_deleting_a_project_removes_its_row_and_its_files(workspace: FakeWorkspace) -> None:
    kept = projects.create_project(workspace, "kept")
    gone = projects.create_project(workspace, "gone")
    workspace.files.put(f"{gone.id}/sources/a.txt", b"text")
    workspace.files.put(f"{kept.id}/sources/b.txt", b"text")
    projects.delete_project(workspace, "gone")
    assert list(workspace.rows.projects) == [kept.id]
    assert not workspace.files.exists(f"{gone.id}/sources/a.txt")
    assert workspace.files.exists(f"{kept.id}/sources/b.txt")
    with pytest.raises(NotFoundError):
        projects.delete_project(workspace, "gone")


def test_listing_pages_newest_first_and_filters_by_owner(workspace: FakeWorkspace) -> None:
    made = [projects.create_project(workspace, f"p{index}", owner_id="alice" if index % 2 else "bob")
            for index in range(5)]
    page, total = projects.list_projects(workspace, owner_id="alice", limit=1)
    assert total == 2 and [project.id for project in page] == [made[3].id]


def test_another_users_project_is_not_found_rather_than_forbidden(workspace: FakeWorkspace) -> None:
    project = projects.create_project(workspace, "mine", owner_id="alice")
    assert tenancy.owned_project(workspace, project.id, "alice").id == project.id
    assert tenancy.owned_project(workspace, project.id, None).id == project.id  # the local single user sees all
    with pytest.raises(NotFoundError) as refused:
        tenancy.owned_project(workspace, project.id, "bob")
    assert refused.value.context == {"project_id": project.id}
