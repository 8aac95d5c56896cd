"""A pipeline's block in the project kernel: submitted as a block run, retried, and in
sequential pipelines with the next block's request sent ahead while it runs.

Send-ahead keeps ``stop_on_error`` semantics: the next request is chained to the current
one (``RunService.send_ahead``), so the kernel aborts it unless the current one succeeds.
It gets a run only once the current block succeeded; otherwise it is withdrawn, and the
scheduling loop decides about that block exactly as without send-ahead (skipped, run
again later, cancelled).
"""

from __future__ import annotations

import logging

from ..errors import ApiError
from .batches import KERNEL
from .live import LiveRun
from .pipeline_store import PipelineState, PipelineStore
from .service import RunService

log = logging.getLogger(__name__)


class BlockSteps:
    """Runs single blocks of pipelines in the project kernel."""

    def __init__(self, runs: RunService, store: PipelineStore) -> None:
        self.runs = runs
        self.store = store

    async def run(
        self,
        state: PipelineState,
        block: int,
        first_attempt: int = 1,
        where: str = KERNEL,
        following: int | None = None,
    ) -> None:
        """Run one block, with retries; records its result. ``following``: the block the
        plan runs next if this one succeeds, sent ahead."""
        run = state.run
        for attempt in range(first_attempt, state.options.retries + 2):
            await self.store.set(
                state, block, "running", attempts=attempt, run_id=None, where=where
            )
            live = self._take_ahead(state, block) or self.runs.reserve(run.project_id)
            expected = (state.graph.sources[block], state.fingerprints[block])
            try:
                submitted = await self.runs.submit(live, state.actor, block, run.id, expected)
            except ApiError as exc:  # the block was deleted, the caller lost the role...
                await self.store.set(state, block, "failed", reason=exc.message)
                return
            state.current = submitted.id
            await self.store.set(state, block, "running", run_id=submitted.id)
            if following is not None:
                await self._send_ahead(state, live, following)
            try:
                out = await self.runs.outcome(live)
            finally:
                state.current = None
            if out.status == "succeeded":
                await self.store.set(state, block, "succeeded")
                return
            self.drop_ahead(state)  # the kernel aborted it: the loop decides again
            if out.status == "cancelled" or state.cancel.is_set():
                await self.store.set(state, block, "cancelled", reason=out.message or "cancelled")
                return
            await self.store.set(state, block, "failed", reason=out.message or out.status)
            if attempt <= state.options.retries:
                log.info("ai_notebook_ext: pipeline %s retries block %s", run.id, block)

    async def _send_ahead(self, state: PipelineState, current: LiveRun, block: int) -> None:
        """Reserve the next block's place right behind the current run and send its code."""
        nxt = self.runs.reserve(state.run.project_id)
        state.ahead = (block, nxt)
        try:
            await self.runs.send_ahead(nxt, state.actor, block, after=current)
        except ApiError:  # the block fails with the reason when it is submitted
            self.drop_ahead(state)

    @staticmethod
    def _take_ahead(state: PipelineState, block: int) -> LiveRun | None:
        if state.ahead is None or state.ahead[0] != block:
            return None
        live, state.ahead = state.ahead[1], None
        return live

    def drop_ahead(self, state: PipelineState) -> None:
        """The block sent ahead will not run as sent: withdraw it."""
        if state.ahead is not None:
            self.runs.withdraw(state.ahead[1])
            state.ahead = None

    async def cancel_ahead(self, state: PipelineState) -> int | None:
        """The pipeline is cancelled between two blocks: a block already sent ahead after a
        success is in the kernel's hands, so it gets its run, interrupted (the block)."""
        if state.ahead is None or state.ahead[1].sent is None:
            self.drop_ahead(state)
            return None
        block, live = state.ahead
        state.ahead = None
        try:
            submitted = await self.runs.submit(live, state.actor, block, state.run.id)
        except ApiError as exc:
            await self.store.set(state, block, "cancelled", reason=exc.message)
            return block
        live.cancel.set()
        out = await self.runs.outcome(live)
        status = out.status if out.status in ("succeeded", "failed") else "cancelled"
        reason = out.message or "the pipeline was cancelled"
        await self.store.set(state, block, status, run_id=submitted.id, attempts=1, reason=reason)
        return block
