"""The scheduling loop of a pipeline run: skip what a failure blocks, pick the next unit
(one block in the kernel, or a batch of forked workers), run it, and end the pipeline
with a status whatever happens."""

from __future__ import annotations

import asyncio
import logging

from .pipeline_batches import BatchSteps
from .pipeline_blocks import BlockSteps
from .pipeline_plan import blocked_by_failure, next_unit, summary
from .pipeline_store import PipelineState, PipelineStore
from .service import RunService

log = logging.getLogger(__name__)


class PipelineLoop:
    """Executes pipeline runs."""

    def __init__(self, runs: RunService, store: PipelineStore) -> None:
        self.store = store
        self.blocks = BlockSteps(runs, store)
        self.batches = BatchSteps(runs, store, self.blocks)

    async def execute(self, state: PipelineState) -> None:
        """Run the plan: one block at a time in the project kernel (the next one sent
        ahead), or with ``parallel`` above 1, ready independent blocks together in forked
        workers, with the blocks that wait only for them (``batches.batch``). Whatever
        happens, the pipeline run ends with a status."""
        run, results = state.run, state.results
        plan = list(run.plan or [])
        remaining, stopped = list(plan), ""
        sequential = state.options.parallel <= 1
        try:
            while remaining:
                if state.cancel.is_set():
                    done = await self.blocks.cancel_ahead(state)
                    for block in remaining:
                        if block != done:
                            await self.store.set(
                                state, block, "cancelled", reason="the pipeline was cancelled"
                            )
                    break
                for block in list(remaining):
                    why = stopped or blocked_by_failure(state, block)
                    if why:
                        await self.store.set(state, block, "skipped", reason=why)
                        remaining.remove(block)
                if not remaining:
                    break
                unit = next_unit(state, plan, remaining)
                if len(unit) == 1:
                    following = remaining[1] if sequential and len(remaining) > 1 else None
                    block = next(iter(unit))
                    await self.blocks.run(state, block, following=following)
                    done = [block]
                else:  # blocks of the batch that never started stay for the next unit
                    done = await self.batches.run(state, unit)
                for block in done:
                    remaining.remove(block)
                    if results[block]["status"] == "failed" and state.options.stop_on_error:
                        stopped = stopped or f"stopped after block {block} failed (stop_on_error)"
            if state.cancel.is_set():
                status = "cancelled"
            elif any(r["status"] == "failed" for r in results.values()):
                status = "failed"
            else:
                status = "succeeded"
            await self.store.save(state, status, summary(results))
        except asyncio.CancelledError:
            raise  # server stopping: PipelineService.stop() records it
        except Exception as exc:
            log.exception("ai_notebook_ext: pipeline %s failed inside the server", run.id)
            message = f"the server failed while running this pipeline ({type(exc).__name__})"
            try:
                await self.store.save(state, "failed", message)
            except Exception:
                log.exception("ai_notebook_ext: recording the failure of pipeline %s", run.id)
        finally:
            self.blocks.drop_ahead(state)
