/**
 * A participant's part of the record's write (ports/alongside.ts: its commit,
 * or its prepare), on DynamoDB: its transaction items, which the transaction
 * store writes in one TransactWriteItems after the record's own update.
 */
import type { Alongside } from "../ports/alongside.ts";
import type { TransactItem } from "./dynamodb-resource-items.ts";

export interface DynamoDbAlongside extends Alongside {
  readonly backend: "dynamodb";
  readonly items: readonly TransactItem[];
}

export const dynamoDbAlongside = (items: readonly TransactItem[]): DynamoDbAlongside => ({
  backend: "dynamodb",
  items,
});

/** `alongside` as this backend's, or an error: a part from another backend is a wiring mistake. */
export function asDynamoDb(alongside: Alongside): DynamoDbAlongside {
  if (alongside.backend !== "dynamodb") {
    throw new Error(`a ${alongside.backend} store's part cannot be written with a DynamoDB record`);
  }
  return alongside as DynamoDbAlongside;
}
