"""Optional download of the official Omniglot zips, verified by checksum. Never called by tests against
the internet: they serve the files from a local HTTP server."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

OMNIGLOT_BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python/"
# "algorithm:hex" checksums of the official archives (the MD5s torchvision's Omniglot dataset checks); a
# mismatch means a corrupt or altered download.
OMNIGLOT_CHECKSUMS = {
    "images_background.zip": "md5:68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation.zip": "md5:6b91aef0f799c5bb55b94e3f2daec811",
}


class DownloadError(RuntimeError):
    """A download that failed; the message says what to do instead."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, checksum: str) -> tuple[bool, str]:
    algorithm, _, expected = checksum.partition(":")
    got = file_digest(path, algorithm)
    return got == expected.lower(), f"{algorithm} {got}, expected {expected}"


def download(url: str, dest: str | os.PathLike, checksum: str, timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` (atomically: a ``.part`` file renamed on success) and verify it.

    ``checksum`` is "algorithm:hex" (e.g. "md5:68d2...", "sha256:..."). An existing ``dest`` with the
    right checksum is reused. Raises ``DownloadError`` when offline, on an HTTP error or on a checksum
    mismatch (the bad file is removed).
    """
    dest = Path(dest)
    if dest.is_file() and _matches(dest, checksum)[0]:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url} ({reason}). If this machine is offline, download the file elsewhere and place it at {dest}"
        ) from exc
    ok, detail = _matches(part, checksum)
    if not ok:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url} has {detail}: the download is corrupt or altered")
    os.replace(part, dest)
    return dest


def download_omniglot(
    dest_dir: str | os.PathLike, base_url: str = OMNIGLOT_BASE_URL, checksums: dict[str, str] | None = None
) -> list[Path]:
    """The official ``images_background.zip`` and ``images_evaluation.zip`` into ``dest_dir``.

    Read them with ``hypermaml.data.load_omniglot_zip``.
    """
    sums = OMNIGLOT_CHECKSUMS if checksums is None else checksums
    return [download(base_url + name, Path(dest_dir) / name, sums.get(name)) for name in sums]
