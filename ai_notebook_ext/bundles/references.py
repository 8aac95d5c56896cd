"""A bundle names only itself: every id it references is one of its own rows, every
sha256 one of its own files, and every value fits the database (pure checks)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .schema import ARTIFACTS, BLOBS, MANIFEST, PROJECT, Manifest, ProjectDoc
from .zipsafe import BundleError


def _unique(what: str, values: Iterable[Any]) -> set[Any]:
    counts = Counter(values)
    twice = [v for v, n in counts.items() if n > 1]
    if twice:
        raise BundleError(f"{what} {twice[0]!r} appears more than once")
    return set(counts)


def _known(what: str, value: Any, known: set[Any], by: str) -> None:
    if value is not None and value not in known:
        raise BundleError(f"{by} names {what} {value!r}, which is not in the bundle")


def finite(value: Any, where: str) -> None:
    """Refuse NaN and infinities anywhere in a JSON value (no database stores them)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise BundleError(f"{where} holds a number that is not finite")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def output_artifacts(outputs: list[dict[str, Any]]) -> set[str]:
    """The artifact sha256s that nbformat outputs (as stored) name."""
    found = set()
    for output in outputs:
        refs = output.get("artifacts")
        if refs is None:
            continue
        if not isinstance(refs, dict):
            raise BundleError("an output's 'artifacts' must be an object")
        for ref in refs.values():
            if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
                raise BundleError("an output names an artifact without its 'id'")
            found.add(ref["id"])
    return found


def check(doc: ProjectDoc, manifest: Manifest, entries: set[str]) -> None:
    """Raise BundleError at the first reference the bundle cannot satisfy."""
    blocks = _unique("block id", (b.id for b in doc.blocks))
    runs = _unique("run id", (r.id for r in doc.runs))
    pipelines = {r.id for r in doc.runs if r.kind == "pipeline"}
    for block in doc.blocks:
        _known("run", block.last_run_id, runs, f"block {block.id}")
    pairs = [(e.source_id, e.target_id) for e in doc.edges]
    _unique("edge", pairs)
    for source, target in pairs:
        _known("block", source, blocks, "an edge")
        _known("block", target, blocks, "an edge")
        if source == target:
            raise BundleError(f"an edge goes from block {source} to itself")
    artifacts = _unique("artifact", (a.sha256 for a in doc.artifacts))
    for run in doc.runs:
        by = f"run {run.id}"
        _known("block", run.block_id, blocks, by)
        _known("pipeline run", run.parent_id, pipelines, by)
        for sha in output_artifacts(run.outputs):
            _known("artifact", sha, artifacts, by)
        for block_id in run.plan or []:
            _known("block", block_id, blocks, by)
        for result in run.results or []:
            _known("block", result.block_id, blocks, by)
            _known("run", result.run_id, runs, by)
        options = run.options or {}
        _known("block", options.get("block_id"), blocks, by)
        listed = options.get("block_ids") or []
        if not isinstance(listed, list):
            raise BundleError(f"{by}: options.block_ids must be a list")
        for block_id in listed:
            _known("block", block_id, blocks, by)
        for name in ("outputs", "error", "options"):
            finite(getattr(run, name), f"{by} {name}")
    _unique("dataset id", (d.id for d in doc.datasets))
    _unique("dataset name", (d.name for d in doc.datasets))
    versions = _unique("dataset version id", (v.id for d in doc.datasets for v in d.versions))
    _unique("quality rule id", (r.id for d in doc.datasets for r in d.rules))
    for dataset in doc.datasets:
        by = f"dataset {dataset.name!r}"
        _unique(f"{by}: version number", (v.number for v in dataset.versions))
        for rule in dataset.rules:
            finite(rule.params, f"{by} rule {rule.id}")
        own = {v.id for v in dataset.versions}
        for version in dataset.versions:
            _known("version", version.parent_id, own, f"{by} version {version.number}")
            size = manifest.blobs.get(version.blob)
            if size is None:
                raise BundleError(f"{by} version {version.number}: its bytes are not in the bundle")
            if size != version.size:
                raise BundleError(f"{by} version {version.number}: size differs from its bytes")
            for quality in version.quality:
                finite(quality.results, f"{by} quality results")
    _unique("lineage row", ((x.run_id, x.version_id, x.direction) for x in doc.lineage))
    for link in doc.lineage:
        _known("run", link.run_id, runs, "a lineage row")
        _known("dataset version", link.version_id, versions, "a lineage row")
    for art in doc.artifacts:
        if manifest.artifacts.get(art.sha256) != art.size:
            raise BundleError(f"artifact {art.sha256}: not in the manifest with its size")
    used_blobs = {v.blob for d in doc.datasets for v in d.versions}
    if set(manifest.blobs) != used_blobs or set(manifest.artifacts) != artifacts:
        raise BundleError("the manifest lists files the project does not use")
    expected = {MANIFEST, PROJECT}
    expected |= {BLOBS + sha for sha in manifest.blobs}
    expected |= {ARTIFACTS + sha for sha in manifest.artifacts}
    if entries != expected:
        extra = sorted(entries - expected)
        missing = sorted(expected - entries)
        if missing:
            raise BundleError(f"the bundle lacks the entry {missing[0]!r}")
        raise BundleError(f"entry {extra[0]!r} is not listed in the manifest")
