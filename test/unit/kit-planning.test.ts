/**
 * The kit's pure planning (planGroup) over any model: the order in which a
 * group is judged, what it plans for every touched resource, and what a model
 * may not do.
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { ModelContractError } from "../../src/participant-kit/errors.ts";
import { declaredPlan, planGroup, touchedBy } from "../../src/participant-kit/planning.ts";
import {
  type ActionBuilder,
  accept,
  defineModel,
  ModelDefinitionError,
  type Resource,
  refuse,
} from "../../src/participant-kit/resource-model.ts";
import { type AccountState, bankModel } from "../../src/participants/bank/bank-rules.ts";

const counter = z.object({ count: z.number().int().nonnegative() });
type Counter = z.infer<typeof counter>;
const ids = z.strictObject({ ids: z.array(z.string()).min(1), by: z.number().int() });

/** `add` adds to every counter named (refusing below zero); `peek` reads without writing. */
const model = defineModel({
  kind: "counter",
  state: counter,
  actions: (action) => ({
    add: action({
      input: ids,
      touches: (i) => i.ids,
      apply(i, counters) {
        const set = [];
        for (const id of i.ids) {
          const count = (counters.get(id).state?.count ?? 0) + i.by;
          if (count < 0) return refuse<Counter>("below_zero");
          set.push({ id, state: { count } });
        }
        return accept(...set);
      },
    }),
    peek: action({ input: ids, touches: (i) => i.ids, apply: () => accept<Counter>() }),
    sneak: action({
      input: ids,
      touches: (i) => i.ids,
      apply: (i) => accept({ id: `${i.ids[0]}-x`, state: { count: 1 } }),
    }),
    corrupt: action({
      input: ids,
      touches: (i) => i.ids,
      apply: (i) => accept({ id: i.ids[0] ?? "", state: { count: -1 } }),
    }),
    snoop: action({
      input: ids,
      touches: (i) => i.ids,
      apply: (_, r) => (r.get("other").state ? accept() : accept()),
    }),
  }),
});

const resources = (...list: Resource<Counter>[]) => new Map(list.map((r) => [r.id, r]));
const at = (
  id: string,
  count: number,
  version = 4,
  extra: Partial<Resource<Counter>> = {},
): Resource<Counter> => ({
  id,
  version,
  state: { count },
  ...extra,
});
const branch = (index: number, action: string, input: unknown) => ({ index, action, input });

describe("planGroup", () => {
  it.each([
    {
      name: "branches fold in order over one resource, planned once at its version as read",
      branches: [branch(0, "add", { ids: ["a"], by: 5 }), branch(1, "add", { ids: ["a"], by: -12 })],
      plan: { vote: "yes", planned: [{ id: "a", version: 4, next: { count: 3 } }] },
    },
    {
      name: "a later branch is judged on what the earlier ones left, not on the state as read",
      branches: [branch(0, "add", { ids: ["a"], by: -10 }), branch(1, "add", { ids: ["a"], by: -1 })],
      plan: { vote: "no", reason: "below_zero", failedBranch: 1 },
    },
    {
      name: "a resource that does not exist is planned at version 0 and created",
      branches: [branch(3, "add", { ids: ["new"], by: 2 })],
      plan: { vote: "yes", planned: [{ id: "new", version: 0, next: { count: 2 } }] },
    },
    {
      name: "a resource only read is planned without a next state (locked or checked, not written)",
      branches: [branch(0, "peek", { ids: ["a", "gone"], by: 0 }), branch(1, "add", { ids: ["b"], by: 1 })],
      plan: {
        vote: "yes",
        planned: [
          { id: "a", version: 4 },
          { id: "gone", version: 0 },
          { id: "b", version: 2, next: { count: 8 } },
        ],
      },
    },
    {
      name: "input that does not parse refuses with invalid_input at its branch",
      branches: [branch(0, "add", { ids: ["a"], by: 1 }), branch(7, "add", { ids: [], by: 1 })],
      plan: { vote: "no", reason: "invalid_input", failedBranch: 7 },
    },
    {
      name: "an action the model does not have (nor inherits) refuses with invalid_input",
      branches: [branch(0, "toString", { ids: ["a"], by: 1 })],
      plan: { vote: "no", reason: "invalid_input", failedBranch: 0 },
    },
    {
      name: "a lock held by another transaction stops the group before its action is judged",
      branches: [branch(0, "add", { ids: ["a"], by: 1 }), branch(1, "add", { ids: ["locked"], by: -1000 })],
      plan: {
        vote: "no",
        reason: "lock_conflict",
        failedBranch: 1,
        holder: "other",
        holderStartedAt: 77,
        lockedResource: "locked",
      },
    },
    {
      name: "the owner's own locks do not conflict",
      branches: [branch(0, "add", { ids: ["mine"], by: 1 })],
      plan: { vote: "yes", planned: [{ id: "mine", version: 4, next: { count: 2 } }] },
    },
  ])("$name", ({ branches, plan }) => {
    const read = resources(
      at("a", 10),
      at("b", 7, 2),
      at("locked", 5, 4, { lockedBy: "other", lockedByStartedAt: 77 }),
      at("mine", 1, 4, { lockedBy: "me" }),
    );
    expect(planGroup(model, branches, read, "me")).toEqual(plan);
  });

  it("a saga step owns no lock: even the transaction's own lock conflicts", () => {
    const read = resources(at("mine", 1, 4, { lockedBy: "me" }));
    expect(planGroup(model, [branch(0, "add", { ids: ["mine"], by: 1 })], read, undefined)).toMatchObject({
      vote: "no",
      reason: "lock_conflict",
      holder: "me",
    });
  });

  it("refuses more resources than one atomic write holds", () => {
    const many = Array.from({ length: 100 }, (_, i) => `r${i}`);
    expect(planGroup(model, [branch(2, "add", { ids: many, by: 1 })], new Map(), "me")).toEqual({
      vote: "no",
      reason: "too_many_resources",
      failedBranch: 2,
    });
    expect(planGroup(model, [branch(2, "add", { ids: many.slice(1), by: 1 })], new Map(), "me").vote).toBe(
      "yes",
    );
  });

  it.each([
    ["writes a resource it did not declare", "sneak"],
    ["produces a state its schema refuses", "corrupt"],
    ["reads a resource it did not declare", "snoop"],
  ])("throws ModelContractError when a model %s", (_, action) => {
    expect(() =>
      planGroup(model, [branch(0, action, { ids: ["a"], by: 1 })], resources(at("a", 1)), "me"),
    ).toThrow(ModelContractError);
  });

  it("touchedBy lists every resource in first-use order and skips what does not parse", () => {
    expect(
      touchedBy(model, [
        branch(0, "add", { ids: ["b", "a"], by: 1 }),
        branch(1, "add", { ids: "nope" }),
        branch(2, "peek", { ids: ["a", "c"], by: 0 }),
      ]),
    ).toEqual(["b", "a", "c"]);
  });
});

