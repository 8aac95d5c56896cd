"""``jupyter ai-notebook backup PATH`` and ``jupyter ai-notebook restore PATH``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from traitlets import Unicode

from ..cli import CliCommand, CliError, _common_aliases
from .layout import BackupError


def _aliases() -> dict[str, str]:
    return {
        **_common_aliases(),
        "storage-url": "AINotebookApp.dataset_storage_url",
        "pg-bin": "BackupCommand.pg_bin",
    }


class BackupCommand(CliCommand):
    """jupyter ai-notebook backup PATH"""

    name = "ai-notebook-backup"
    description = (
        "Back up the database (a consistent snapshot, also while the server runs), the "
        "dataset blobs and the output artifacts it references into a new folder PATH."
    )
    aliases = _aliases()  # type: ignore[assignment]
    pg_bin = Unicode(
        help="Folder of pg_dump / pg_restore (default: PATH, then /usr/lib/postgresql/*/bin)."
    ).tag(config=True)

    def stores(self) -> tuple[Any, Any, Path]:
        from ..app import AINotebookApp
        from ..datasets.storage import BlobStore
        from ..execution.artifacts import ArtifactStore

        settings = AINotebookApp(config=self.config)
        store = BlobStore(settings.dataset_storage_url, dict(settings.dataset_storage_options))
        data_dir = Path(settings.data_dir)
        return store, ArtifactStore(data_dir / "artifacts"), data_dir

    def database_url(self) -> str:
        from ..app import AINotebookApp

        return str(AINotebookApp(config=self.config).database_url)

    async def main(self) -> int:
        from .take import take_backup

        folder = Path(self.argument("backup folder"))
        store, artifacts, _ = self.stores()
        try:
            manifest = take_backup(self.database_url(), store, artifacts, folder, self.pg_bin)
        except BackupError as exc:
            raise CliError(str(exc)) from None
        for kind, missing in manifest.missing.items():
            print(
                f"warning: {len(missing)} referenced {kind} were missing or damaged in storage "
                f"and are not in the backup: {', '.join(missing[:5])}",
                file=sys.stderr,
            )
        summary = {
            "path": str(folder),
            "backend": manifest.backend,
            "database_bytes": manifest.database["size"],
            "blobs": len(manifest.blobs),
            "artifacts": len(manifest.artifacts),
            "missing": manifest.missing,
        }
        self.output(
            summary,
            f"backed up the {manifest.backend} database, {len(manifest.blobs)} dataset blobs "
            f"and {len(manifest.artifacts)} artifacts to {folder}",
        )
        return 0


class RestoreCommand(BackupCommand):
    """jupyter ai-notebook restore PATH"""

    name = "ai-notebook-restore"
    description = (
        "Restore a backup folder into an empty database (--database-url) and an empty data "
        "folder (--data-dir); every file is checked against its sha256 first, and the "
        "dataset bytes again once restored."
    )

    async def main(self) -> int:
        from .restore import restore_backup

        folder = Path(self.argument("backup folder"))
        store, artifacts, data_dir = self.stores()
        try:
            done = await restore_backup(
                folder, self.database_url(), data_dir, store, artifacts, self.pg_bin
            )
        except BackupError as exc:
            raise CliError(str(exc)) from None
        self.output(
            {"projects": done.projects, "blobs": done.blobs, "artifacts": done.artifacts},
            f"restored {done.projects} projects, {done.blobs} dataset blobs (bytes verified) "
            f"and {done.artifacts} artifacts from {folder}",
        )
        return 0
