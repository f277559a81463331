/**
 * deliver: SQS-triggered with ReportBatchItemFailures. (Placeholder: reports every record as failed
 * so no delivery job is deleted from the queue before the real handler exists.)
 */
interface SqsBatch {
  readonly Records: ReadonlyArray<{ readonly messageId: string }>;
}

export const handler = async (event: SqsBatch): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> => ({
  batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
});
