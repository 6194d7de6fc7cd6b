/**
 * The participant kit's store on one DynamoDB table (partition key `pk`, the
 * sparse `prepared` index). Several participants may share a table: every key
 * names its participant.
 *
 *   <kind>#<participant>#<id>             a resource: its state attributes, version, lock
 *   barrier#<participant>#<txId>          the 2PC barrier
 *   step#<participant>#<txId>#<branch>    a saga step barrier
 *
 * I/O and error mapping only: each method is one conditional write (or one
 * TransactWriteItems whose first item is the barrier), and a failed condition
 * becomes BarrierConflictError or ResourceLockedError.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { PREPARED_INDEX } from "../../infra/topology.ts";
import { oldestFirst } from "../core/lock-policy.ts";
import { type Barrier, keptUntilFinished, type PlannedResource } from "../participant-kit/barriers.ts";
import {
  BarrierConflictError,
  ResourceLockedError,
  ResourceReservedError,
} from "../participant-kit/errors.ts";
import type { ParticipantStore } from "../participant-kit/participant-store.ts";
import type { Resource, ResourceModel, ResourceState } from "../participant-kit/resource-model.ts";
import { StaleRecordError } from "../ports/errors.ts";
import { batchGetAll } from "./batch-get.ts";
import { dynamoDbAlongside } from "./dynamodb-alongside.ts";
import { barrierKey, settleBarrierItem, stepKey, toBarrier, toStep } from "./dynamodb-barrier-items.ts";
import { type Item, LOCK_ATTRIBUTES, resourceItems, type TransactItem } from "./dynamodb-resource-items.ts";
import { retryTransientCancellations } from "./transient-errors.ts";

export interface DynamoDbParticipantStoreOptions<S extends ResourceState> {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly model: ResourceModel<S>;
  /** How long a settled barrier is kept: longer than any message can live in SQS (14 days). */
  readonly retentionSeconds: number;
}

