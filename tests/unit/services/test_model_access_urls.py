"""The URL half of `model_access`: which model servers a caller of each origin may make the server call."""

from __future__ import annotations

import pytest
from finetune_core.errors import UrlNotAllowedError
from finetune_core.services.model_access import Origin, check_model_url
from finetune_core.settings import Settings

REFUSED = ["http://127.0.0.1:11434/v1", "http://localhost:8000/v1", "http://[::1]/v1", "http://10.1.2.3/v1",
           "http://192.168.1.20:11434", "http://169.254.169.254/latest", "http://metadata.google.internal/",
           "http://[::ffff:127.0.0.1]/v1", "http://2130706433/v1", "http://0x7f.1/v1", "http://[fd00:ec2::254]/"]


@pytest.mark.parametrize("url", REFUSED)
def test_a_web_client_may_not_name_a_loopback_private_or_metadata_server(url: str) -> None:
    with pytest.raises(UrlNotAllowedError, match="FINETUNE_ALLOWED_MODEL_HOSTS"):
        check_model_url(Settings(), url, Origin.REMOTE)
    assert check_model_url(Settings(), url, Origin.LOCAL) == url  # the machine's own user may


@pytest.mark.parametrize(("listed", "url", "allowed"), [
    ("10.1.2.3", "http://10.1.2.3:11434/v1", True),  # a host listed alone: any port
    ("10.1.2.3:11434", "http://10.1.2.3:11434/v1", True),
    ("10.1.2.3:11434", "http://10.1.2.3:8000/v1", False),
    ("ollama.lan", "http://OLLAMA.lan./v1", True),
    ("[::1]:8000", "http://[::1]:8000/v1", True),
    ("gpu-box:443", "https://gpu-box/v1", True),  # the scheme's default port
    ("10.1.2.3", "http://10.1.2.4/v1", False),
])
def test_the_operator_lists_model_hosts_of_its_own_network(listed: str, url: str, allowed: bool) -> None:
    settings = Settings(allowed_model_hosts=(listed,))
    if allowed:
        assert check_model_url(settings, url, Origin.REMOTE) == url
    else:
        with pytest.raises(UrlNotAllowedError):
            check_model_url(settings, url, Origin.REMOTE)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/", "not a url", "http://"])
def test_only_http_model_servers_whoever_asks(url: str) -> None:
    for origin in Origin:
        with pytest.raises(UrlNotAllowedError):
            check_model_url(Settings(), url, origin)


def test_the_list_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_ALLOWED_MODEL_HOSTS", " ollama.lan:11434, 10.0.0.9 ,")
    monkeypatch.setenv("FINETUNE_MODELS_DIR", "/srv/models")
    settings = Settings.from_env()
    assert settings.allowed_model_hosts == ("ollama.lan:11434", "10.0.0.9")
    assert str(settings.models_dir) == "/srv/models"
