/** The few Lambda event and context shapes the handlers use (no @types/aws-lambda needed for four fields). */
export interface SqsEvent {
  readonly Records: ReadonlyArray<{ readonly messageId: string; readonly body: string }>;
}

export interface SqsBatchResponse {
  readonly batchItemFailures: Array<{ itemIdentifier: string }>;
}

export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}
