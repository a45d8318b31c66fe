"""Download code against a server on 127.0.0.1: never the internet."""

import hashlib
import http.server
import threading
from functools import partial

import pytest

from hypermaml.data import DownloadError, download, download_omniglot


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_a_download_with_the_right_checksum_lands_atomically(server, tmp_path):
    root, url = server
    (root / "a.zip").write_bytes(b"payload" * 1000)
    md5 = hashlib.md5(b"payload" * 1000).hexdigest()
    dest = download(url + "a.zip", tmp_path / "out" / "a.zip", f"md5:{md5}", progress=False)
    assert dest.read_bytes() == b"payload" * 1000
    assert not (tmp_path / "out" / "a.zip.part").exists()
    (root / "a.zip").unlink()  # a second call reuses the verified file without the network
    assert download(url + "a.zip", dest, f"md5:{md5}", progress=False) == dest


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    root, url = server
    (root / "a.zip").write_bytes(b"tampered")
    with pytest.raises(DownloadError, match="corrupt or altered"):
        download(url + "a.zip", tmp_path / "a.zip", "sha256:" + "0" * 64, progress=False)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.zip.part").exists()


def test_a_missing_file_or_no_server_gives_an_offline_hint(server, tmp_path):
    _, url = server
    with pytest.raises(DownloadError, match="place it at"):
        download(url + "absent.zip", tmp_path / "x.zip", "md5:0", progress=False)
    with pytest.raises(DownloadError, match="offline"):
        download("http://127.0.0.1:9/nothing.zip", tmp_path / "y.zip", "md5:0", timeout=2, progress=False)


def test_download_omniglot_fetches_both_archives(server, tmp_path):
    root, url = server
    sums = {}
    for name in ("images_background.zip", "images_evaluation.zip"):
        (root / name).write_bytes(name.encode())
        sums[name] = "md5:" + hashlib.md5(name.encode()).hexdigest()
    paths = download_omniglot(tmp_path, base_url=url, checksums=sums)
    assert [p.name for p in paths] == ["images_background.zip", "images_evaluation.zip"]
    assert [p.read_bytes() for p in paths] == [b"images_background.zip", b"images_evaluation.zip"]  # the served bytes