describe("defineModel", () => {
  it.each([
    ["a kind that cannot be a key part", { kind: "Bad Kind" }],
    ["the kind of a barrier", { kind: "barrier" }],
    ["a state attribute the store writes itself", { state: z.object({ version: z.number() }) }],
  ])("refuses %s", (_, override) => {
    const definition = {
      kind: "thing",
      state: z.object({ n: z.number() }),
      actions: (action: ActionBuilder<{ n: number }>) => ({
        noop: action({ input: z.object({}), touches: () => [], apply: () => accept() }),
      }),
    };
    expect(() => defineModel({ ...definition, ...override } as never)).toThrow(ModelDefinitionError);
  });
});

describe("planGroup with reservations (a model that declares quantities)", () => {
  /** The bank's model: `balance` is a quantity; a branch with expectedVersion must see it stable. */
  const plan = (
    list: Resource<AccountState>[],
    branches: { action: string; input: unknown }[],
    mode?: "escrow" | "exclusive",
  ) =>
    planGroup(
      bankModel,
      branches.map((b, index) => ({ index, ...b })),
      new Map(list.map((r) => [r.id, r])),
      "me",
      mode,
    );
  const account = (id: string, balance: number, extra: Partial<Resource<AccountState>> = {}) => ({
    id,
    version: 3,
    state: { balance },
    ...extra,
  });
  const reserved = (reserved: number, pending = 0) => ({ holds: { balance: { reserved, pending } } });

  it.each([
    {
      name: "a withdrawal reserves, a deposit is pending: moves, no new state, no lock",
      list: [account("a", 100), account("b", 0)],
      branches: [
        { action: "withdraw", input: { account: "a", amount: 30 } },
        { action: "deposit", input: { account: "b", amount: 30 } },
      ],
      plan: {
        vote: "yes",
        planned: [
          { id: "a", version: 3, moves: { balance: -30 } },
          { id: "b", version: 3, moves: { balance: 30 } },
        ],
      },
    },
    {
      name: "a withdrawal is judged against the balance less what others reserved",
      list: [account("a", 100, reserved(80, 50))],
      branches: [{ action: "withdraw", input: { account: "a", amount: 21 } }],
      plan: { vote: "no", reason: "insufficient_funds", failedBranch: 0 },
    },
    {
      name: "what is left after others' reservations can still be taken",
      list: [account("a", 100, reserved(80, 50))],
      branches: [{ action: "withdraw", input: { account: "a", amount: 20 } }],
      plan: { vote: "yes", planned: [{ id: "a", version: 3, moves: { balance: -20 } }] },
    },
    {
      name: "a transfer within one server reserves on the source and is pending on the target",
      list: [account("a", 10, reserved(5)), account("b", 0, reserved(0, 7))],
      branches: [{ action: "transfer", input: { account: "a", to_account: "b", amount: 5 } }],
      plan: {
        vote: "yes",
        planned: [
          { id: "a", version: 3, moves: { balance: -5 } },
          { id: "b", version: 3, moves: { balance: 5 } },
        ],
      },
    },
    {
      name: "a group's moves on one account net out: one hold for the net",
      list: [account("a", 50)],
      branches: [
        { action: "withdraw", input: { account: "a", amount: 50 } },
        { action: "deposit", input: { account: "a", amount: 20 } },
      ],
      plan: { vote: "yes", planned: [{ id: "a", version: 3, moves: { balance: -30 } }] },
    },
    {
      name: "a credit that pending credits would push past a safe integer refuses",
      list: [account("a", 1, reserved(0, Number.MAX_SAFE_INTEGER - 5))],
      branches: [{ action: "deposit", input: { account: "a", amount: 5 } }],
      plan: { vote: "no", reason: "balance_overflow", failedBranch: 0 },
    },
    {
      name: "a branch that pins a version locks: a new state at the version read",
      list: [account("a", 100)],
      branches: [{ action: "withdraw", input: { account: "a", amount: 30, expectedVersion: 3 } }],
      plan: { vote: "yes", planned: [{ id: "a", version: 3, next: { balance: 70 } }] },
    },
    {
      name: "a lock is not taken over reservations: lock_conflict, with no holder to wait for",
      list: [account("a", 100, reserved(1))],
      branches: [{ action: "deposit", input: { account: "a", amount: 30, expectedVersion: 3 } }],
      plan: { vote: "no", reason: "lock_conflict", failedBranch: 0 },
    },
    {
      name: "a reservation waits for another transaction's lock like any branch",
      list: [account("a", 100, { lockedBy: "other", lockedByStartedAt: 9 })],
      branches: [{ action: "withdraw", input: { account: "a", amount: 1 } }],
      plan: {
        vote: "no",
        reason: "lock_conflict",
        failedBranch: 0,
        holder: "other",
        holderStartedAt: 9,
        lockedResource: "a",
      },
    },
  ])("$name", ({ list, branches, plan: expected }) => {
    expect(plan(list, branches)).toEqual(expected);
  });

  it("under exclusive mode every touched account is locked, as before reservations", () => {
    expect(
      plan([account("a", 100)], [{ action: "withdraw", input: { account: "a", amount: 30 } }], "exclusive"),
    ).toEqual({ vote: "yes", planned: [{ id: "a", version: 3, next: { balance: 70 } }] });
  });

  it("a model declares only state fields as quantities", () => {
    expect(() =>
      defineModel({
        kind: "thing",
        state: counter,
        quantities: { missing: { insufficient: "x", overflow: "y" } },
        actions: (action) => ({ peek: action({ input: ids, touches: (i) => i.ids, apply: () => accept() }) }),
      }),
    ).toThrow(ModelDefinitionError);
  });
});

