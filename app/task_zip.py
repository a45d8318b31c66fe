"""Task zips (the "Your own task" page's zip upload and download, ``app/views/own_task.py``): reading a zip of
class folders (and a ``queries`` folder) into a task, adding one to a task, and writing a task as a zip that
reads back whole. Kept out of the page so it can be tested without a browser."""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field

from app.user_task import MAX_UPLOAD_BYTES, N_WAY, Picture, TaskClass, counted, empty_task, held_bytes, name_key
from hypermaml.data import ImageError

QUERIES_FOLDER = "queries"  # in a task zip, the folder of query images (the manifest says which, if renamed)
MANIFEST = "hypermaml-task.json"  # in a downloaded task zip: class names, their order and the queries' folder


@dataclass
class ZipContents:
    """What a zip of images holds: its class folders, its query images (a folder named ``queries``) and the
    names of files it skipped (not images the readers know)."""

    classes: list[TaskClass]
    queries: list[Picture] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def n_bytes(self) -> int:
        return held_bytes(self.classes, self.queries)

    def summary(self) -> str:
        parts = [counted(len(self.classes), "class folder")]
        if self.classes:
            parts[0] += " (" + ", ".join(f"{c.name}: {len(c.pictures)}" for c in self.classes) + ")"
        if self.queries:
            parts.append(counted(len(self.queries), "query", "queries"))
        return " and ".join(parts)


def read_task_zip(data: bytes) -> ZipContents:
    """A zip with one folder per class and optionally a ``queries`` folder (any number of class folders: the
    page decides what to do with them); keeps the raw bytes. ``ImageError`` for a zip it cannot use."""
    from hypermaml.data import read_image_zip
    from hypermaml.data.folders import check_zip_member, class_names

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ImageError("the zip is not a zip archive") from exc
    with archive:  # opened once: its images, its manifest and the names of the files it skips
        by_path = read_image_zip(archive, max_total_bytes=MAX_UPLOAD_BYTES, by_path=True)
        entries = {check_zip_member(m): m for m in archive.infolist()}  # names decoded once (UTF-8 without the flag)
        root, manifest = _find_manifest(archive, entries, set(by_path))
        skipped = _skipped_files(entries)
    # a task this studio wrote: folders as its manifest names them (below the manifest's own folder, so that
    # classes "x/a" ... "x/e" keep their shared "x"); any other zip: less the folders every image shares
    key = {p: p[len(root) :] for p in by_path} if manifest else class_names(set(by_path))
    per_class = {key[p]: files for p, files in by_path.items()}
    # a zip this studio wrote names its queries folder, and has none when the task had no queries (so a class
    # called "queries" stays a class); any other zip: a folder called queries
    queries_folder = manifest.get("queries") if manifest else QUERIES_FOLDER
    names = {entry["folder"]: entry["name"] for entry in manifest.get("classes", [])} if manifest else {}
    file_order = {entry["folder"]: entry.get("files") for entry in manifest.get("classes", [])} if manifest else {}
    if queries_folder:
        file_order[queries_folder] = manifest.get("query_files") if manifest else None
    order = {folder: i for i, folder in enumerate(names)}
    # a task this studio wrote: its classes in their order, with their exact names; other zips: sorted folders
    folders = sorted(per_class, key=lambda f: (order.get(f, len(order)), f))
    queries: list[Picture] = []
    classes = []
    for folder in folders:
        files = per_class[folder]
        name = names.get(folder, folder)
        pictures = [Picture(file_name.rsplit("/", 1)[-1], blob) for file_name, blob in files]
        listed = file_order.get(folder)
        if isinstance(listed, list):  # the order the pictures had (the zip reader sorts by file name)
            rank = {n: i for i, n in enumerate(listed) if isinstance(n, str)}
            pictures.sort(key=lambda p: rank.get(p.name, len(rank)))
        if queries_folder and folder.lower() == queries_folder.lower():
            for p in pictures:
                if all(q.key != p.key for q in queries):
                    queries.append(p)
            continue
        c = TaskClass(name)
        for p in pictures:
            c.add(p)
        classes.append(c)
    return ZipContents(classes, queries, skipped)


def _find_manifest(archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], folders: set[str]) -> tuple[str, dict]:
    """Where the manifest of a task zip this studio wrote lies ("" for the zip's top, or "top/" for a
    downloaded task unzipped and zipped again, inside the one folder that holds every image) and what it
    says; ("", {}) for any other zip, or where the manifest names none of the folders below it (a manifest at
    the top of a zip whose images all lie in one folder is another task's)."""
    tops = {f.split("/", 1)[0] + "/" for f in folders}
    for root in [""] + sorted(t for t in tops if len(tops) == 1 and all(f.startswith(t) for f in folders)):
        manifest = _manifest(archive, entries.get(root + MANIFEST))
        below = {f[len(root) :] for f in folders if f.startswith(root)}
        named = {e["folder"] for e in manifest.get("classes", [])} | {manifest.get("queries") or ""}
        if manifest and below & named:
            return root, manifest
    return "", {}


