"""Download of the official archives, verified by checksum and resumable. Never called by tests against
the internet: they serve the files from a local HTTP server."""

from __future__ import annotations

import hashlib
import http.client
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
# EMNIST's official archive (all splits as MNIST-style idx .gz files under gzip/, about 560 MB); the MD5 is the one
# torchvision's EMNIST dataset checks (torchvision/datasets/mnist.py, class EMNIST, `md5`).
EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
EMNIST_CHECKSUM = "md5:58c8d27c78d21e728a6bc7b3cc06412e"


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


def download(
    url: str,
    dest: str | os.PathLike,
    checksum: str,
    timeout: float = 30.0,
    progress: bool = True,
    offline_hint: str | None = None,
) -> Path:
    """Fetch ``url`` to ``dest`` (through a ``dest.part`` file renamed once verified) and check its checksum.

    ``checksum`` is "algorithm:hex" (e.g. "md5:68d2...", "sha256:..."). An existing ``dest`` with the right
    checksum is reused. An interrupted download leaves its ``.part`` file, and the next call continues it with
    an HTTP Range request; a server that ignores Range sends the whole file, which then replaces the part.
    Raises ``DownloadError`` when offline, on an HTTP error (the message ends with ``offline_hint``, by
    default "place the file at ``dest``") or on a checksum mismatch (the bad file is removed).
    """
    dest = Path(dest)
    if dest.is_file() and _matches(dest, checksum)[0]:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if have and _matches(part, checksum)[0]:  # complete already (stopped between the last byte and the rename)
        os.replace(part, dest)
        return dest
    try:
        try:
            received, total = _fetch(url, part, have, timeout, progress, dest.name)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not have:  # 416: the part is no prefix of the file (it changed): start afresh
                raise
            part.unlink()
            received, total = _fetch(url, part, 0, timeout, progress, dest.name)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        hint = offline_hint or f"If this machine is offline, download the file elsewhere and place it at {dest}"
        raise DownloadError(f"could not download {url} ({reason}). {hint}") from exc
    if total is not None and received < total:  # the connection closed early: keep the part to resume from
        raise DownloadError(
            f"the download of {url} stopped after {received} of {total} bytes; run the same command again to resume it"
        )
    ok, detail = _matches(part, checksum)
    if not ok:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url} has {detail}: the download is corrupt or altered")
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, have: int, timeout: float, progress: bool, label: str) -> tuple[int, int | None]:
    """Append the bytes after the first ``have`` to ``part`` (all of them if the server ignores Range).

    Returns (size of ``part`` now, the full file's size if the server said it).
    """
    headers = {"Range": f"bytes={have}-"} if have else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
        resumed = have > 0 and response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length else None
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=label, disable=not progress) as bar,
        ):
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))
    return part.stat().st_size, total


def download_omniglot(
    dest_dir: str | os.PathLike, base_url: str = OMNIGLOT_BASE_URL, checksums: dict[str, str] | None = None
) -> list[Path]:
    """The official ``images_background.zip`` and ``images_evaluation.zip`` into ``dest_dir``.

    Read them with ``hypermaml.data.load_omniglot_zip``.
    """
    sums = OMNIGLOT_CHECKSUMS if checksums is None else checksums
    return [download(base_url + name, Path(dest_dir) / name, sums.get(name)) for name in sums]
