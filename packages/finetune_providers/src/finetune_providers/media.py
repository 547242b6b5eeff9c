"""OpenAI's media models (`finetune_register_media_models`), through the official `openai` SDK.

    openai-images          images.generate (default model dall-e-3, `b64_json` answers: PNG bytes)
    openai-speech          audio.speech.create (default model tts-1, MP3)
    openai-transcription   audio.transcriptions.create (default model whisper-1, `verbose_json` with segments)

The key is the caller's stored `openai` key, else OPENAI_API_KEY; OPENAI_BASE_URL points the SDK elsewhere
(as the SDK itself reads it). The SDK is imported on first use. `MediaOptions.transport` replaces the HTTP
transport (an httpx2 transport): the test seam of the other SDK clients (_sdk.py). Errors name the provider and
the status, never the key: a refused key is 401-like `PROVIDER_AUTH`, anything else `GENERATION_FAILED`.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from finetune_core.errors import GenerationError, MissingApiKeyError
from finetune_core.media import ImageModel, MediaModel, Segment, SpeechModel, TranscriptionModel

from finetune_providers._retry import redact

PROVIDER = "openai"


class OpenAIMedia(MediaModel):
    key_provider: ClassVar[str | None] = PROVIDER
    default_model: ClassVar[str]

    def _client(self) -> Any:
        openai = importlib.import_module("openai")
        key = self.options.api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise MissingApiKeyError("no OpenAI key: store one (POST /api/keys, `finetune keys set openai`) or set "
                                     "OPENAI_API_KEY", provider=PROVIDER)
        http_client = None
        if self.options.transport is not None:
            httpx2 = importlib.import_module("httpx2")
            http_client = httpx2.Client(transport=self.options.transport, timeout=self.options.timeout_s)
        return openai.OpenAI(api_key=key, max_retries=2, timeout=self.options.timeout_s, http_client=http_client)

    @property
    def model(self) -> str:
        return self.options.model or self.default_model

    @contextmanager
    def _errors(self) -> Iterator[None]:
        openai = importlib.import_module("openai")
        secret = self.options.api_key or os.environ.get("OPENAI_API_KEY")
        try:
            yield
        except openai.APIStatusError as exc:
            code = "PROVIDER_AUTH" if exc.status_code in (401, 403) else "GENERATION_FAILED"
            detail = redact(str(exc.message), secret)[:300]
            raise GenerationError(f"the OpenAI API answered {exc.status_code}: {detail}",
                                  error_code=code, provider=PROVIDER, status=exc.status_code) from None
        except openai.APIConnectionError as exc:
            raise GenerationError(f"the OpenAI API could not be reached ({type(exc).__name__})",
                                  provider=PROVIDER) from None


class OpenAIImages(OpenAIMedia, ImageModel):
    """OpenAI image generation (DALL·E 3 by default)."""

    name: ClassVar[str] = "openai-images"
    default_model: ClassVar[str] = "dall-e-3"

    def generate(self, prompt: str, size: str, quality: str) -> bytes:
        with self._errors():
            response = self._client().images.generate(model=self.model, prompt=prompt, size=size, quality=quality,
                                                      n=1, response_format="b64_json")
        data = getattr(response, "data", None) or []
        encoded = getattr(data[0], "b64_json", None) if data else None
        if not encoded:
            raise GenerationError("the OpenAI API answered no image", provider=PROVIDER)
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise GenerationError("the OpenAI API answered an image that is not base64", provider=PROVIDER) from None


class OpenAISpeech(OpenAIMedia, SpeechModel):
    """OpenAI text to speech (tts-1 by default), MP3."""

    name: ClassVar[str] = "openai-speech"
    default_model: ClassVar[str] = "tts-1"

    def synthesize(self, text: str, voice: str, speed: float) -> bytes:
        with self._errors():
            response = self._client().audio.speech.create(model=self.model, voice=voice, input=text, speed=speed,
                                                          response_format="mp3")
            content: bytes = response.read()
        return content


class OpenAITranscription(OpenAIMedia, TranscriptionModel):
    """OpenAI speech to text (whisper-1 by default), with segment timestamps."""

    name: ClassVar[str] = "openai-transcription"
    default_model: ClassVar[str] = "whisper-1"

    def transcribe(self, audio: Path, language: str | None) -> list[Segment]:
        extra: dict[str, Any] = {"language": language} if language else {}
        with self._errors(), audio.open("rb") as file:
            response = self._client().audio.transcriptions.create(
                model=self.model, file=(audio.name, file), response_format="verbose_json",
                timestamp_granularities=["segment"], **extra)
        segments = getattr(response, "segments", None) or []
        return [Segment(start=float(_field(item, "start")), end=float(_field(item, "end")),
                        text=str(_field(item, "text")).strip()) for item in segments]


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name)


MEDIA_MODELS: tuple[type[MediaModel], ...] = (OpenAIImages, OpenAISpeech, OpenAITranscription)
