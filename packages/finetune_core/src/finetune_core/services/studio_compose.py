"""Video composition (crealia's `POST /api/studio/video/compose`): the owner's uploads cut, joined and set to music.

A request names clips (an upload id or its `/api/studio/uploads/{id}` URL, a start and an end in seconds),
transitions between them (`fade`, other xfade kinds, or `none` for a cut), an optional music upload and
`mp4` or `webm`. Everything is checked before a job is stored: clips and music must be the caller's own
uploads (another's, or any other URL: NotFoundError), clips must hold video and lie within their upload
(ffprobe), the output may last MAX_OUTPUT_S at most (a 10-hour request is refused at once). The uploads are
looked up (404) before any other check (400).

The job runs one ffmpeg (an argument list, no shell): per clip a trim, the common size and frame rate, silence
where a clip has no audio; `xfade`/`acrossfade` for transitions, `concat` for cuts; the music looped, cut to the
video's length and mixed in with `amix`. `-progress pipe:1` gives the job's progress and, between its lines, the
cancel flag is read (a cancel kills ffmpeg); a wall-clock limit (timeout_s()) and `-fs` (max_output_bytes()) bound
it. The output is written next to its final place and moved there only on success.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from finetune_core.domain import Job
from finetune_core.errors import FinetuneError, InvalidInputError, NotFoundError
from finetune_core.services import jobs, studio
from finetune_core.services.media import MB, job_file_key, studio_project

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

COMPOSE_JOB = "studio_compose"
FORMATS = ("mp4", "webm")
TRANSITIONS = ("none", "fade", "fadeblack", "fadewhite", "dissolve", "wipeleft", "wiperight", "slideleft",
               "slideright")
MAX_CLIPS = 20
MAX_OUTPUT_S = 600.0  # ten minutes of output
MAX_OUTPUT_BYTES = 500 * MB  # ffmpeg's -fs (FINETUNE_STUDIO_MAX_OUTPUT_BYTES)
TIMEOUT_S = 1800.0  # wall clock of one ffmpeg run (FINETUNE_STUDIO_TIMEOUT_S)
MAX_WIDTH, MAX_HEIGHT, FPS = 1920, 1080, 30
MUSIC_VOLUME = 0.5
X264_PRESET = "veryfast"  # FINETUNE_STUDIO_X264_PRESET: slower makes smaller files


def _setting(name: str, default: float) -> float:
    """A positive number from the environment (a host's own limit), else `default`."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def max_output_bytes() -> int:
    return int(_setting("FINETUNE_STUDIO_MAX_OUTPUT_BYTES", MAX_OUTPUT_BYTES))


def timeout_s() -> float:
    return _setting("FINETUNE_STUDIO_TIMEOUT_S", TIMEOUT_S)


def x264_preset() -> str:
    preset = os.environ.get("FINETUNE_STUDIO_X264_PRESET", "").strip()
    return preset if preset in X264_PRESETS else X264_PRESET


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
POLL_S = 0.5
UPLOAD_URL = re.compile(r"/api/studio/uploads/([0-9a-f]{32})")


@dataclass(frozen=True)
class Probe:
    duration: float
    width: int | None  # None without a video stream
    height: int | None
    has_audio: bool


def probe(path: Path) -> Probe:
    """Duration, video size and whether there is audio, by ffprobe; InvalidInputError if it cannot read it."""
    try:
        done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,width,"
                               "height", "-of", "json", str(path)], capture_output=True, timeout=60, check=True)
        info = json.loads(done.stdout)
        duration = float(info["format"]["duration"])
    except (subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
        raise InvalidInputError("the upload is not readable media", error_code="UNREADABLE_MEDIA") from exc
    streams = info.get("streams", [])
    video = next((stream for stream in streams if stream.get("codec_type") == "video"), None)
    return Probe(duration=duration, width=video and int(video["width"]), height=video and int(video["height"]),
                 has_audio=any(stream.get("codec_type") == "audio" for stream in streams))


def resolve_upload(workspace: WorkspacePort, owner_id: str | None, reference: str) -> studio.Upload:
    """The owner's upload named by its id or its URL; NotFoundError for another's and any other URL."""
    if studio.ID_PATTERN.match(reference):
        return studio.owned_upload(workspace, owner_id, reference)
    found = UPLOAD_URL.fullmatch(urlsplit(reference).path)
    if found is None:
        raise NotFoundError("only your own studio uploads can be composed", error_code="UPLOAD_NOT_FOUND",
                            url=reference[:200])
    return studio.owned_upload(workspace, owner_id, found.group(1))


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
    return _even(width * scale), _even(height * scale)


def plan(workspace: WorkspacePort, owner_id: str | None, *, clips: list[dict[str, Any]],
         transitions: list[dict[str, Any]], music: str | None, output_format: str) -> dict[str, Any]:
    """The job's parameters for a request, every check done (404, 400) before anything is stored."""
    if not 1 <= len(clips) <= MAX_CLIPS:
        raise InvalidInputError(f"give 1 to {MAX_CLIPS} clips", error_code="INVALID_CLIPS")
    if output_format not in FORMATS:
        raise InvalidInputError(f"output_format is one of {', '.join(FORMATS)}", error_code="INVALID_FORMAT")
    uploads = [resolve_upload(workspace, owner_id, clip["source"]) for clip in clips]  # 404 first: a cheap lookup
    music_upload = resolve_upload(workspace, owner_id, music) if music is not None else None
    for index, clip in enumerate(clips):
        if not 0 <= clip["start_time"] < clip["end_time"]:
            raise InvalidInputError(f"clip {index}: end_time must come after start_time (both >= 0)",
                                    error_code="INVALID_CLIP_TIMES", clip=index)
    if len(transitions) not in (0, 1, len(clips) - 1):
        raise InvalidInputError("give one transition for all joins or one per join (clips - 1)",
                                error_code="INVALID_TRANSITIONS")
    cut: dict[str, Any] = {"type": "none", "duration": 0.0}
    joins = [dict(transitions[min(index, len(transitions) - 1)]) if transitions else dict(cut)
             for index in range(len(clips) - 1)]
    lengths = [clip["end_time"] - clip["start_time"] for clip in clips]
    for index, join in enumerate(joins):
        if join["type"] not in TRANSITIONS:
            raise InvalidInputError(f"transition types: {', '.join(TRANSITIONS)}", error_code="INVALID_TRANSITIONS")
        if join["type"] == "none":
            join["duration"] = 0.0
        elif not 0 < join["duration"] < min(lengths[index], lengths[index + 1]):
            raise InvalidInputError(f"transition {index} must be shorter than the clips it joins",
                                    error_code="INVALID_TRANSITIONS", transition=index)
    duration = round(sum(lengths) - sum(join["duration"] for join in joins), 3)
    if duration > MAX_OUTPUT_S:  # before any upload is probed
        raise InvalidInputError(f"the video would last {duration:.0f} s: {MAX_OUTPUT_S:.0f} s at most",
                                error_code="OUTPUT_TOO_LONG", duration_s=duration, max_duration_s=MAX_OUTPUT_S)
    planned: list[dict[str, Any]] = []
    size: tuple[int, int] | None = None
    for index, (clip, upload) in enumerate(zip(clips, uploads, strict=True)):
        info = probe(studio.upload_path(workspace, upload))
        if info.width is None or info.height is None or upload.mime_type.startswith(("image/", "audio/")):
            raise InvalidInputError(f"clip {index} is not a video", error_code="NOT_A_VIDEO", clip=index)
        if clip["end_time"] > info.duration + 0.05:
            raise InvalidInputError(f"clip {index} ends after its video ({info.duration:.2f} s)",
                                    error_code="CLIP_OUT_OF_RANGE", clip=index, duration_s=info.duration)
        size = size or _size(info.width, info.height)
        planned.append({"upload_id": upload.id, "start_time": clip["start_time"],
                        "end_time": min(clip["end_time"], info.duration), "has_audio": info.has_audio})
    music_id = None
    if music_upload is not None:
        if (music_upload.mime_type.startswith("image/")
                or not probe(studio.upload_path(workspace, music_upload)).has_audio):
            raise InvalidInputError("the music has no audio", error_code="NOT_AUDIO")
        music_id = music_upload.id
    assert size is not None
    return {"clips": planned, "joins": joins, "music": music_id, "output_format": output_format,
            "width": size[0], "height": size[1], "duration": duration}


def start_compose(workspace: WorkspacePort, owner_id: str | None, **request: Any) -> Job:
    """Check a compose request (`plan`) and queue its job in the owner's studio project."""
    params = plan(workspace, owner_id, **request)
    project = studio_project(workspace, owner_id)
    assert project is not None
    return jobs.enqueue(workspace, COMPOSE_JOB, project_id=project.id, **params)


# --- the ffmpeg command -----------------------------------------------------------------------------------------

def filter_graph(clips: list[dict[str, Any]], joins: list[dict[str, Any]], *, width: int, height: int,
                 music_input: int | None, duration: float) -> str:
    """The -filter_complex graph: input i is clip i (already cut by -ss/-t), `music_input` the looped music."""
    parts: list[str] = []
    lengths = [clip["end_time"] - clip["start_time"] for clip in clips]
    for index, (clip, length) in enumerate(zip(clips, lengths, strict=True)):
        parts.append(f"[{index}:v]trim=duration={length:.3f},setpts=PTS-STARTPTS,fps={FPS},"
                     f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                     f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,settb=1/{FPS}[v{index}]")
        audio = (f"[{index}:a]atrim=duration={length:.3f},asetpts=PTS-STARTPTS," if clip["has_audio"]
                 else f"anullsrc=r=48000:cl=stereo,atrim=duration={length:.3f},")
        parts.append(f"{audio}aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
                     f"apad=whole_dur={length:.3f}[a{index}]")
    video, audio, elapsed = "[v0]", "[a0]", lengths[0]
    for index, join in enumerate(joins, start=1):
        out_v, out_a = f"[vj{index}]", f"[aj{index}]"
        if join["type"] == "none":
            parts.append(f"{video}{audio}[v{index}][a{index}]concat=n=2:v=1:a=1{out_v}{out_a}")
        else:
            fade = join["duration"]
            parts.append(f"{video}[v{index}]xfade=transition={join['type']}:duration={fade:.3f}:"
                         f"offset={elapsed - fade:.3f}{out_v}")
            parts.append(f"{audio}[a{index}]acrossfade=d={fade:.3f}{out_a}")
        video, audio, elapsed = out_v, out_a, elapsed - join["duration"] + lengths[index]
    if music_input is not None:
        parts.append(f"[{music_input}:a]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
                     f"atrim=duration={duration:.3f},asetpts=PTS-STARTPTS,volume={MUSIC_VOLUME}[music]")
        parts.append(f"{audio}[music]amix=inputs=2:duration=first:dropout_transition=0[amixed]")
        audio = "[amixed]"
    parts.append(f"{video}null[vout]")
    parts.append(f"{audio}anull[aout]")
    return ";".join(parts)


def command(params: dict[str, Any], inputs: list[Path], music: Path | None, output: Path) -> list[str]:
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    for clip, path in zip(params["clips"], inputs, strict=True):
        args += ["-ss", f"{clip['start_time']:.3f}", "-t", f"{clip['end_time'] - clip['start_time']:.3f}",
                 "-i", str(path)]
    if music is not None:
        args += ["-stream_loop", "-1", "-i", str(music)]
    graph = filter_graph(params["clips"], params["joins"], width=params["width"], height=params["height"],
                         music_input=len(inputs) if music is not None else None, duration=params["duration"])
    args += ["-filter_complex", graph, "-map", "[vout]", "-map", "[aout]"]
    if params["output_format"] == "webm":
        args += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "33",
                 "-c:a", "libopus", "-b:a", "128k"]
    else:
        args += ["-c:v", "libx264", "-preset", x264_preset(), "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac",
                 "-b:a", "128k", "-movflags", "+faststart"]
    return [*args, "-t", f"{params['duration']:.3f}", "-fs", str(max_output_bytes()), "-progress", "pipe:1",
            "-nostats", str(output)]


# --- the job ----------------------------------------------------------------------------------------------------

def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_ffmpeg(context: JobContext, args: list[str], total_s: float) -> float:
    """Run ffmpeg, its progress read into the job's, cancel and TIMEOUT_S checked; the seconds it wrote."""
    limit_s = timeout_s()
    deadline, done_s = time.monotonic() + limit_s, 0.0
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    line = lines.get(timeout=POLL_S)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                key, _, value = line.strip().partition("=")
                if key in ("out_time_us", "out_time_ms") and value.isdigit():  # both are microseconds
                    done_s = int(value) / 1_000_000
                if key == "progress" or not line:
                    context.progress(min(done_s, total_s), total_s, "composing")
                    context.check_cancel()
                if time.monotonic() > deadline:
                    raise FinetuneError(f"ffmpeg ran past {limit_s:.0f} s", error_code="COMPOSE_TIMEOUT")
            if process.wait(timeout=60) != 0:
                errors.seek(0)
                tail = errors.read().decode(errors="replace")[-500:]
                raise FinetuneError(f"ffmpeg failed: {tail}", error_code="COMPOSE_FAILED")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=5)
            process.stdout.close()
    return done_s


