"""Media models (`finetune_register_media_models`): speech, images and transcription, behind three small ports.

A plugin registers classes (or factories) with a unique `name` and a `kind` (`speech`, `image` or
`transcription`); each is built with a `MediaOptions` (the caller's key, the model id, the HTTP
transport seam) and asked for one thing:

    SpeechModel.synthesize(text, voice, speed) -> MP3 bytes
    ImageModel.generate(prompt, size, quality) -> PNG bytes
    TranscriptionModel.transcribe(audio path, language) -> [Segment(start, end, text)]

Which model answers is a setting read from the environment: FINETUNE_SPEECH_MODEL (default `espeak-ng`, the
offline one registered here, which needs the `espeak-ng` and `ffmpeg` programs), FINETUNE_IMAGE_MODEL and
FINETUNE_TRANSCRIPTION_MODEL (no default: there is no offline model for them, and a request then fails with
NO_MODEL_CONFIGURED naming the setting, never with a made-up result).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from finetune_core.errors import GenerationError, InvalidInputError, ModelUnavailableError
from finetune_core.hookspecs import Register, hookimpl
from finetune_core.plugins import registries

MediaKind = Literal["speech", "image", "transcription"]
SETTINGS: dict[MediaKind, str] = {"speech": "FINETUNE_SPEECH_MODEL", "image": "FINETUNE_IMAGE_MODEL",
                                  "transcription": "FINETUNE_TRANSCRIPTION_MODEL"}
DEFAULTS: dict[MediaKind, str | None] = {"speech": "espeak-ng", "image": None, "transcription": None}
TOOL_TIMEOUT_S = 120.0  # espeak-ng and ffmpeg, each run
MAX_SPEECH_CHARS = 4096  # OpenAI's limit too


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: seconds from the start, and what is said."""

    start: float
    end: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class MediaOptions:
    """What a media model is built with: `api_key` (the caller's, else the provider's environment variable),
    `model` (the provider's model id, None: its default), `transport` (an HTTP transport: a test seam)."""

    api_key: str | None = None
    model: str | None = None
    transport: Any | None = None
    timeout_s: float = 120.0


class MediaModel(ABC):
    name: ClassVar[str]
    kind: ClassVar[MediaKind]
    key_provider: ClassVar[str | None] = None  # the key store's provider whose key it needs, None: none

    def __init__(self, options: MediaOptions | None = None) -> None:
        self.options = options or MediaOptions()


class SpeechModel(MediaModel):
    kind: ClassVar[MediaKind] = "speech"

    @abstractmethod
    def synthesize(self, text: str, voice: str, speed: float) -> bytes:
        """`text` spoken by `voice` at `speed` (1.0: normal), as MP3 bytes."""


class ImageModel(MediaModel):
    kind: ClassVar[MediaKind] = "image"

    @abstractmethod
    def generate(self, prompt: str, size: str, quality: str) -> bytes:
        """An image for `prompt` (`size` "1024x1024", `quality` "standard" or "hd"), as PNG bytes."""


class TranscriptionModel(MediaModel):
    kind: ClassVar[MediaKind] = "transcription"

    @abstractmethod
    def transcribe(self, audio: Path, language: str | None) -> list[Segment]:
        """The speech in the audio (or video) file, with timestamps."""


def configured_name(kind: MediaKind) -> str | None:
    """The model name the setting of `kind` names, or its default."""
    value = os.environ.get(SETTINGS[kind], "").strip()
    return value or DEFAULTS[kind]


def media_model_class(kind: MediaKind) -> type[MediaModel]:
    """The registered model class the settings choose for `kind`; 503 NO_MODEL_CONFIGURED when none is."""
    name = configured_name(kind)
    setting = SETTINGS[kind]
    if name is None:
        raise ModelUnavailableError(
            f"no {kind} model is configured: set {setting} to one of the installed {kind} models "
            f"({', '.join(installed(kind)) or 'none installed'})",
            error_code="NO_MODEL_CONFIGURED", setting=setting, installed=installed(kind))
    models = registries().media_models
    if name not in models or getattr(models.get(name), "kind", None) != kind:
        raise ModelUnavailableError(
            f"{setting} names '{name}', which is not an installed {kind} model "
            f"(installed: {', '.join(installed(kind)) or 'none'})",
            error_code="NO_MODEL_CONFIGURED", setting=setting, installed=installed(kind))
    model_class: type[MediaModel] = models.get(name)
    available = getattr(model_class, "available", None)
    if callable(available) and not available():
        raise ModelUnavailableError(f"the {kind} model '{name}' cannot run on this host: {model_class.__doc__}",
                                    error_code="NO_MODEL_CONFIGURED", setting=setting)
    return model_class


def installed(kind: MediaKind) -> list[str]:
    return sorted(model.name for model in registries().media_models if getattr(model, "kind", None) == kind)


# --- offline speech: espeak-ng, encoded to MP3 by ffmpeg -----------------------------------------------------

ESPEAK_WPM = 175  # espeak-ng's own default rate, for speed 1.0
VOICE_PATTERN = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*(\+[a-z0-9]{1,16})?$")
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
                           "verse", "marin", "cedar"})


def run_tool(argv: list[str], *, input: bytes | None = None, timeout_s: float = TOOL_TIMEOUT_S) -> bytes:
    """Run a program (never through a shell) within `timeout_s`; GenerationError when it fails or takes longer."""
    try:
        done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise GenerationError(f"{argv[0]} did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise GenerationError(f"{argv[0]} could not run: {exc.strerror}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-300:]
        raise GenerationError(f"{argv[0]} failed (exit {done.returncode}): {tail}")
    return done.stdout


def espeak_voice(voice: str) -> str:
    """An espeak-ng voice name for `voice`: OpenAI's names (alloy, echo...) speak English."""
    voice = voice.strip().lower()
    if not voice or voice in OPENAI_VOICES:
        return "en"
    if not VOICE_PATTERN.match(voice):
        raise InvalidInputError(f"'{voice}' is not a voice: use an espeak-ng voice (en, fr, en-us, de+f3...) "
                                f"or one of OpenAI's ({', '.join(sorted(OPENAI_VOICES))})", voice=voice)
    return voice


class EspeakSpeech(SpeechModel):
    """Offline speech: needs the `espeak-ng` and `ffmpeg` programs (Debian: apt-get install espeak-ng ffmpeg)."""

    name: ClassVar[str] = "espeak-ng"

    @staticmethod
    def available() -> bool:
        return shutil.which("espeak-ng") is not None and shutil.which("ffmpeg") is not None

    def synthesize(self, text: str, voice: str, speed: float) -> bytes:
        if not text.strip():
            raise InvalidInputError("there is no text to speak")
        wpm = max(80, min(450, round(ESPEAK_WPM * speed)))
        with tempfile.TemporaryDirectory(prefix="finetune-speech-") as folder:
            wav = Path(folder) / "speech.wav"
            mp3 = Path(folder) / "speech.mp3"
            # the text goes in on stdin: never on the command line, where it could read as an option
            run_tool(["espeak-ng", "-v", espeak_voice(voice), "-s", str(wpm), "-w", str(wav), "--stdin"],
                     input=text.encode())
            run_tool(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                      "-codec:a", "libmp3lame", "-q:a", "4", str(mp3)])
            return mp3.read_bytes()


@hookimpl
def finetune_register_media_models(register: Register) -> None:
    """The core's offline speech model, `espeak-ng`."""
    register(EspeakSpeech)
