"""Backup and restore: ``jupyter ai-notebook backup PATH`` / ``restore PATH``.

A backup is a folder: ``manifest.json`` (format, schema revision, the sha256 and size of
every file), the database snapshot (``database.sqlite`` or ``database.pgdump``), and the
dataset blobs and output artifacts the snapshot references, under ``blobs/`` and
``artifacts/`` by their sha256.
"""
