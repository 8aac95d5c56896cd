"""A parallel pipeline's batch: independent blocks run together in forked workers of the
project kernel (one job with the kernel to itself, ``kernel/parallel.py``), and blocks
that wait only for blocks of the batch start as soon as those ended well. A block's run
is opened when it starts (for the first ones, before the batch) and closed as the batch
reports it. Blocks whose results could not travel back, or that failed and may be
retried, run again in the kernel; blocks that never started stay for later.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError
from . import runner
from .batches import KERNEL, WORKER, batch_code, batch_results, block_outputs
from .kernel_handle import KernelStartError
from .pipeline_blocks import BlockSteps
from .pipeline_store import PipelineState, PipelineStore
from .schemas import RunOut
from .service import RunService

Again = list[tuple[int, str, int]]  # (block, where, first attempt): to run in the kernel


class BatchSteps:
    """Runs batches of parallel pipelines."""

    def __init__(self, runs: RunService, store: PipelineStore, blocks: BlockSteps) -> None:
        self.runs = runs
        self.store = store
        self.blocks = blocks

    async def run(self, state: PipelineState, members: dict[int, list[int]]) -> list[int]:
        """Run a batch (each block with the blocks of the batch it waits for), record each
        block's run; the blocks it took care of (the others never started)."""
        run = state.run
        opened: dict[int, RunOut] = {}
        handled: list[int] = []
        payload: list[dict[str, Any]] = []
        codes: dict[int, str] = {}

        async def start(block: int) -> None:
            """Open the run of a block the batch starts (its code as the batch has it)."""
            handled.append(block)
            try:
                opened[block] = await self.runs.open_run(
                    state.actor, run.project_id, block, run.id, codes.get(block)
                )
            except ApiError as exc:
                await self.store.set(state, block, "failed", reason=exc.message, attempts=1)
                return
            await self.store.set(
                state, block, "running", attempts=1, run_id=opened[block].id, where=WORKER
            )

        for block, after in members.items():
            if after:  # it waits: its run opens when the batch starts it
                if not all(p in codes for p in after):
                    continue  # a block it waits for is not in the batch
                try:
                    code, timeout = await self.runs.block_code(state.actor, run.project_id, block)
                except ApiError:
                    continue  # it stays, and says why when it runs on its own
            else:
                await start(block)
                if block not in opened:
                    continue
                code, timeout = opened[block].source, opened[block].timeout_seconds
            codes[block] = code
            names = sorted(state.graph.writes[block])
            payload.append(
                {"block_id": block, "code": code, "names": names, "timeout": timeout}
                | {"after": after}
            )
        if not opened:
            return handled
        code = batch_code(payload, state.options.parallel, state.options.stop_on_error)
        recorded: set[int] = set()
        again: Again = []
        generation: list[int] = []

        async def record(collector: Any) -> None:
            """Record each block as the batch reports it started or ended (outputs arrive
            live); a block that will not run is left alone."""
            for block, summary in batch_results(collector.outputs).items():
                status = summary["status"]
                if block not in codes or block in recorded or status == "not_run":
                    continue
                if block not in handled:
                    if status == "cancelled":
                        continue  # cancelled before it started: no run of it
                    await start(block)
                if status != "running" and block in opened:
                    recorded.add(block)
                    await self._record(state, block, opened[block], summary, again, generation)

        async def job(handle: Any) -> Any:
            generation.append(handle.generation)
            return await runner.execute(
                self.runs.kernels,
                handle,
                code,
                time_limit=None,
                cancel=state.cancel,
                on_output=record,
                silent=True,
            )

        try:
            result = await self.runs.exclusive(
                run.project_id, state.project_name, state.working_dir, job
            )
        except KernelStartError as exc:  # nothing ran: the opened runs fail with the reason
            await self._kernel_failed(state, opened, str(exc))
            return handled
        for block, block_run in opened.items():
            if block in recorded:
                continue
            if state.cancel.is_set() or result.status == "cancelled":
                await self.runs.close_run(block_run, "cancelled", [], message="cancelled")
                await self.store.set(state, block, "cancelled", reason="the pipeline was cancelled")
                continue
            why = result.message or "the batch ended without its result"
            await self.runs.close_run(block_run, "failed", [], message=why[:500])
            again.append((block, f"{KERNEL}: forked workers failed ({why[:200]})", 2))
        for block, where, first in again:
            await self.blocks.run(state, block, first_attempt=first, where=where)
        return handled

    async def _kernel_failed(
        self, state: PipelineState, opened: dict[int, RunOut], message: str
    ) -> None:
        error = {"ename": "KernelStartError", "evalue": message, "reason": "kernel"}
        for block, block_run in opened.items():
            await self.runs.close_run(block_run, "failed", [], error=error, message=message)
            await self.store.set(state, block, "failed", reason=message[:500])

    async def _record(
        self,
        state: PipelineState,
        block: int,
        block_run: RunOut,
        summary: dict[str, Any],
        again: Again,
        generation: list[int],
    ) -> None:
        """Store a forked block's run and result; queue what must run again in the kernel."""
        outputs = block_outputs(summary)
        error = summary.get("error")
        gen = generation[0] if generation else None
        close, set_result = self.runs.close_run, self.store.set
        if summary["status"] == "cancelled":
            await close(block_run, "cancelled", outputs, message="cancelled")
            await set_result(state, block, "cancelled", reason="the pipeline was cancelled")
        elif summary.get("unshippable"):
            why = "; ".join(summary["unshippable"])[:300]
            message = f"its results could not travel back ({why}): it runs again"
            await close(block_run, "cancelled", outputs, message=message)
            again.append((block, f"{KERNEL}: could not ship back {why}", 1))
        elif error:
            message = f"{error.get('ename')}: {error.get('evalue')}"[:500]
            reason = "timeout" if error.get("ename") == "TimeoutError" else "error"
            error = {**error, "reason": reason}
            await close(block_run, "failed", outputs, error=error, message=message, generation=gen)
            await set_result(state, block, "failed", reason=message)
            if state.options.retries and not state.cancel.is_set():
                again.append((block, KERNEL, 2))
        else:
            await close(block_run, "succeeded", outputs, generation=gen)
            await set_result(state, block, "succeeded")
