/**
 * The bank's store: the participant kit's DynamoDB store over the bank table,
 * with the account model. Keys stay `account#<server>#<account>` and
 * `barrier#<server>#<txId>`.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { bankModel } from "../participants/bank/bank-rules.ts";
import type { BankStore } from "../participants/bank/bank-store.ts";
import { createDynamoDbParticipantStore } from "./dynamodb-participant-store.ts";

export interface DynamoDbBankStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** How long a settled barrier is kept: longer than any message can live in SQS (14 days). */
  readonly retentionSeconds: number;
}

export function createDynamoDbBankStore(options: DynamoDbBankStoreOptions): BankStore {
  return createDynamoDbParticipantStore({ ...options, model: bankModel });
}
