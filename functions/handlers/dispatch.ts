/**
 * dispatch: run by an EventBridge schedule every minute. Lists the mailboxes under the SSM path,
 * picks the due ones and sends one poll job per mailbox to the poll queue. (Placeholder: the wiring
 * lands with the AWS handlers; the stack in infra/ already deploys this entry point.)
 */
export const handler = async (_event: unknown): Promise<void> => {};
