"""GDPR (crealia): what a user holds, as one JSON document, and the files they own in the workspace's store.

    data = gdpr_export.export_user_data(workspace, user_id)   # every row the user owns, and their files listed

Rows are read through the domain models, so secrets never leave storage: a provider key is its mask, an issued
key its prefix, a session without its refresh token id, a user without the password hash. Ownership is the
tenancy's: the user's projects (and everything in them, their jobs included), fine-tunes, models, agents, chats
(the user's own: another user's chat with one of their agents is that other user's), keys, sessions, billing
rows and consent. The local single user (no sign-in) owns every row, as it sees every row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from finetune_core.domain import Project, utcnow
from finetune_core.errors import InvalidInputError
from finetune_core.services.keys import LOCAL_OWNER
from finetune_core.services.users import LOCAL_USER_ID

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

EXPORT_FORMAT = "finetune-gdpr-export"
EXPORT_VERSION = 1


def owner_of(user_id: str) -> str | None:
    """The owner id the user's rows carry: None (every row) for the local single user."""
    return None if user_id == LOCAL_USER_ID else user_id


def _dump(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") if isinstance(item, BaseModel) else dict(item) for item in items]


def owned_projects(uow: UnitOfWork, owner: str | None) -> list[Project]:
    projects, _ = uow.projects.search(owner_id=owner, limit=None)
    return projects


def file_prefixes(uow: UnitOfWork, owner: str | None) -> list[str]:
    """The file-store keys (files or folders) that hold the owner's files.

    A project's folder (its sources, attachments and evaluation reports), its model exports, the folder of each
    fine-tune (datasets written for training, adapters), and each model's artifact path.
    """
    prefixes: list[str] = []
    projects = owned_projects(uow, owner)
    for project in projects:
        prefixes += [project.id, f"exports/{project.id}"]
    fine_tunes, _ = uow.fine_tunes.search(owner_id=owner, limit=None)
    for project in projects:
        fine_tunes += uow.fine_tunes.search(project_id=project.id, limit=None)[0]
    prefixes += [f"fine_tunes/{fine_tune.id}" for fine_tune in fine_tunes]
    models, _ = uow.models.search(owner_id=owner, limit=None)
    prefixes += [model.artifact_path for model in models if model.artifact_path]
    return list(dict.fromkeys(prefixes))


def _local_path(workspace: WorkspacePort, key: str) -> Path | None:
    try:
        return workspace.files.local_path(key)
    except InvalidInputError:  # not a key of the store (an artifact path written by hand): nothing of ours there
        return None


def list_files(workspace: WorkspacePort, prefixes: list[str]) -> list[dict[str, Any]]:
    """Each file under `prefixes`: its key in the store and its size, once each, sorted by key."""
    found: dict[str, int] = {}
    root = workspace.files.root.resolve()
    for prefix in prefixes:
        path = _local_path(workspace, prefix)
        if path is None:
            continue
        paths = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for file in paths:
            if file.is_file():
                found[file.resolve().relative_to(root).as_posix()] = file.stat().st_size
    return [{"key": key, "size_bytes": size} for key, size in sorted(found.items())]


def _project(uow: UnitOfWork, project: Project) -> dict[str, Any]:
    sources, _ = uow.sources.search(project.id, limit=None)
    documents = []
    for source in sources:
        document = uow.documents.get(source.id)
        if document is not None:
            documents.append({"source_id": source.id, **document.model_dump(mode="json")})
    jobs, _ = uow.jobs.search(project_id=project.id, limit=None)
    return {
        **project.model_dump(mode="json"),
        "sources": _dump(sources),
        "documents": documents,
        "chunks": _dump(uow.chunks.search(project.id, limit=None)[0]),
        "examples": _dump(list(uow.examples.iterate(project.id))),
        "jobs": [{**job.model_dump(mode="json"), "events": _dump(uow.jobs.events(job.id, limit=1_000_000))}
                 for job in jobs],
    }


def _accounts(uow: UnitOfWork, user_id: str, owner: str | None) -> dict[str, Any]:
    """The user's account rows: profile, consent, sign-ins, keys, billing."""
    subscription = uow.subscriptions.of_user(user_id)
    return {
        "user": uow.users.get(user_id).model_dump(mode="json"),
        "consent": uow.consents.of_user(user_id).model_dump(mode="json"),
        "sessions": _dump(uow.auth_sessions.of_user(user_id)),
        "provider_keys": _dump(uow.provider_keys.of_owner(owner if owner is not None else LOCAL_OWNER)),
        "issued_keys": _dump(uow.issued_keys.search(owner_id=owner, limit=None)[0]),
        "subscription": subscription.model_dump(mode="json") if subscription is not None else None,
        "checkout_sessions": _dump(uow.checkout_sessions.all_of_user(user_id)),
        "payments": _dump(uow.payments.of_user(user_id)),
        "billing_events": [{key: value.isoformat() if hasattr(value, "isoformat") else value
                            for key, value in event.items()} for event in uow.billing_events.of_user(user_id)],
    }


def export_user_data(workspace: WorkspacePort, user_id: str) -> dict[str, Any]:
    """Every row the user owns and the list of their files, as JSON data; NotFoundError for an unknown user."""
    owner = owner_of(user_id)
    with workspace.unit_of_work() as uow:
        accounts = _accounts(uow, user_id, owner)
        chats = [{**chat.model_dump(mode="json"), "messages": _dump(uow.chats.messages(chat.id)[0])}
                 for chat in uow.chats.search(owner_id=owner, limit=None)[0]]
        data = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": utcnow().isoformat().replace("+00:00", "Z"),
            **accounts,
            "projects": [_project(uow, project) for project in owned_projects(uow, owner)],
            "fine_tunes": _dump(uow.fine_tunes.search(owner_id=owner, limit=None)[0]),
            "models": _dump(uow.models.search(owner_id=owner, limit=None)[0]),
            "agents": _dump(uow.agents.search(owner_id=owner, limit=None)[0]),
            "chats": chats,
            "forum": {"topics": _dump(uow.forum.topics_of(user_id)),
                      "comments": _dump(uow.forum.comments_of(user_id))},
        }
        prefixes = file_prefixes(uow, owner)
    data["files"] = list_files(workspace, prefixes)
    return data