describe("declaredPlan: a PREPARE planned from its branches alone (the blind prepare)", () => {
  const b = (index: number, action: string, input: unknown) => ({ index, action, input });
  const w = (account: string, amount: number) => ({ account, amount });

  it("sums the moves the branches declare, per account, at version 0 (nothing read)", () => {
    expect(
      declaredPlan(bankModel, [
        b(0, "withdraw", w("a", 30)),
        b(1, "deposit", w("b", 30)),
        b(2, "withdraw", w("a", 5)),
        b(3, "transfer", { account: "c", to_account: "b", amount: 2 }),
      ]),
    ).toEqual([
      { id: "a", version: 0, moves: { balance: -35 } },
      { id: "b", version: 0, moves: { balance: 32 } },
      { id: "c", version: 0, moves: { balance: -2 } },
    ]);
  });

  it.each([
    { name: "exclusive mode", branches: [b(0, "withdraw", w("a", 1))], mode: "exclusive" as const },
    {
      name: "a branch that pins a version (it must see the account stable)",
      branches: [b(0, "withdraw", { ...w("a", 1), expectedVersion: 3 })],
    },
    { name: "input that does not parse", branches: [b(0, "withdraw", w("a", -1))] },
    { name: "an action the model does not have", branches: [b(0, "toString", w("a", 1))] },
    {
      // Judged in order, the debit may fit only after the credit: only the read can tell.
      name: "one branch debits an account another credits",
      branches: [b(0, "deposit", w("a", 20)), b(1, "withdraw", w("a", 50))],
    },
    {
      name: "credits that add up past a safe integer",
      branches: [b(0, "deposit", w("a", Number.MAX_SAFE_INTEGER)), b(1, "deposit", w("a", 1))],
    },
  ])("needs the read: $name", ({ branches, mode }) => {
    expect(declaredPlan(bankModel, branches, mode)).toBeUndefined();
  });

  it("needs the read for a model without quantities, or an action that declares nothing", () => {
    expect(declaredPlan(model, [b(0, "add", { ids: ["a"], by: 1 })])).toBeUndefined();
    expect(declaredPlan(declaring, [b(0, "peek", { id: "a", by: 1 })])).toBeUndefined();
  });

  it("needs the read where a touched resource has no move: it would be locked", () => {
    expect(declaredPlan(declaring, [b(0, "partly", { id: "a", by: 1 })])).toBeUndefined();
    expect(declaredPlan(declaring, [b(0, "nothing", { id: "a", by: 1 })])).toBeUndefined();
  });

  it("a declaration on a resource not touched, or of a field that is not a quantity, breaks the contract", () => {
    expect(() => declaredPlan(declaring, [b(0, "elsewhere", { id: "a", by: 1 })])).toThrow(
      ModelContractError,
    );
    expect(() => declaredPlan(declaring, [b(0, "label", { id: "a", by: 1 })])).toThrow(ModelContractError);
  });
});

