"""An import's orders start in chunks, one activity call per chunk, so 10,000 rows keep the history
short; past a few hundred chunks the workflow continues as new from where it is."""

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.importing import ImportActivities
    from domain.contract import Query, WorkflowType
    from domain.imports import ImportBatch, StartChunk

CHUNK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=WorkflowType.IMPORT_BATCH.value)
class ImportBatchWorkflow:
    @workflow.init
    def __init__(self, batch: ImportBatch) -> None:
        self._chunk = batch.next_chunk

    @workflow.query(name=Query.PROGRESS.value)
    def progress(self) -> int:
        """Chunks started so far."""
        return self._chunk

    @workflow.run
    async def run(self, batch: ImportBatch) -> None:
        while self._chunk < batch.chunks:
            if self._chunk - batch.next_chunk >= batch.chunks_per_run or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(replace(batch, next_chunk=self._chunk))
            await workflow.execute_activity_method(
                ImportActivities.start_chunk,
                StartChunk(batch.import_id, self._chunk, batch.chunk_size),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=CHUNK_RETRY,
            )
            self._chunk += 1
        await workflow.execute_activity_method(
            ImportActivities.finish_import,
            batch.import_id,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CHUNK_RETRY,
        )
