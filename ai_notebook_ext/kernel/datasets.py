"""``ain``: load and save project datasets from a kernel, with lineage.

    df = ain.load("sales")              # the latest version, as a pandas DataFrame
    old = ain.load("sales", version=2)
    ain.save(df[df.amount > 0], "clean_sales")   # a new version (Parquet)

The server configures project kernels with the project and the dataset storage (a
silent execute after start, so it also works on remote kernels that share the storage).
Names resolve through a manifest the server keeps next to the blobs. The kernel never
talks to the database: it tells the server what it read and wrote with an iopub message
(``ai_notebook_dataset``) that the block's runner records as lineage; writes become
versions there. pandas and pyarrow are imported on first use.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

MSG_TYPE = "ai_notebook_dataset"


class DatasetError(Exception):
    """A dataset that cannot be loaded or saved; the message says what to do."""


class Saved(str):
    """What ``ain.save`` returns: the version's sha256, shown as what was saved (a cell
    ending with ``ain.save(...)`` should not print a bare hash)."""

    rows: int
    columns: int
    name: str

    def __repr__(self) -> str:
        return (
            f"<saved {self.name!r}: {self.rows} rows, {self.columns} columns, sha256 {self[:12]}…>"
        )


class Datasets:
    """The ``ain`` object of project kernels."""

    def __init__(self) -> None:
        self.project_id: int | None = None
        self.store: Any = None
        self._saved: dict[str, tuple[str, str]] = {}  # this kernel's writes, name -> blob

    def configure(self, settings: dict[str, Any]) -> None:
        """Called by the server after the kernel starts."""
        from ..datasets.storage import BlobStore

        self.project_id = int(settings["project_id"])
        self.store = BlobStore(settings["storage_url"], settings.get("storage_options") or {})
        self._saved.clear()

    def __repr__(self) -> str:
        where = f"project {self.project_id}" if self.project_id else "not configured"
        return f"<ain dataset helpers: {where}; ain.load(name), ain.save(df, name), ain.list()>"

    # --- public -------------------------------------------------------------------------

    def list(self) -> list[str]:
        """The project's dataset names."""
        return sorted(self._manifest())

    def load(self, name: str, version: int | None = None) -> Any:
        """The dataset as a pandas DataFrame (the latest version unless ``version``)."""
        import pandas as pd

        self._need_config()
        entry = self._manifest().get(name)
        if version is None and name in self._saved:
            blob, fmt = self._saved[name]
            number, read = None, {}
        else:
            if entry is None:
                known = ", ".join(sorted(self._manifest())) or "none yet"
                raise DatasetError(f"no dataset named {name!r} in this project (known: {known})")
            number = entry["latest"] if version is None else int(version)
            found = entry["versions"].get(str(number))
            if found is None:
                raise DatasetError(f"dataset {name!r} has no version {number}")
            blob, fmt = found["blob"], found["format"]
            read = found.get("read_options") or {}
        with self.store.local_path(blob, "." + fmt) as path:
            frame = _read(pd, path, fmt, read)
        self._publish({"op": "read", "name": name, "version": number, "blob": blob})
        return frame

    def save(self, frame: Any, name: str) -> Saved:
        """Store ``frame`` as a new version of ``name`` (Parquet); returns its sha256."""
        from ..datasets.storage import file_digest

        self._need_config()
        if not hasattr(frame, "to_parquet"):
            hint = " (the frame comes first)" if hasattr(name, "to_parquet") else ""
            raise DatasetError(
                f"ain.save(frame, name) needs a pandas DataFrame as frame, "
                f"not {type(frame).__name__}{hint}"
            )
        if not isinstance(name, str) or not name.strip() or "/" in name or "\\" in name:
            raise DatasetError("the name must be non-empty text without '/' or '\\'")
        fd, path = tempfile.mkstemp(suffix=".parquet", prefix="ain-save-")
        os.close(fd)
        try:
            frame.to_parquet(path, index=False)
            digest, size = file_digest(path)
            self.store.put_file(path, digest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._saved[name.strip()] = (digest, "parquet")
        self._publish(
            {"op": "write", "name": name.strip(), "blob": digest, "size": size, "format": "parquet"}
        )
        saved = Saved(digest)
        saved.name = name.strip()
        saved.rows, saved.columns = (int(n) for n in getattr(frame, "shape", (0, 0))[:2])
        return saved

    # --- internals ----------------------------------------------------------------------

    def _need_config(self) -> None:
        if self.project_id is None:
            raise DatasetError(
                "ain works in AI Notebook project kernels: run this block from a project"
            )

    def _manifest(self) -> dict[str, Any]:
        self._need_config()
        try:
            text = self.store.read_text(self.store.manifest_key(self.project_id))
        except FileNotFoundError:
            return {}
        return dict(json.loads(text))

    def _publish(self, content: dict[str, Any]) -> None:
        """Tell the server (the runner of the current block) what happened."""
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        pub = getattr(shell, "display_pub", None)
        session, socket = getattr(pub, "session", None), getattr(pub, "pub_socket", None)
        if session is None or socket is None:
            return  # plain IPython: nobody to tell
        session.send(socket, MSG_TYPE, content, parent=pub.parent_header, ident=b"ain")


def _read(pd: Any, path: str, fmt: str, read: dict[str, Any] | None = None) -> Any:
    """pandas' defaults, plus the options the version was read with on the server
    (delimiter, encoding, thousands separator, sheet), so both see the same columns."""
    read = read or {}
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt in ("csv", "tsv"):
        options: dict[str, Any] = {"sep": read.get("delimiter") or ("\t" if fmt == "tsv" else ",")}
        if read.get("encoding"):
            options["encoding"] = read["encoding"]
        if read.get("thousands"):
            options["thousands"] = read["thousands"]
        return pd.read_csv(path, **options)
    if fmt == "json":
        return pd.read_json(path, orient="records")
    if fmt == "jsonl":
        return pd.read_json(path, orient="records", lines=True)
    if fmt == "xlsx":
        sheet: Any = read.get("sheet", 0)
        if isinstance(sheet, str) and sheet.isdigit():
            from ..datasets.readoptions import sheet_names

            sheet = sheet if sheet in sheet_names(path) else int(sheet)
        return pd.read_excel(path, sheet_name=sheet, engine="openpyxl")
    raise DatasetError(f"unsupported format {fmt!r}")


ain = Datasets()


def configure(settings: dict[str, Any]) -> None:
    ain.configure(settings)
