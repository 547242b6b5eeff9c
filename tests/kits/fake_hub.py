"""A small Hugging Face Hub on 127.0.0.1: the two endpoints huggingface_hub calls to resolve a model.

    GET  /api/models/{repo_id}[/revision/{rev}]        the model info (HfApi.model_info)
    HEAD /{repo_id}/resolve/{rev}/{filename}           metadata for hf_hub_download: X-Repo-Commit, ETag, size
    GET  /{repo_id}/resolve/{rev}/{filename}           the file

Errors carry the Hub's X-Error-Code header (RepoNotFound, GatedRepo, EntryNotFound), which is how
huggingface_hub picks its exception class. The models' config.json files are the published ones.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "hf_fake_token_for_tests"

LLAMA_3_1_8B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
    "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                            "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
}
MISTRAL_7B = {
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "vocab_size": 32000,
}
QWEN2_7B = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
    "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 18944,
    "max_position_embeddings": 131072, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28,
    "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_sliding_window": False,
    "vocab_size": 152064,
}
GEMMA_7B = {
    "architectures": ["GemmaForCausalLM"], "attention_bias": False, "bos_token_id": 2, "eos_token_id": 1,
    "head_dim": 256, "hidden_act": "gelu", "hidden_size": 3072, "intermediate_size": 24576,
    "max_position_embeddings": 8192, "model_type": "gemma", "num_attention_heads": 16, "num_hidden_layers": 28,
    "num_key_value_heads": 16, "pad_token_id": 0, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "torch_dtype": "bfloat16", "vocab_size": 256000,
}
PHI_2 = {
    "architectures": ["PhiForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 50256, "embd_pdrop": 0.0,
    "eos_token_id": 50256, "hidden_act": "gelu_new", "hidden_size": 2560, "initializer_range": 0.02,
    "intermediate_size": 10240, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "model_type": "phi",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "partial_rotary_factor": 0.4,
    "qk_layernorm": False, "resid_pdrop": 0.1, "rope_theta": 10000.0, "tie_word_embeddings": False,
    "torch_dtype": "float16", "vocab_size": 51200,
}
PHI_3_MINI = {
    "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 32000,
    "hidden_act": "silu", "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 32, "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "vocab_size": 32064,
}

# the parameter counts the Hub publishes (its `safetensors.total`) for these configs
PUBLISHED_TOTALS = {
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "Qwen/Qwen2-7B": 7_615_616_512,
    "google/gemma-7b": 8_537_680_896,
    "microsoft/phi-2": 2_779_683_840,
    "microsoft/Phi-3-mini-4k-instruct": 3_821_079_552,
}


@dataclass
class HubModel:
    repo_id: str
    config: dict[str, Any]
    license: str
    gated: str | bool = False  # the Hub says "auto" or "manual" for gated repos
    safetensors_total: int | None = None  # None: the model info has no safetensors block
    sha: str = field(default="")

    def __post_init__(self) -> None:
        self.sha = self.sha or hashlib.sha1(self.repo_id.encode()).hexdigest()

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "_id": self.sha[:24], "id": self.repo_id, "modelId": self.repo_id, "author": self.repo_id.split("/")[0],
            "sha": self.sha, "private": False, "gated": self.gated, "disabled": False, "downloads": 1, "likes": 1,
            "library_name": "transformers", "pipeline_tag": "text-generation",
            "tags": ["transformers", "safetensors", self.config["model_type"], f"license:{self.license}"],
            "config": {"architectures": self.config["architectures"], "model_type": self.config["model_type"]},
            "cardData": {"license": self.license, "language": ["en"]},
            "siblings": [{"rfilename": "config.json"}, {"rfilename": "model.safetensors"}],
            "lastModified": "2024-07-01T00:00:00.000Z", "createdAt": "2024-07-01T00:00:00.000Z",
        }
        if self.safetensors_total is not None:
            body["safetensors"] = {"parameters": {"BF16": self.safetensors_total}, "total": self.safetensors_total}
        return body


def default_models() -> list[HubModel]:
    return [
        HubModel("meta-llama/Llama-3.1-8B", LLAMA_3_1_8B, "llama3.1", gated="manual",
                 safetensors_total=PUBLISHED_TOTALS["meta-llama/Llama-3.1-8B"]),
        # no safetensors block: the count comes from the config
        HubModel("meta-llama/Llama-3.1-8B-nosafetensors", LLAMA_3_1_8B, "apache-2.0"),
        HubModel("mistralai/Mistral-7B-v0.1", MISTRAL_7B, "apache-2.0"),
        HubModel("Qwen/Qwen2-7B", QWEN2_7B, "apache-2.0"),
        # gated on the real Hub; open here, so that only its licence says it is gated
        HubModel("google/gemma-7b", GEMMA_7B, "gemma"),
        HubModel("microsoft/phi-2", PHI_2, "mit"),
        HubModel("microsoft/Phi-3-mini-4k-instruct", PHI_3_MINI, "mit"),
    ]


class FakeHub:
    """Serves `models` on 127.0.0.1 in a thread; `requests` records (method, path, had a token) of each call."""

    def __init__(self, models: list[HubModel]) -> None:
        self.models = {model.repo_id: model for model in models}
        self.requests: list[tuple[str, str, bool]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


API_PATH = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)??)(?:/revision/(?P<rev>[^/]+))?$")
RESOLVE_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve(body_wanted=True)

        def do_HEAD(self) -> None:
            self._serve(body_wanted=False)

        def _serve(self, *, body_wanted: bool) -> None:
            path = self.path.split("?", 1)[0]
            authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            hub.requests.append((self.command, path, authorized))
            if match := API_PATH.match(path):
                model = hub.models.get(match["repo"])
                if model is None:
                    return self._error(404, "RepoNotFound", "Repository not found")
                return self._send(200, json.dumps(model.info()).encode(), "application/json", body_wanted)
            if match := RESOLVE_PATH.match(path):
                model = hub.models.get(match["repo"])
                if model is None:
                    return self._error(404, "RepoNotFound", "Repository not found")
                if model.gated and not authorized:
                    return self._error(401, "GatedRepo", "Access to model is restricted.", commit=model.sha)
                if match["file"] != "config.json":
                    return self._error(404, "EntryNotFound", "Entry not found", commit=model.sha)
                body = json.dumps(model.config, indent=2).encode()
                return self._send(200, body, "application/json", body_wanted, commit=model.sha)
            return self._error(404, "RepoNotFound", "Repository not found")

        def _send(self, status: int, body: bytes, content_type: str, body_wanted: bool, *,
                  commit: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if commit:
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{hashlib.sha1(body).hexdigest()}"')
            self.end_headers()
            if body_wanted:
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str, *, commit: str | None = None) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler
