/** The HTTP participant registry on DynamoDB: one item per name, created once, never rewritten. */
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import {
  type HttpParticipant,
  NameTakenError,
  PARTICIPANT_NAME,
  type ParticipantRegistry,
} from "../http-participants/registry.ts";
import { InvalidCursorError } from "../ports/errors.ts";
import { batchGetAll } from "./batch-get.ts";

export interface DynamoDbRegistryOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
}

const fromItem = (item: Record<string, unknown>): HttpParticipant => ({
  name: String(item.name),
  baseUrl: String(item.baseUrl),
  protocols: (item.protocols ?? []) as HttpParticipant["protocols"],
  createdAt: Number(item.createdAt),
  version: Number(item.version),
});

/** A cursor is the last name of the page, base64url: opaque to clients, checked on the way back. */
const encodeCursor = (name: string) => Buffer.from(JSON.stringify({ after: name })).toString("base64url");

function decodeCursor(cursor: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown };
    if (typeof after === "string" && PARTICIPANT_NAME.test(after)) return after;
  } catch {
    // Falls through to the error below.
  }
  throw new InvalidCursorError("not a cursor of the participant listing");
}

export function createDynamoDbParticipantRegistry(options: DynamoDbRegistryOptions): ParticipantRegistry {
  const { doc, tableName } = options;
  return {
    async create(participant) {
      try {
        await doc.send(
          new PutCommand({
            TableName: tableName,
            Item: { ...participant, protocols: [...participant.protocols] },
            ConditionExpression: "attribute_not_exists(#name)",
            ExpressionAttributeNames: { "#name": "name" },
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException && err.Item) {
          throw new NameTakenError(fromItem(unmarshall(err.Item)), { cause: err });
        }
        throw err;
      }
    },

    async get(name) {
      const out = await doc.send(
        new GetCommand({ TableName: tableName, Key: { name }, ConsistentRead: true }),
      );
      return out.Item ? fromItem(out.Item) : undefined;
    },

    async getMany(names) {
      const items = await batchGetAll(
        doc,
        tableName,
        [...new Set(names)].map((name) => ({ name })),
      );
      return new Map(items.map((item) => [String(item.name), fromItem(item)]));
    },

    async list({ limit, cursor }) {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const out = await doc.send(
        new ScanCommand({
          TableName: tableName,
          ConsistentRead: true,
          // One more than a page: when it comes back, more follow.
          Limit: limit + 1,
          ...(after !== undefined ? { ExclusiveStartKey: { name: after } } : {}),
        }),
      );
      const all = (out.Items ?? []).map(fromItem);
      const items = all.slice(0, limit);
      const last = items.at(-1);
      const more = all.length > limit || out.LastEvaluatedKey !== undefined;
      return { items, ...(more && last ? { nextCursor: encodeCursor(last.name) } : {}) };
    },
  };
}
