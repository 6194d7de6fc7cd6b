/**
 * The barrier items of the participant kit's DynamoDB table: their keys, their
 * mapping back to barriers, and a decision's move of the 2PC barrier. Pure
 * mapping: nothing here sends.
 */
import { attemptOf } from "../core/transaction.ts";
import { type Barrier, keptUntilFinished, type StepBarrier } from "../participant-kit/barriers.ts";
import type { ResourceState } from "../participant-kit/resource-model.ts";
import type { Item, TransactItem } from "./dynamodb-resource-items.ts";

// Participant names and transaction ids never contain '#', so these keys cannot collide.
export const barrierKey = (participant: string, txId: string): string => `barrier#${participant}#${txId}`;
export const stepKey = (participant: string, txId: string, branch: number): string =>
  `step#${participant}#${txId}#${branch}`;

export function toBarrier<S extends ResourceState>(item: Item): Barrier<S> {
  const { pk: _pk, kind: _kind, preparedShard: _s, preparedAt: _p, ...barrier } = item;
  return barrier as unknown as Barrier<S>;
}

export function toStep(item: Item): StepBarrier {
  const { pk: _pk, kind: _kind, ...step } = item;
  return step as unknown as StepBarrier;
}

/**
 * The barrier's move from prepared to `state`, as the first item of a decision's
 * transaction; it expires at `expiresAt`, unless kept until its saga is finished.
 * It requires the stored barrier prepared for `barrier`'s incarnation and attempt:
 * the barrier passed may be a copy this process remembers from its PREPARE, and a
 * prepared barrier of another incarnation or attempt holds other reservations.
 */
export function settleBarrierItem<S extends ResourceState>(
  tableName: string,
  barrier: Barrier<S>,
  state: "committed" | "rolled_back",
  now: number,
  expiresAt: number,
): TransactItem {
  const kept = keptUntilFinished({ state, ...(barrier.sagaStage ? { sagaStage: true } : {}) });
  const started = barrier.txStartedAt;
  const attempt = attemptOf(barrier);
  return {
    Update: {
      TableName: tableName,
      Key: { pk: barrierKey(barrier.participant, barrier.txId) },
      UpdateExpression: `SET #state = :${state === "committed" ? "committed" : "rolledBack"}, decidedAt = :now${kept ? "" : ", expiresAt = :exp"} REMOVE preparedShard`,
      ConditionExpression: [
        "#state = :prepared",
        started === undefined ? "attribute_not_exists(txStartedAt)" : "txStartedAt = :started",
        // A first attempt's barrier names none (absent: the first).
        attempt === 0 ? "(attribute_not_exists(attempt) OR attempt = :attempt)" : "attempt = :attempt",
      ].join(" AND "),
      ExpressionAttributeNames: { "#state": "state" },
      ExpressionAttributeValues: {
        [state === "committed" ? ":committed" : ":rolledBack"]: state,
        ":prepared": "prepared",
        ":now": now,
        ":attempt": attempt,
        ...(started === undefined ? {} : { ":started": started }),
        ...(kept ? {} : { ":exp": expiresAt }),
      },
    },
  };
}
