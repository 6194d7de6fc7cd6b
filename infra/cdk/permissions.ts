/**
 * What a function may do on a table it uses (on the table and its indexes): the
 * operations the adapters call, TransactWriteItems being allowed through its
 * per-item actions. No BatchWriteItem, no table or stream management.
 * test/infra checks that every DynamoDB operation in src/ is covered.
 */
export const TABLE_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:Scan",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:ConditionCheckItem",
] as const;

/** What a function that only reads a table may do on it (the HTTP participant registry). */
export const TABLE_READ_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:Scan",
] as const;
