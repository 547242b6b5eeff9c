"""What a caller may make the server reach when it names a model: a model server's URL, a base model.

Two origins, one rule each, for every route and job that takes a model:

- `Origin.LOCAL`: the library, the CLI and the local single-user app are the machine's own user. Any
  http(s) model server (Ollama on localhost included) and any model folder.
- `Origin.REMOTE`: a web client must not make the server call its private network or read its disk.
  A model server must be public (`sources.fetch.check_url`: no loopback, private, link-local or
  metadata address, checked on every address the host resolves to) unless the operator lists it
  in `allowed_model_hosts` (FINETUNE_ALLOWED_MODEL_HOSTS, "host" or "host:port"). A base model is a
  Hub id or provider model name, one of the caller's registered models, or a folder under the
  operator's `models_dir` (FINETUNE_MODELS_DIR, none by default); any other path is refused.

    check_model_url(workspace.settings, body.base_url, Origin.REMOTE)        # UrlNotAllowedError (400)
    base = check_base_model(workspace, body.base_model, origin=Origin.REMOTE, owner_id=user.id)
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from finetune_core.errors import InvalidInputError, NotFoundError, UrlNotAllowedError
from finetune_core.sources.fetch import check_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.settings import Settings

# a Hub repo id ("org/name", "name") or a provider's model name ("gpt-4o-mini", "ft:gpt-4o-mini:org::abc")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*(/[A-Za-z0-9][A-Za-z0-9._:@+-]*)?$")


class Origin(StrEnum):
    """Who asks: the machine's own user (library, CLI, local mode) or a client of the web API."""

    LOCAL = "local"
    REMOTE = "remote"


def _listed(url: httpx.URL, allowed: tuple[str, ...]) -> bool:
    """Whether the operator listed the URL's host (any port) or its host and port."""
    port = url.port or (443 if url.scheme == "https" else 80)
    for entry in allowed:
        listed = urlsplit(f"//{entry.strip()}")
        if listed.hostname == url.host.lower().rstrip(".") and listed.port in (None, port):
            return True
    return False


def check_model_url(settings: Settings, url: str, origin: Origin) -> str:
    """`url` if a caller of `origin` may make the server call it, else UrlNotAllowedError (see the module doc)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlNotAllowedError(f"URL not allowed: not a valid URL: {exc} ({url})", url=url) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UrlNotAllowedError(f"URL not allowed: a model server is an http(s) URL ({url})", url=url)
    if origin is Origin.LOCAL or _listed(parsed, settings.allowed_model_hosts):
        return url
    try:
        check_url(url, allow_loopback=settings.allow_loopback_urls)
    except UrlNotAllowedError as exc:
        raise UrlNotAllowedError(
            f"{exc.message}; an operator can allow a model server on its own network with "
            "FINETUNE_ALLOWED_MODEL_HOSTS", **exc.context) from None
    return url


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _models_dir_folder(settings: Settings, ref: str) -> Path | None:
    """The folder `ref` names under the operator's models directory (relative to it, or absolute inside it)."""
    if settings.models_dir is None:
        return None
    root = Path(os.path.realpath(settings.models_dir))
    candidate = Path(os.path.realpath(root / ref))  # an absolute `ref` replaces the root: checked below
    if _inside(candidate, root) and candidate.is_dir():
        return candidate
    return None


def _registered(workspace: WorkspacePort, ref: str, owner_id: str | None) -> str | None:
    """What a registered model of the caller's stands for: its provider model id, or its adapter folder."""
    with workspace.unit_of_work() as uow:
        try:
            model = uow.models.get(ref)
        except NotFoundError:
            return None
    if owner_id is not None and model.owner_id != owner_id:
        return None  # another user's id is just an unknown name to this caller
    if model.provider_model_id:
        return model.provider_model_id
    if model.artifact_path:
        return str(workspace.files.local_path(model.artifact_path))
    return model.base_model


def _exists(path: Path) -> bool:
    """Whether `path` exists; a name the system cannot even look up (too long...) does not."""
    try:
        return path.exists()
    except OSError:
        return False


def check_base_model(workspace: WorkspacePort, ref: str, *, origin: Origin, owner_id: str | None) -> str:
    """The base model to train from, as the trainer will load it; InvalidInputError for a folder not allowed."""
    if origin is Origin.LOCAL:
        return ref
    registered = _registered(workspace, ref, owner_id)
    if registered is not None:
        return registered
    in_models_dir = _models_dir_folder(workspace.settings, ref)
    if in_models_dir is not None:
        return str(in_models_dir)
    # a name that is a folder on the server (even relative to its working directory) would be read from its disk
    if not MODEL_NAME.fullmatch(ref) or ".." in ref.split("/") or _exists(Path(ref)):
        raise InvalidInputError(
            f"'{ref}' is not a model this server may load for you: name a Hugging Face Hub id (org/name), a "
            "provider's model, one of your registered models, or a folder under the server's models directory "
            "(FINETUNE_MODELS_DIR" + (")" if workspace.settings.models_dir else ", not set on this server)"),
            error_code="MODEL_PATH_NOT_ALLOWED", model=ref)
    return ref