export function createDynamoDbParticipantStore<S extends ResourceState>(
  options: DynamoDbParticipantStoreOptions<S>,
): ParticipantStore<S> {
  const { doc, tableName, model, retentionSeconds } = options;
  // Rounded up: an item is kept at least the retention (DynamoDB TTL counts in whole seconds).
  const expiry = (now: number) => Math.ceil(now / 1000) + retentionSeconds;
  const items = resourceItems(tableName, model);
  const { keyOf, toResource, stateClauses, identity, writeResource, availableAt, moveItem } = items;
  const { holdFree, lockItem, releaseItem } = items;

  const batchGet = (pks: readonly string[]): Promise<Item[]> =>
    batchGetAll(
      doc,
      tableName,
      pks.map((pk) => ({ pk })),
    );

  /** The barrier-ish items and resources among `items`, resources by the id they were asked for. */
  function sortOut(participant: string, ids: readonly string[], items: readonly Item[]) {
    const idOf = new Map(ids.map((id) => [keyOf(participant, id), id]));
    const resources = new Map<string, Resource<S>>();
    for (const item of items) {
      const id = idOf.get(String(item.pk));
      if (id !== undefined) resources.set(id, toResource(id, item));
    }
    return {
      resources,
      barrier: items.find((i) => i.kind === "barrier"),
      step: items.find((i) => i.kind === "step"),
    };
  }

  /**
   * Runs one TransactWriteItems whose first item is the barrier, mapping cancellations.
   * A cancellation only for TransactionConflict or throttling applied nothing and the
   * SDK does not retry it, so it is sent again here (jittered backoff, bounded); every
   * caller's items are conditional on the barrier, so a repeat can never apply twice.
   * Still refused after the last attempt: TransientStoreError, and the message returns.
   */
  async function transact(txId: string, items: TransactItem[]): Promise<void> {
    await retryTransientCancellations(async () => {
      try {
        await doc.send(new TransactWriteCommand({ TransactItems: items }));
      } catch (err) {
        if (err instanceof TransactionCanceledException) {
          const reasons = err.CancellationReasons ?? [];
          if (reasons.some((r) => r.Code === "ConditionalCheckFailed")) {
            throw new BarrierConflictError(txId, reasons[0]?.Code === "ConditionalCheckFailed", {
              cause: err,
            });
          }
        }
        throw err;
      }
    });
  }

  /** A write's condition, as the SDK's commands take it. */
  type Condition = {
    readonly ConditionExpression: string;
    readonly ExpressionAttributeNames?: Record<string, string>;
    readonly ExpressionAttributeValues?: Item;
  };

  /** One conditional PutItem of a barrier; a failed condition means it is there already. */
  async function putBarrier(txId: string, item: Item, condition: Condition): Promise<void> {
    try {
      await doc.send(new PutCommand({ TableName: tableName, Item: item, ...condition }));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new BarrierConflictError(txId, true, { cause: err });
      }
      throw err;
    }
  }

  const settleBarrier = (barrier: Barrier<S>, state: "committed" | "rolled_back", now: number) =>
    settleBarrierItem(tableName, barrier, state, now, expiry(now));

  /** Sets `expiresAt` on an item of this incarnation that has none; a failed condition means there is nothing to do. */
  async function expireFromNow(pk: string, txStartedAt: number, now: number, notPrepared: boolean) {
    try {
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk },
          UpdateExpression: "SET expiresAt = :exp",
          ConditionExpression:
            "attribute_exists(pk) AND attribute_not_exists(expiresAt) AND txStartedAt = :started" +
            (notPrepared ? " AND #state <> :prepared" : ""),
          ...(notPrepared ? { ExpressionAttributeNames: { "#state": "state" } } : {}),
          ExpressionAttributeValues: {
            ":exp": expiry(now),
            ":started": txStartedAt,
            ...(notPrepared ? { ":prepared": "prepared" } : {}),
          },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  /**
   * A planned resource written at once, under the condition a PREPARE would have
   * needed (a saga step, a one-phase commit): a move applied where it fits, a new
   * state where unlocked at the planned version, or, read and not written, checked.
   */
  function directItem(participant: string, p: PlannedResource<S>): TransactItem {
    if (p.moves !== undefined) return moveItem(participant, p, "direct");
    const available = availableAt(p.version);
    if (p.next !== undefined) return writeResource(participant, p, p.next, available);
    // Read, not written: still checked, so the write was judged on the state it writes against.
    return {
      ConditionCheck: {
        TableName: tableName,
        Key: { pk: keyOf(participant, p.id) },
        ConditionExpression: available.condition,
        ...(Object.keys(available.names).length > 0 ? { ExpressionAttributeNames: available.names } : {}),
        ExpressionAttributeValues: available.values,
      },
    };
  }

  const release = (barrier: Barrier<S>, p: PlannedResource<S>) =>
    releaseItem(barrier.participant, barrier.txId, p);

  /**
   * Where a new 2PC barrier may be written: no barrier, or (for a later attempt)
   * one of an earlier attempt that holds nothing. The first attempt needs none.
   */
  const newBarrier = (attempt: number | undefined) =>
    attempt === undefined || attempt === 0
      ? { ConditionExpression: "attribute_not_exists(pk)" }
      : {
          ConditionExpression:
            "attribute_not_exists(pk) OR (#state IN (:rb, :ref) AND (attribute_not_exists(attempt) OR attempt < :attempt))",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: { ":rb": "rolled_back", ":ref": "refused", ":attempt": attempt },
        };

  /** A commit's items: the barrier settled first, then each planned resource applied or released. */
  const commitItems = (barrier: Barrier<S>, now: number): TransactItem[] => [
    settleBarrier(barrier, "committed", now),
    ...barrier.planned.map((p) =>
      p.moves !== undefined
        ? moveItem(barrier.participant, p, "apply")
        : p.next !== undefined
          ? writeResource(barrier.participant, p, p.next, {
              remove: LOCK_ATTRIBUTES,
              condition: "lockedBy = :tx AND version = :v",
              names: {},
              values: { ":tx": barrier.txId, ":v": p.version },
            })
          : release(barrier, p),
    ),
  ];

  /** A prepare's items: the barrier `prepared` first, then each planned resource held or locked. */
  const prepareItems = (barrier: Barrier<S>, now: number): TransactItem[] => [
    {
      Put: {
        TableName: tableName,
        // preparedShard/preparedAt put it in the sparse index of barriers that may be in doubt.
        Item: {
          pk: barrierKey(barrier.participant, barrier.txId),
          kind: "barrier",
          ...barrier,
          preparedShard: barrier.participant,
          preparedAt: now,
        },
        ...newBarrier(barrier.attempt),
      },
    },
    ...barrier.planned.map((p): TransactItem => {
      if (p.moves !== undefined) return moveItem(barrier.participant, p, "hold");
      return lockItem(barrier.participant, p, barrier.txId, now, barrier.txStartedAt ?? now, barrier.attempt);
    }),
  ];

  /** A commit in one phase: the barrier `committed` first, then each planned resource written at once. */
  const onePhaseItems = (barrier: Barrier<S>, now: number): TransactItem[] => {
    const { expiresAt: _e, ...fields } = barrier;
    return [
      {
        Put: {
          TableName: tableName,
          // Final when written: no preparedShard, so it is never in doubt.
          Item: {
            pk: barrierKey(barrier.participant, barrier.txId),
            kind: "barrier",
            ...fields,
            expiresAt: expiry(now),
          },
          ...newBarrier(barrier.attempt),
        },
      },
      ...barrier.planned.map((p) => directItem(barrier.participant, p)),
    ];
  };

  /** A waiter's attribute on a resource item: top level, so no map must exist before it. */
  const waiterAttribute = (txId: string) => `waiter#${txId}`;

  return {
    async getResource(participant, id) {
      const out = await doc.send(
        new GetCommand({ TableName: tableName, Key: { pk: keyOf(participant, id) }, ConsistentRead: true }),
      );
      return out.Item ? toResource(id, out.Item) : undefined;
    },

    async putResource(participant, id, state) {
      const clauses = stateClauses(model.state.parse(state));
      const ident = identity(participant, id);
      // A reset would leave the holds of prepared transactions against a value they were not taken on.
      const free = holdFree();
      try {
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: keyOf(participant, id) },
            UpdateExpression:
              `SET ${[...clauses.set, ...ident.set, "version = if_not_exists(version, :zero) + :one"].join(", ")}` +
              (clauses.remove.length > 0 ? ` REMOVE ${clauses.remove.join(", ")}` : ""),
            ConditionExpression: `attribute_not_exists(lockedBy)${free ? ` AND ${free.condition}` : ""}`,
            ExpressionAttributeNames: { ...clauses.names, ...ident.names, ...free?.names },
            ExpressionAttributeValues: { ...clauses.values, ...ident.values, ":zero": 0, ":one": 1 },
            ReturnValues: "ALL_NEW",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return toResource(id, out.Attributes ?? {});
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) {
          const lockedBy = err.Item?.lockedBy?.S;
          if (lockedBy) throw new ResourceLockedError(id, lockedBy, { cause: err });
          if (err.Item) throw new ResourceReservedError(id, { cause: err });
          throw new StaleRecordError(keyOf(participant, id), { cause: err });
        }
        throw err;
      }
    },

    async getBarrier(participant, txId) {
      const out = await doc.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: barrierKey(participant, txId) },
          ConsistentRead: true,
        }),
      );
      return out.Item ? toBarrier<S>(out.Item) : undefined;
    },

    async getStep(participant, txId, branch) {
      const out = await doc.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: stepKey(participant, txId, branch) },
          ConsistentRead: true,
        }),
      );
      return out.Item ? toStep(out.Item) : undefined;
    },

    async loadForPrepare(participant, txId, ids) {
      // One round trip: the barrier and the resources live in the same table.
      const items = await batchGet([
        barrierKey(participant, txId),
        ...ids.map((id) => keyOf(participant, id)),
      ]);
      const { barrier, resources } = sortOut(participant, ids, items);
      return { ...(barrier ? { barrier: toBarrier<S>(barrier) } : {}), resources };
    },

    async loadForStep(participant, txId, branch, ids, withBarrier) {
      const items = await batchGet([
        stepKey(participant, txId, branch),
        ...(withBarrier ? [barrierKey(participant, txId)] : []),
        ...ids.map((id) => keyOf(participant, id)),
      ]);
      const { barrier, step, resources } = sortOut(participant, ids, items);
      return {
        ...(step ? { step: toStep(step) } : {}),
        ...(barrier ? { barrier: toBarrier<S>(barrier) } : {}),
        resources,
      };
    },

    async prepare(barrier, now) {
      await transact(barrier.txId, prepareItems(barrier, now));
    },

    prepareAlongside: (barrier, now) => dynamoDbAlongside(prepareItems(barrier, now)),

    async commitOnePhase(barrier, now) {
      await transact(barrier.txId, onePhaseItems(barrier, now));
    },

    commitOnePhaseAlongside: (barrier, now) => dynamoDbAlongside(onePhaseItems(barrier, now)),

    async refuse(barrier) {
      await putBarrier(
        barrier.txId,
        {
          pk: barrierKey(barrier.participant, barrier.txId),
          kind: "barrier",
          ...barrier,
          expiresAt: expiry(barrier.createdAt),
        },
        newBarrier(barrier.attempt),
      );
    },

    async commit(barrier, now) {
      await transact(barrier.txId, commitItems(barrier, now));
    },

    commitAlongside: (barrier, now) => dynamoDbAlongside(commitItems(barrier, now)),

    async rollback(barrier, now) {
      await transact(barrier.txId, [
        settleBarrier(barrier, "rolled_back", now),
        ...barrier.planned.map((p) => release(barrier, p)),
      ]);
    },

    async rollbackUnprepared(participant, txId, now, txStartedAt, attempt) {
      const barrier: Barrier<S> = {
        participant,
        txId,
        state: "rolled_back",
        planned: [],
        createdAt: now,
        decidedAt: now,
        ...(txStartedAt !== undefined ? { txStartedAt } : {}),
        ...(attempt !== undefined ? { attempt } : {}),
      };
      await putBarrier(
        txId,
        { pk: barrierKey(participant, txId), kind: "barrier", ...barrier, expiresAt: expiry(now) },
        newBarrier(attempt),
      );
    },

    async addWaiter(participant, id, holder, waiter) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: keyOf(participant, id) },
            UpdateExpression: "SET #w = :entry",
            ConditionExpression: "lockedBy = :holder",
            ExpressionAttributeNames: { "#w": waiterAttribute(waiter.txId) },
            ExpressionAttributeValues: {
              ":entry": { holder, startedAt: waiter.startedAt },
              ":holder": holder,
            },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false;
        throw err;
      }
    },

    async takeWaiters(participant, ids, holder) {
      const items = await batchGet(ids.map((id) => keyOf(participant, id)));
      // Each waiter as a transaction's age (`id`, `startedAt`), so the lock policies' order sorts them.
      const found: { pk: string; id: string; startedAt: number }[] = [];
      for (const item of items) {
        for (const [attribute, entry] of Object.entries(item)) {
          if (!attribute.startsWith("waiter#")) continue;
          const { holder: h, startedAt } = entry as { holder?: unknown; startedAt?: unknown };
          if (h !== holder) continue;
          found.push({
            pk: String(item.pk),
            id: attribute.slice("waiter#".length),
            startedAt: Number(startedAt),
          });
        }
      }
      await Promise.all(
        found.map(async ({ pk, id }) => {
          try {
            await doc.send(
              new UpdateCommand({
                TableName: tableName,
                Key: { pk },
                UpdateExpression: "REMOVE #w",
                // Only if it still waits for this holder: a registration for a later one stays.
                ConditionExpression: "#w.holder = :holder",
                ExpressionAttributeNames: { "#w": waiterAttribute(id) },
                ExpressionAttributeValues: { ":holder": holder },
              }),
            );
          } catch (err) {
            if (!(err instanceof ConditionalCheckFailedException)) throw err;
          }
        }),
      );
      found.sort(oldestFirst);
      return [...new Set(found.map((w) => w.id))];
    },

    async preparedBefore(participant, before, limit) {
      const out = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: PREPARED_INDEX,
          KeyConditionExpression: "preparedShard = :participant AND preparedAt < :before",
          ExpressionAttributeValues: { ":participant": participant, ":before": before },
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => toBarrier<S>(item));
    },

    async finish(participant, txId, txStartedAt, branches, now) {
      // One small conditional update per item, at most one per branch: a saga holds
      // at most 100 branches, and most participants hold one or two of them.
      await Promise.all([
        expireFromNow(barrierKey(participant, txId), txStartedAt, now, true),
        ...branches.map((b) => expireFromNow(stepKey(participant, txId, b), txStartedAt, now, false)),
      ]);
    },

    async writeStep(step, from, planned, now) {
      const { expiresAt: _e, ...fields } = step;
      const item = {
        pk: stepKey(step.participant, step.txId, step.branch),
        kind: "step",
        ...fields,
        ...(keptUntilFinished(step) ? {} : { expiresAt: expiry(now) }),
      };
      // The barrier as read, incarnation included: a reused id's compensation writes over an earlier one's.
      const condition =
        from === undefined ? "attribute_not_exists(pk)" : "#state = :from AND txStartedAt = :fromStartedAt";
      const values =
        from === undefined ? undefined : { ":from": from.state, ":fromStartedAt": from.txStartedAt };
      if (planned.length === 0) {
        await putBarrier(step.txId, item, {
          ConditionExpression: condition,
          ...(values
            ? { ExpressionAttributeNames: { "#state": "state" }, ExpressionAttributeValues: values }
            : {}),
        });
        return;
      }
      await transact(step.txId, [
        {
          Put: {
            TableName: tableName,
            Item: item,
            ConditionExpression: condition,
            ...(values
              ? { ExpressionAttributeNames: { "#state": "state" }, ExpressionAttributeValues: values }
              : {}),
          },
        },
        ...planned.map((p) => directItem(step.participant, p)),
      ]);
    },
  };
}
