"""Whether a model can be had, and what it is, before anything loads: its config.json (and
mamba_config.json, which marks a MambaInLlama checkpoint; a Llamba's config.json says
``model_type: llamba``) from a local directory, a builtin or the HF hub (its cache, or the hub
itself when reachable); and whether a separate tokenizer (``model.tokenizer``) can be had.

A hub model that is neither cached nor reachable, gated, or misspelt is a one-line
``ModelUnavailable`` naming the id and the fix, instead of transformers' traceback minutes later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.generation.models import resolve

CONFIG_FILE, MAMBA_CONFIG_FILE, TOKENIZER_FILE = "config.json", "mamba_config.json", "tokenizer_config.json"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+|[\w.-]+")
LOGIN = "`hf auth login` (or `huggingface-cli login`)"


class ModelUnavailable(UserError):
    """A model that cannot be had; the message is one line naming what was looked for and the fix."""


@dataclass(frozen=True)
class ModelInfo:
    config: dict[str, Any]  # config.json
    mamba_config: dict[str, Any] | None  # mamba_config.json: present only in MambaInLlama checkpoints

    @property
    def architecture(self) -> str:
        """"mamba_in_llama", else config.json's model_type (llama, llamba, mamba2, ...)."""
        return "mamba_in_llama" if self.mamba_config is not None else str(self.config.get("model_type", "unknown"))


def model_info(path: str, revision: str | None = None, option: str = "model.path") -> ModelInfo:
    """The configs of the model at ``path`` (local directory, builtin:<name> or hub id)."""
    local = Path(resolve(path))
    if local.is_dir():
        if not (local / CONFIG_FILE).is_file():
            raise ModelUnavailable(f"{option}={path}: {local} has no {CONFIG_FILE}, so it is not a model directory")
        return ModelInfo(_read(local / CONFIG_FILE), _read(local / MAMBA_CONFIG_FILE))
    if not _HUB_ID.fullmatch(path):
        raise ModelUnavailable(f"{option}={path!r} is neither a local directory nor a hub id (owner/name)")
    config = _hub_file(path, CONFIG_FILE, revision, option, required=True)
    if config is None:
        raise ModelUnavailable(f"{option}={path}: the hub repo has no {CONFIG_FILE}, so it is not a transformers model")
    # Offline, a cached repo without mamba_config.json counts as having none: the harness
    # downloads a MambaInLlama checkpoint's JSON files together (checkpoint.local_dir).
    mamba = _hub_file(path, MAMBA_CONFIG_FILE, revision, option, required=False)
    return ModelInfo(_read(config), None if mamba is None else _read(mamba))


def check_tokenizer(path: str, option: str = "model.tokenizer") -> None:
    """A tokenizer that cannot be had (a local directory without one, a hub repo neither cached nor
    reachable, gated...) is a one-line ``ModelUnavailable`` naming ``option``."""
    local = Path(resolve(path))
    if local.is_dir():
        if not any((local / name).is_file() for name in (TOKENIZER_FILE, "tokenizer.json")):
            raise ModelUnavailable(f"{option}={path}: {local} has no {TOKENIZER_FILE} or tokenizer.json")
        return
    if not _HUB_ID.fullmatch(path):
        raise ModelUnavailable(f"{option}={path!r} is neither a local directory nor a hub id (owner/name)")
    if _hub_file(path, TOKENIZER_FILE, None, option, required=True) is None:
        raise ModelUnavailable(f"{option}={path}: the hub repo has no {TOKENIZER_FILE}")


def _read(file: Path) -> dict[str, Any] | None:
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


def _hub_file(repo: str, filename: str, revision: str | None, option: str, required: bool) -> Path | None:
    """The file from the HF cache, else from the hub; None when the repo does not have it (or, for
    an optional file such as mamba_config.json, when the hub cannot be asked)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)

    try:
        return Path(hf_hub_download(repo, filename, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    try:
        # One request: hf_hub_download itself retries a dead network for half a minute, logging each try.
        get_hf_file_metadata(hf_hub_url(repo, filename, revision=revision))
    except RemoteEntryNotFoundError:
        return None
    except GatedRepoError:
        raise ModelUnavailable(f"{option}={repo} is gated and not cached: accept its licence on "
                               f"https://huggingface.co/{repo}, then {LOGIN}; or set {option}=/local/dir") from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"{option}={repo}: no such hub repo, or a private one: check the id, {LOGIN} if it "
                               f"is yours, or set {option}=/local/dir") from None
    except RevisionNotFoundError:
        raise ModelUnavailable(f"{option}={repo}: the hub repo has no revision {revision!r}: fix model.revision") from None
    except HfHubHTTPError as err:
        raise ModelUnavailable(f"{option}={repo}: not cached, and the hub answered {str(err).splitlines()[0]}; "
                               f"or set {option}=/local/dir") from None
    except Exception as err:  # the network (offline mode, no route, DNS): httpx's errors, whichever httpx
        if not required:
            return None
        raise ModelUnavailable(
            f"{option}={repo}: neither in the HF cache ({_cache()}) nor reachable on the hub "
            f"({type(err).__name__}); run once where huggingface.co is reachable (gated models: accept the licence "
            f"on https://huggingface.co/{repo}, then {LOGIN}), or set {option}=/local/dir") from None
    return Path(hf_hub_download(repo, filename, revision=revision))


def _cache() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