def compose_job(context: JobContext, *, project_id: str, clips: list[dict[str, Any]], joins: list[dict[str, Any]],
                music: str | None, output_format: str, width: int, height: int, duration: float) -> dict[str, Any]:
    workspace = context.workspace
    with workspace.unit_of_work() as uow:
        owner_id = uow.projects.get(project_id).owner_id
    inputs = [studio.upload_path(workspace, studio.owned_upload(workspace, owner_id, clip["upload_id"]))
              for clip in clips]
    music_path = (studio.upload_path(workspace, studio.owned_upload(workspace, owner_id, music))
                  if music is not None else None)
    job = jobs.get_job(workspace, context.job_id)
    name = f"video.{output_format}"
    target = workspace.files.local_path(job_file_key(job, name))
    target.parent.mkdir(parents=True, exist_ok=True)
    context.progress(0, duration, f"composing {len(clips)} clips", force=True)
    params = {"clips": clips, "joins": joins, "output_format": output_format, "width": width, "height": height,
              "duration": duration}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".part-") as folder:
        partial = Path(folder) / name
        written = run_ffmpeg(context, command(params, inputs, music_path, partial), duration)
        size = partial.stat().st_size if partial.exists() else 0
        cap = max_output_bytes()
        if written < duration - 0.5 or size >= cap:
            raise FinetuneError(f"the video stopped at {written:.1f} s of {duration:.1f} s: it would exceed "
                                f"{cap / MB:g} MB", error_code="OUTPUT_TOO_LARGE")
        os.replace(partial, target)
    context.progress(duration, duration, "done", force=True)
    return {"files": {"video": name}, "output": {"video_url": f"/api/studio/outputs/{job.id}/{name}"},
            "duration_s": duration, "bytes": size, "width": width, "height": height}
