/**
 * The resource items of the participant kit's DynamoDB table, and the write
 * items that move them: a lock (exclusive, version-checked) or a hold (the
 * escrow method, condition-checked). Pure mapping: nothing here sends.
 *
 * A quantity field `f` is stored with two attributes beside it, so that a
 * hold can be taken by one condition expression (DynamoDB's conditions
 * compare, they cannot subtract):
 *
 *   fAvailable = f - reserved   what a debit may take; a PREPARE's debit needs `fAvailable >= d`
 *   fPromised  = f + pending    what credits may reach; a PREPARE's credit needs `fPromised <= MAX - c`
 *
 * Items written before quantities had them lack both: every expression reads
 * a missing one as `f` (nothing held), and the first write sets it.
 */
import type { TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import type { PlannedResource } from "../participant-kit/barriers.ts";
import {
  type Hold,
  holdAttributes,
  type Resource,
  type ResourceModel,
  type ResourceState,
} from "../participant-kit/resource-model.ts";

export type Item = Record<string, unknown>;
export type TransactItem = NonNullable<TransactWriteCommand["input"]["TransactItems"]>[number];

// Participant names and resource ids never contain '#', so these keys cannot collide.
export const resourceKey = (kind: string, participant: string, id: string): string =>
  `${kind}#${participant}#${id}`;

export const LOCK_ATTRIBUTES = "lockedBy, lockedAt, lockedByStartedAt, lockedByAttempt";

/** A condition and the names and values it uses. */
export interface Expr {
  readonly condition: string;
  readonly names: Record<string, string>;
  readonly values: Item;
}

const and = (...parts: readonly Expr[]): Expr => ({
  condition: parts.map((p) => `(${p.condition})`).join(" AND "),
  names: Object.assign({}, ...parts.map((p) => p.names)),
  values: Object.assign({}, ...parts.map((p) => p.values)),
});

export function resourceItems<S extends ResourceState>(tableName: string, model: ResourceModel<S>) {
  const keyOf = (participant: string, id: string) => resourceKey(model.kind, participant, id);
  const quantities = Object.keys(model.quantities);
  /** The aliases of quantity `i`: the field, what is available, what is promised. */
  const alias = (i: number) => ({ f: `#q${i}`, a: `#qa${i}`, p: `#qp${i}` });
  const aliasNames = (field: string, i: number): Record<string, string> => {
    const [available, promised] = holdAttributes(field);
    const n = alias(i);
    return { [n.f]: field, [n.a]: available, [n.p]: promised };
  };
  const indexOf = (field: string) => quantities.indexOf(field);

  function toResource(id: string, item: Item): Resource<S> {
    const version = Number(item.version ?? 0);
    const picked = Object.fromEntries(model.stateKeys.filter((k) => k in item).map((k) => [k, item[k]]));
    const holds: Record<string, Hold> = {};
    for (const field of quantities) {
      const [available, promised] = holdAttributes(field);
      const value = Number(item[field] ?? 0);
      const hold = {
        reserved: value - Number(item[available] ?? value),
        pending: Number(item[promised] ?? value) - value,
      };
      if (hold.reserved !== 0 || hold.pending !== 0) holds[field] = hold;
    }
    return {
      id,
      version,
      // Version 0 is a lock placeholder for a resource a prepared transaction creates.
      ...(version > 0 ? { state: model.state.parse(picked) } : {}),
      ...(typeof item.lockedBy === "string" ? { lockedBy: item.lockedBy } : {}),
      ...(typeof item.lockedAt === "number" ? { lockedAt: item.lockedAt } : {}),
      ...(typeof item.lockedByStartedAt === "number" ? { lockedByStartedAt: item.lockedByStartedAt } : {}),
      ...(typeof item.lockedByAttempt === "number" ? { lockedByAttempt: item.lockedByAttempt } : {}),
      ...(Object.keys(holds).length > 0 ? { holds } : {}),
    };
  }

  /**
   * `SET` and `REMOVE` clauses that make an item's state attributes exactly
   * `state` (names aliased: `status`, `order`, ... are reserved words). A
   * quantity written outright holds nothing: its two hold attributes equal it.
   */
  function stateClauses(state: S): { set: string[]; remove: string[]; names: Item; values: Item } {
    const set: string[] = [];
    const remove: string[] = [];
    const names: Item = {};
    const values: Item = {};
    model.stateKeys.forEach((k, i) => {
      names[`#s${i}`] = k;
      const value = state[k];
      const q = indexOf(k);
      if (value === undefined) remove.push(`#s${i}`);
      else {
        set.push(`#s${i} = :s${i}`);
        values[`:s${i}`] = value;
        if (q >= 0) {
          const n = alias(q);
          const [available, promised] = holdAttributes(k);
          Object.assign(names, { [n.a]: available, [n.p]: promised });
          set.push(`${n.a} = :s${i}`, `${n.p} = :s${i}`);
        }
      }
    });
    return { set, remove, names, values };
  }

  /** Nothing reserved or pending on any quantity (a missing hold attribute holds nothing). */
  const holdFree = (): Expr | undefined =>
    quantities.length === 0
      ? undefined
      : {
          condition: quantities
            .map((_, i) => {
              const n = alias(i);
              return `(attribute_not_exists(${n.a}) OR ${n.a} = ${n.f}) AND (attribute_not_exists(${n.p}) OR ${n.p} = ${n.f})`;
            })
            .join(" AND "),
          names: Object.assign({}, ...quantities.map(aliasNames)),
          values: {},
        };

  /**
   * The condition for a lock (or a version-checked write): unlocked at
   * `version`, holding nothing; version 0 also holds while it is absent.
   */
  function availableAt(version: number): Expr {
    const at: Expr =
      version === 0
        ? {
            condition: "(attribute_not_exists(pk) OR version = :v) AND attribute_not_exists(lockedBy)",
            names: {},
            values: { ":v": 0 },
          }
        : {
            condition: "version = :v AND attribute_not_exists(lockedBy)",
            names: {},
            values: { ":v": version },
          };
    const free = holdFree();
    return free === undefined ? at : and(at, free);
  }

  const identity = (participant: string, id: string) => ({
    set: ["#kind = :kind", "#participant = :participant", "#id = :id"],
    names: { "#kind": "kind", "#participant": "participant", "#id": "id" },
    values: { ":kind": model.kind, ":participant": participant, ":id": id },
  });

  /** An Update that sets a resource to `next` at version + 1 under `condition` (creating it when absent). */
  function writeResource(
    participant: string,
    planned: PlannedResource<S>,
    next: S,
    extra: { remove?: string } & Expr,
  ): TransactItem {
    const state = stateClauses(next);
    const ident = planned.version === 0 ? identity(participant, planned.id) : undefined;
    const remove = [...state.remove, ...(extra.remove ? [extra.remove] : [])];
    return {
      Update: {
        TableName: tableName,
        Key: { pk: keyOf(participant, planned.id) },
        UpdateExpression:
          `SET ${[...state.set, ...(ident?.set ?? []), "version = :next"].join(", ")}` +
          (remove.length > 0 ? ` REMOVE ${remove.join(", ")}` : ""),
        ConditionExpression: extra.condition,
        ExpressionAttributeNames: { ...state.names, ...ident?.names, ...extra.names },
        ExpressionAttributeValues: {
          ...state.values,
          ...ident?.values,
          ...extra.values,
          ":next": planned.version + 1,
        },
      },
    };
  }

  /**
   * What a move does to one item, by when:
   * - `hold` (PREPARE): debits lower what is available, credits raise what is promised,
   *   each under the condition that it fits;
   * - `apply` (commit of a hold): the value moves; the hold attributes the move did not touch follow it;
   * - `release` (rollback of a hold): the hold attributes go back;
   * - `direct` (a saga step): the value and both hold attributes move, under the same condition as `hold`.
   */
  function moveItem(
    participant: string,
    planned: PlannedResource<S>,
    when: "hold" | "apply" | "release" | "direct",
  ): TransactItem {
    const set: string[] = [];
    const conditions: string[] = ["attribute_exists(pk)"];
    const names: Record<string, string> = {};
    const values: Item = {};
    if (when === "hold" || when === "direct") {
      conditions.push("version > :zero", "attribute_not_exists(lockedBy)");
      values[":zero"] = 0;
    }
    if (when === "apply" || when === "direct") {
      set.push("version = version + :one");
      values[":one"] = 1;
    }
    for (const [field, delta] of Object.entries(planned.moves ?? {})) {
      const i = indexOf(field);
      const n = alias(i);
      Object.assign(names, aliasNames(field, i));
      const amount = Math.abs(delta);
      values[`:m${i}`] = amount;
      const op = delta < 0 ? "-" : "+";
      // A missing hold attribute reads as the value: the item predates holds and holds nothing.
      const available = `if_not_exists(${n.a}, ${n.f})`;
      const promised = `if_not_exists(${n.p}, ${n.f})`;
      if (when === "hold" || when === "direct") {
        if (delta < 0) {
          conditions.push(`(${n.a} >= :m${i} OR (attribute_not_exists(${n.a}) AND ${n.f} >= :m${i}))`);
        } else {
          values[`:cap${i}`] = Number.MAX_SAFE_INTEGER - amount;
          conditions.push(`(${n.p} <= :cap${i} OR (attribute_not_exists(${n.p}) AND ${n.f} <= :cap${i}))`);
        }
      }
      if (when === "hold")
        set.push(delta < 0 ? `${n.a} = ${available} - :m${i}` : `${n.p} = ${promised} + :m${i}`);
      if (when === "release")
        set.push(delta < 0 ? `${n.a} = ${available} + :m${i}` : `${n.p} = ${promised} - :m${i}`);
      if (when === "apply") {
        // available = value - reserved, promised = value + pending: the side the hold was not on follows the value.
        set.push(
          `${n.f} = ${n.f} ${op} :m${i}`,
          delta < 0 ? `${n.p} = ${promised} - :m${i}` : `${n.a} = ${available} + :m${i}`,
        );
      }
      if (when === "direct") {
        set.push(
          `${n.f} = ${n.f} ${op} :m${i}`,
          `${n.a} = ${available} ${op} :m${i}`,
          `${n.p} = ${promised} ${op} :m${i}`,
        );
      }
    }
    const update = `SET ${set.join(", ")}`;
    const condition = conditions.join(" AND ");
    // DynamoDB refuses names an expression does not use: each kind of move uses some of them.
    const used = Object.fromEntries(
      Object.entries(names).filter(([alias]) => new RegExp(`${alias}\\b`).test(`${update} ${condition}`)),
    );
    return {
      Update: {
        TableName: tableName,
        Key: { pk: keyOf(participant, planned.id) },
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: used,
        ExpressionAttributeValues: values,
        // On a refusal the item as it was says why (insufficient, locked, gone), in the cancellation reasons.
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      },
    };
  }

  /** A PREPARE's lock on a planned resource, unlocked at its version and free of holds (a placeholder at version 0). */
  function lockItem(
    participant: string,
    p: PlannedResource<S>,
    txId: string,
    now: number,
    startedAt: number,
    attempt: number | undefined,
  ): TransactItem {
    const available = availableAt(p.version);
    // A resource the transaction creates is locked through a placeholder at version 0.
    const ident = p.version === 0 ? identity(participant, p.id) : undefined;
    return {
      Update: {
        TableName: tableName,
        Key: { pk: keyOf(participant, p.id) },
        UpdateExpression: `SET ${[
          "lockedBy = :tx",
          "lockedAt = :now",
          "lockedByStartedAt = :started",
          // Absent for a first attempt, as on the barrier; an unlocked item has none.
          ...(attempt !== undefined ? ["lockedByAttempt = :attempt"] : []),
          ...(ident ? [...ident.set, "version = :v"] : []),
        ].join(", ")}`,
        ConditionExpression: available.condition,
        ...(ident || Object.keys(available.names).length > 0
          ? { ExpressionAttributeNames: { ...available.names, ...ident?.names } }
          : {}),
        ExpressionAttributeValues: {
          ...available.values,
          ...ident?.values,
          ":tx": txId,
          ":now": now,
          ":started": startedAt,
          ...(attempt !== undefined ? { ":attempt": attempt } : {}),
        },
      },
    };
  }

  /** Releases what a barrier holds on a resource: a move's hold, a placeholder (dropped), or a lock. */
  function releaseItem(participant: string, txId: string, p: PlannedResource<S>): TransactItem {
    if (p.moves !== undefined) return moveItem(participant, p, "release");
    if (p.version === 0) {
      return {
        Delete: {
          TableName: tableName,
          Key: { pk: keyOf(participant, p.id) },
          ConditionExpression: "lockedBy = :tx",
          ExpressionAttributeValues: { ":tx": txId },
        },
      };
    }
    return {
      Update: {
        TableName: tableName,
        Key: { pk: keyOf(participant, p.id) },
        UpdateExpression: `REMOVE ${LOCK_ATTRIBUTES}`,
        ConditionExpression: "lockedBy = :tx AND version = :v",
        ExpressionAttributeValues: { ":tx": txId, ":v": p.version },
      },
    };
  }

  return {
    keyOf,
    toResource,
    stateClauses,
    holdFree,
    availableAt,
    identity,
    writeResource,
    moveItem,
    lockItem,
    releaseItem,
  };
}
