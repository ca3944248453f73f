"""The hub, as seen from a machine that may have no network: one connection attempt, then the download cache.

huggingface_hub retries an unreachable host for about half a minute before it gives up; an export of a hub id
probes once, and when the hub cannot be reached, loads only what is already in the cache.
"""

from __future__ import annotations

from pathlib import Path


def hub_reachable() -> str | None:
    """None when the hub can be reached, else why not. One connection attempt with a short timeout, made once per
    process: huggingface_hub itself retries unreachable hosts for about half a minute before giving up. Skipped (the
    hub is taken as reachable) when offline mode or a proxy is configured, where a direct connection says nothing."""
    global _HUB_STATE
    if _HUB_STATE is None:
        _HUB_STATE = (_probe_hub(),)
    return _HUB_STATE[0]


_HUB_STATE: tuple | None = None


def _probe_hub() -> str | None:
    import os
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(
        os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    ):
        return None
    endpoint = urlsplit(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=5).close()
    except OSError as error:
        return f"cannot connect to {endpoint.hostname}:{port} ({error.strerror or error})"
    return None


def hub_options(model, cache_dir: str | None) -> dict:
    """from_pretrained options: for a hub id whose hub cannot be reached, only what is already in the cache. A local
    folder never touches the network."""
    if Path(str(model)).is_dir():
        return {"cache_dir": cache_dir}
    return {"cache_dir": cache_dir, "local_files_only": hub_reachable() is not None}


def hub_snapshot(model: str, cache_dir: str | None, patterns: list[str]) -> Path | None:
    """The download cache's folder holding a hub id's files that match `patterns`, fetching the missing ones (when
    the hub can be reached); None when they cannot be had, and the caller's loading reports why in its own words."""
    import logging

    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, allow_patterns=patterns, **hub_options(model, cache_dir)))
    except Exception as error:  # the hub's own exception types, and OSError
        logging.getLogger(__name__).debug("no snapshot of %s: %s", model, error)
        return None