def _manifest(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> dict:
    """The manifest in the entry ``info``, or {} where there is none or it is not the expected shape (then
    folders are read by their names alone)."""
    import json

    limit = 1_000_000  # a manifest is a few kB; a larger one is not ours (and is not read whole)
    if info is None:
        return {}
    try:
        if info.file_size > limit:
            return {}
        with archive.open(info) as f:
            text = f.read(limit + 1)
        raw = json.loads(text) if len(text) <= limit else None
    except (
        KeyError,
        ValueError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
    ):  # RuntimeError: encrypted, unknown compression
        return {}
    ok = (
        isinstance(raw, dict)
        and isinstance(raw.get("queries", ""), str)
        and isinstance(raw.get("classes", []), list)
        and all(
            isinstance(e, dict) and isinstance(e.get("folder"), str) and isinstance(e.get("name"), str)
            for e in raw.get("classes", [])
        )
    )
    return raw if ok else {}


def _skipped_files(entries: dict[str, zipfile.ZipInfo]) -> list[str]:
    """Files in the zip that are not images the readers take (a .heic photo, notes.txt), by base name."""
    from hypermaml.data.folders import IMAGE_SUFFIXES, system_path

    names = [name for name, m in entries.items() if not m.is_dir()]
    skipped = []
    for name in names:
        base = posixpath.basename(name)
        if system_path(name) or base.startswith(".") or base == MANIFEST:
            continue  # the system's own files, not the user's
        if posixpath.splitext(base)[1].lower() not in IMAGE_SUFFIXES:
            skipped.append(base)
    return skipped


def zip_class_count_error(contents: ZipContents) -> str | None:
    """Why this zip cannot replace a task (it needs exactly 5 class folders), or None."""
    n = len(contents.classes)
    if n == N_WAY:
        return None
    names = f" ({', '.join(c.name for c in contents.classes)})" if contents.classes else ""
    return f"the zip has {counted(n, 'class folder')}{names}; a {N_WAY}-way task needs {N_WAY}"


def classes_from_zip(data: bytes) -> list[TaskClass]:
    """A zip with one folder per class -> TaskClasses (exactly 5 folders needed); keeps the raw bytes."""
    contents = read_task_zip(data)
    error = zip_class_count_error(contents)
    if error:
        raise ImageError(error)
    return contents.classes


def add_zip_to_task(classes: list[TaskClass], queries: list[Picture], contents: ZipContents) -> str:
    """Add a zip's images to the task in place: a folder goes to the class of the same name (case and
    surrounding spaces ignored), else to the first class that is still empty and unnamed ("class 3"), which
    takes the folder's name; its queries join the queries. Returns what happened, in a sentence or two."""
    defaults = {d.name for d in empty_task()}
    done, left = [], []
    for folder in contents.classes:
        key = name_key(folder.name)
        target = next((c for c in classes if name_key(c.name) == key), None)
        if target is None:
            target = next((c for c in classes if not c.pictures and c.name in defaults), None)
            if target is None:
                left.append(folder.name)
                continue
            done.append(f"'{folder.name}' became a new class in place of empty '{target.name}'")
            target.name = folder.name
            for p in folder.pictures:
                target.add(p)
            continue
        added = sum(target.add(p) for p in folder.pictures)
        done.append(f"{counted(added, 'image')} added to '{target.name}'")
    new_queries = [p for p in contents.queries if all(q.key != p.key for q in queries)]
    queries.extend(new_queries)
    if new_queries:
        done.append(f"{counted(len(new_queries), 'query', 'queries')} added")
    message = ("Added the zip: " + "; ".join(done) + ".") if done else "Nothing was added."
    if left:
        message += (
            f" Not added: {', '.join(repr(n) for n in left)}: no class has that name and no class is free. "
            "Rename a class to the folder's name and load the zip again."
        )
    return message


def _safe_part(name: str, fallback: str) -> str:
    """A class or file name as a zip path that the zip reader takes back: no absolute path, no "..", no
    hidden files; "/" is kept (a class called "a/circle" comes back as "a/circle")."""
    parts = [p.strip() for p in name.replace("\\", "/").split("/")]
    parts = [p.lstrip(".") for p in parts if p not in ("", ".", "..")]
    parts = [p for p in parts if p]
    return "/".join(parts) or fallback


def task_zip(classes: list[TaskClass], queries: list[Picture]) -> bytes:
    """The whole task as a zip that the page's zip upload reads back: a folder per class named after the
    class, the queries in ``queries/``, every picture's original bytes and file name, and a manifest
    (``MANIFEST``) with the classes' exact names and order and the queries' folder, so a class may be called
    "queries" or ".." and the classes come back in the order they had."""
    import json

    from hypermaml.data.folders import IMAGE_SUFFIXES

    buf = io.BytesIO()
    used_folders: set[str] = set()
    manifest: dict = {"format": 1, "classes": []}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # images are compressed already
        groups = [(_safe_part(c.name, f"class {i + 1}"), c.pictures, c.name) for i, c in enumerate(classes)]
        groups.append((QUERIES_FOLDER, queries, None))
        for folder, pictures, name in groups:
            if not pictures:
                continue
            base, n = folder, 2
            while folder.lower() in used_folders:
                folder, n = f"{base} ({n})", n + 1
            used_folders.add(folder.lower())
            files: list[str] = []
            if name is None:
                manifest["queries"], manifest["query_files"] = folder, files
            else:
                manifest["classes"].append({"folder": folder, "name": name, "files": files})
            used_files: set[str] = set()
            for j, p in enumerate(pictures):
                stem, suffix = posixpath.splitext(_safe_part(p.name, f"image-{j + 1}.png").replace("/", "-"))
                if suffix.lower() not in IMAGE_SUFFIXES:
                    stem, suffix = stem + suffix, ".png"
                file_name, n = stem + suffix, 2
                while file_name.lower() in used_files:
                    file_name, n = f"{stem}-{n}{suffix}", n + 1
                used_files.add(file_name.lower())
                files.append(file_name)
                z.writestr(f"{folder}/{file_name}", p.data)
        z.writestr(MANIFEST, json.dumps(manifest, indent=1))
    return buf.getvalue()