/** Counters whose actions declare their moves, honestly or not. */
const tally = z.object({ count: z.number().int().nonnegative(), label: z.string() });
type Tally = z.infer<typeof tally>;
const one = z.strictObject({ id: z.string(), by: z.number().int() });
const declaring = defineModel({
  kind: "tally",
  state: tally,
  quantities: { count: { insufficient: "too_few", overflow: "too_many" } },
  actions: (action) => {
    const add = (i: { id: string; by: number }, r: { get(id: string): { state?: Tally } }) => {
      const state = r.get(i.id).state;
      if (!state) return refuse<Tally>("unknown");
      if (state.count + i.by < 0) return refuse<Tally>("too_few");
      return accept({ id: i.id, state: { ...state, count: state.count + i.by } });
    };
    return {
      honest: action({
        input: one,
        touches: (i) => [i.id],
        moves: (i) => ({ [i.id]: { count: i.by } }),
        apply: add,
      }),
      peek: action({ input: one, touches: (i) => [i.id], apply: add }),
      // Declares double what it moves.
      doubles: action({
        input: one,
        touches: (i) => [i.id],
        moves: (i) => ({ [i.id]: { count: 2 * i.by } }),
        apply: add,
      }),
      // Also renames the counter, which no move says.
      renames: action({
        input: one,
        touches: (i) => [i.id],
        moves: (i) => ({ [i.id]: { count: i.by } }),
        apply: (i, r) => {
          const out = add(i, r);
          return out.ok
            ? accept(...out.set.map((x) => ({ ...x, state: { ...x.state, label: "renamed" } })))
            : out;
        },
      }),
      // Refuses beyond a limit the declaration does not know.
      limited: action({
        input: one,
        touches: (i) => [i.id],
        moves: (i) => ({ [i.id]: { count: i.by } }),
        apply: (i, r) => (Math.abs(i.by) > 10 ? refuse<Tally>("over_limit") : add(i, r)),
      }),
      partly: action({
        input: one,
        touches: (i) => [i.id, "other"],
        moves: (i) => ({ [i.id]: { count: i.by } }),
        apply: add,
      }),
      nothing: action({ input: one, touches: (i) => [i.id], moves: () => ({}), apply: add }),
      elsewhere: action({
        input: one,
        touches: (i) => [i.id],
        moves: () => ({ other: { count: 1 } }),
        apply: add,
      }),
      label: action({
        input: one,
        touches: (i) => [i.id],
        moves: (i) => ({ [i.id]: { label: 1 } }),
        apply: add,
      }),
    };
  },
});

describe("planGroup holds an action to its declared moves", () => {
  const read = new Map([["a", { id: "a", version: 2, state: { count: 50, label: "x" } }]]);
  const judge = (action: string, by: number) =>
    planGroup(declaring, [{ index: 0, action, input: { id: "a", by } }], read, "me");

  it("an honest declaration plans what it declares, and refuses what does not fit", () => {
    expect(judge("honest", -20)).toEqual({
      vote: "yes",
      planned: [{ id: "a", version: 2, moves: { count: -20 } }],
    });
    expect(judge("honest", -51)).toEqual({ vote: "no", reason: "too_few", failedBranch: 0 });
  });

  it.each([
    { action: "doubles", by: 5, what: "moves other amounts than it declares" },
    { action: "renames", by: 5, what: "changes a field no move declares" },
    { action: "limited", by: 11, what: "refuses what its declared moves fit" },
  ])("ModelContractError where an action $what", ({ action, by }) => {
    expect(() => judge(action, by)).toThrow(ModelContractError);
  });
});
