/**
 * Design §3 and §4.6: every bad input of the HTTP contract gets the right 4xx in
 * the error shape, never a 5xx, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/api/errors.ts";
import { bankState } from "../helpers/invariants.ts";
import { eventually, type Stack, startStack } from "../helpers/stack.ts";

let stack: Stack;

/** Accounts seeded before any bad request; none of them may change until the sanity test. */
const SEEDED = [
  { server: "bank-1", account: "va", balance: 1_000 },
  { server: "bank-1", account: "vb", balance: 500 },
  { server: "bank-2", account: "vc", balance: 0 },
] as const;

beforeAll(async () => {
  stack = await startStack();
  for (const s of SEEDED) await stack.seed(s.server, s.account, s.balance);
});
afterAll(() => stack?.stop());

const MIB = 1024 * 1024;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const j = (value: unknown) => JSON.stringify(value);
const without = (obj: Record<string, unknown>, key: string) => {
  const { [key]: _, ...rest } = obj;
  return rest;
};
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Every status seen in this file, to check that no request at all got a 5xx. */
const statuses: { what: string; status: number }[] = [];

async function call(method: string, path: string, body?: string, headers?: Record<string, string>) {
  const res = await stack.request(method, path, body, headers);
  statuses.push({ what: `${method} ${path.slice(0, 80)}`, status: res.status });
  return res;
}

/** The response is `status` with exactly `{"error":{"code","message","details"?}}`. */
async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: unknown; message: unknown; details?: unknown } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(
    "details" in body.error ? ["code", "details", "message"] : ["code", "message"],
  );
  expect(body.error.code).toBe(code);
  expect(ERROR_CODES).toContain(body.error.code);
  expect(typeof body.error.message).toBe("string");
  expect((body.error.message as string).length).toBeGreaterThan(0);
  return body.error;
}

// ---------------------------------------------------------------- transfers

const withdraw = { server_id: "bank-1", account_id: "va", operation: "withdraw", amount: 10 };
const deposit = { server_id: "bank-2", account_id: "vc", operation: "deposit", amount: 10 };
const transferOp = {
  server_id: "bank-1",
  account_id: "va",
  operation: "transfer",
  amount: 10,
  to_account_id: "vb",
};
const validTransfer = [withdraw, deposit];
/** A valid pair where the first operation is replaced by `bad`. */
const pairWith = (bad: unknown) => j([bad, deposit]);

type Row = { name: string; body: string; status: number; code: string };
const bad = (name: string, body: string): Row => ({ name, body, status: 400, code: "invalid_request" });
const badJson = (name: string, body: string): Row => ({ name, body, status: 400, code: "invalid_json" });

const malformed: Row[] = [
  badJson("truncated JSON", '[{"server_id":'),
  badJson("a lone brace", "{"),
  badJson("not JSON at all", "not json"),
  badJson("a trailing comma", `[${j(withdraw)},]`),
  badJson("trailing garbage", `${j(validTransfer)} x`),
  badJson("single quotes", "[{'server_id':'bank-1'}]"),
  badJson("an empty body", ""),
  badJson("a whitespace body", "  \n "),
  badJson(
    "NaN as a bare value",
    `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":NaN}]`,
  ),
  badJson(
    "Infinity as a bare value",
    `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":Infinity}]`,
  ),
];

const transferRows: Row[] = [
  ...malformed,
  bad("JSON null", "null"),
  bad("a JSON string", '"transfer"'),
  bad("a JSON number", "42"),
  bad("JSON true", "true"),
  bad("an empty object where an array is expected", "{}"),
  bad("one operation not wrapped in an array", j(withdraw)),
  bad("an object of operations", j({ ops: validTransfer })),
  bad("no operations", "[]"),
  bad("101 operations", j(range(101).map(() => deposit))),
  bad("an operation that is a number", "[1]"),
  bad("an operation that is null", "[null]"),
  bad("an operation that is an array", j([[withdraw]])),
  bad("a nested array of operations", j([validTransfer])),
  // amounts
  bad("amount as a string", pairWith({ ...withdraw, amount: "10" })),
  bad("amount 1.5", pairWith({ ...withdraw, amount: 1.5 })),
  bad("amount 0", pairWith({ ...withdraw, amount: 0 })),
  bad("amount -0", `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":-0}]`),
  bad("a negative amount", pairWith({ ...withdraw, amount: -5 })),
  bad("amount MAX_SAFE_INTEGER + 1", pairWith({ ...withdraw, amount: MAX_SAFE + 1 })),
  bad(
    "amount 9007199254740993",
    `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":9007199254740993}]`,
  ),
  bad(
    "amount 1e400 (Infinity)",
    `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":1e400}]`,
  ),
  bad("amount 1e20", pairWith({ ...withdraw, amount: 1e20 })),
  bad('amount "NaN"', pairWith({ ...withdraw, amount: "NaN" })),
  bad('amount "Infinity"', pairWith({ ...withdraw, amount: "Infinity" })),
  bad("amount null", pairWith({ ...withdraw, amount: null })),
  bad("amount true", pairWith({ ...withdraw, amount: true })),
  bad("amount false", pairWith({ ...withdraw, amount: false })),
  bad("amount as an array", pairWith({ ...withdraw, amount: [10] })),
  bad("amount as an object", pairWith({ ...withdraw, amount: { value: 10 } })),
  // missing fields
  ...["server_id", "account_id", "operation", "amount"].map((f) =>
    bad(`no ${f}`, pairWith(without(withdraw, f))),
  ),
  bad("an empty operation object", "[{}]"),
  // operations
  bad("an unknown operation", pairWith({ ...withdraw, operation: "steal" })),
  bad("an operation in the wrong case", pairWith({ ...withdraw, operation: "Withdraw" })),
  bad("an empty operation", pairWith({ ...withdraw, operation: "" })),
  bad("operation as a number", pairWith({ ...withdraw, operation: 1 })),
  // servers
  bad("an unknown server_id", pairWith({ ...withdraw, server_id: "bank-9" })),
  bad("a server_id in the wrong case", pairWith({ ...withdraw, server_id: "BANK-1" })),
  bad("an empty server_id", pairWith({ ...withdraw, server_id: "" })),
  bad("server_id as a number", pairWith({ ...withdraw, server_id: 1 })),
  bad("server_id __proto__", pairWith({ ...withdraw, server_id: "__proto__" })),
  // to_account_id
  bad("a transfer without to_account_id", j([without(transferOp, "to_account_id")])),
  bad("to_account_id on a deposit", j([{ ...deposit, to_account_id: "va" }])),
  bad("to_account_id on a withdraw", j([{ ...withdraw, to_account_id: "vb" }])),
  bad("to_account_id equal to account_id", j([{ ...transferOp, to_account_id: "va" }])),
  bad("an invalid to_account_id", j([{ ...transferOp, to_account_id: "v#b" }])),
  bad("an empty to_account_id", j([{ ...transferOp, to_account_id: "" }])),
  bad("to_account_id null", j([{ ...transferOp, to_account_id: null }])),
  // account ids
  bad("an empty account_id", pairWith({ ...withdraw, account_id: "" })),
  bad("a 129-character account_id", pairWith({ ...withdraw, account_id: "a".repeat(129) })),
  bad("an account_id with #", pairWith({ ...withdraw, account_id: "v#a" })),
  bad("an account_id with /", pairWith({ ...withdraw, account_id: "v/a" })),
  bad("an account_id with a space", pairWith({ ...withdraw, account_id: "v a" })),
  bad("an account_id with a non-ASCII letter", pairWith({ ...withdraw, account_id: "vä" })),
  bad("account_id as a number", pairWith({ ...withdraw, account_id: 7 })),
  // strictness
  bad("an extra field", pairWith({ ...withdraw, memo: "rent" })),
  bad(
    "an extra __proto__ field",
    `[{"server_id":"bank-1","account_id":"va","operation":"withdraw","amount":10,"__proto__":{"x":1}}]`,
  ),
  bad("an expectedVersion field (not in the bank shape)", pairWith({ ...withdraw, expectedVersion: 1 })),
  bad("a valid operation then a bad one", j([withdraw, { ...deposit, amount: -10 }])),
  // limits
  bad(
    "100 distinct accounts on one server",
    j(
      range(100).map((i) => ({
        server_id: "bank-1",
        account_id: `acct-${i}`,
        operation: "deposit",
        amount: 1,
      })),
    ),
  ),
  bad(
    "50 transfers touching 100 accounts on one server",
    j(
      range(50).map((i) => ({
        server_id: "bank-2",
        account_id: `from-${i}`,
        operation: "transfer",
        amount: 1,
        to_account_id: `to-${i}`,
      })),
    ),
  ),
  {
    name: "branches over their 200 KiB budget in a body under 1 MiB",
    body: j(range(100).map(() => ({ ...withdraw, server_id: `bank-${"9".repeat(3_000)}` }))),
    status: 413,
    code: "payload_too_large",
  },
];

const validTransaction = {
  protocol: "2pc",
  branches: [
    { participant: "bank-1", action: "withdraw", input: { account: "va", amount: 10 } },
    { participant: "bank-2", action: "deposit", input: { account: "vc", amount: 10 } },
  ],
};
const branch0 = validTransaction.branches[0] as (typeof validTransaction.branches)[number];
const branch1 = validTransaction.branches[1] as (typeof validTransaction.branches)[number];
/** The valid transaction with its first branch replaced by `b`. */
const txWith = (b: unknown) => j({ ...validTransaction, branches: [b, branch1] });
const txPlus = (fields: Record<string, unknown>) => j({ ...validTransaction, ...fields });

/** bank-1 withdraws (undone by a deposit), then bank-2 deposits (undone by a withdraw). */
const validSaga = {
  protocol: "saga",
  branches: [
    { ...branch0, compensation: { action: "deposit", input: { account: "va", amount: 10 } } },
    { ...branch1, compensation: { action: "withdraw", input: { account: "vc", amount: 10 } } },
  ],
};
const saga0 = validSaga.branches[0] as (typeof validSaga.branches)[number];
const saga1 = validSaga.branches[1] as (typeof validSaga.branches)[number];
/** The valid saga with its first branch replaced by `b`. */
const sagaWith = (b: unknown) => j({ ...validSaga, branches: [b, saga1] });
const sagaPlus = (fields: Record<string, unknown>) => j({ ...validSaga, ...fields });

const transactionRows: Row[] = [
  ...malformed.map((r) => ({ ...r, body: r.body.replace(/^\[/, '{"protocol":"2pc","branches":[') })),
  badJson("truncated JSON object", '{"protocol":"2pc","branches":['),
  bad("JSON null", "null"),
  bad("a JSON string", '"2pc"'),
  bad("a JSON number", "1"),
  bad("JSON false", "false"),
  bad("an empty array where an object is expected", "[]"),
  bad("the transaction wrapped in an array", j([validTransaction])),
  bad("the transfer shape sent here", j(validTransfer)),
  bad("an empty object", "{}"),
  // protocol
  bad("no protocol", j(without(validTransaction, "protocol"))),
  bad('protocol "3pc"', txPlus({ protocol: "3pc" })),
  bad('protocol "2PC"', txPlus({ protocol: "2PC" })),
  bad("an empty protocol", txPlus({ protocol: "" })),
  bad("protocol as a number", txPlus({ protocol: 2 })),
  bad("protocol null", txPlus({ protocol: null })),
  // branches
  bad("no branches", j(without(validTransaction, "branches"))),
  bad("0 branches", txPlus({ branches: [] })),
  bad("101 branches", txPlus({ branches: range(101).map(() => branch1) })),
  bad("branches as an object", txPlus({ branches: { 0: branch0 } })),
  bad("branches as a string", txPlus({ branches: "bank-1" })),
  bad("branches null", txPlus({ branches: null })),
  bad("a branch that is a string", txWith("bank-1")),
  bad("a branch that is null", txWith(null)),
  bad("a branch that is an array", txWith([branch0])),
  bad("a branch without participant", txWith(without(branch0, "participant"))),
  bad("a branch without action", txWith(without(branch0, "action"))),
  bad("a branch without input", txWith(without(branch0, "input"))),
  bad("an empty participant", txWith({ ...branch0, participant: "" })),
  bad("an empty action", txWith({ ...branch0, action: "" })),
  bad("participant as a number", txWith({ ...branch0, participant: 1 })),
  bad("action as a number", txWith({ ...branch0, action: 1 })),
  bad("an unknown participant", txWith({ ...branch0, participant: "bank-99" })),
  bad("participant __proto__", txWith({ ...branch0, participant: "__proto__" })),
  bad("an unknown action for a known participant", txWith({ ...branch0, action: "steal" })),
  bad("action toString (inherited, not an action)", txWith({ ...branch0, action: "toString" })),
  bad("action constructor", txWith({ ...branch0, action: "constructor" })),
  bad("action __proto__", txWith({ ...branch0, action: "__proto__" })),
  bad("an extra branch field", txWith({ ...branch0, note: "x" })),
  bad("a negative stage", txWith({ ...branch0, stage: -1 })),
  bad("a fractional stage", txWith({ ...branch0, stage: 0.5 })),
  bad(
    "a compensation with an extra field",
    txWith({ ...branch0, compensation: { action: "deposit", input: {}, x: 1 } }),
  ),
  bad("a compensation without action", txWith({ ...branch0, compensation: { input: {} } })),
  // 2PC takes none of the saga's fields
  bad("a 2PC branch with a compensation", txWith(saga0)),
  bad("a 2PC branch with a stage", txWith({ ...branch0, stage: 0 })),
  bad("a 2PC transaction with atomicStages", txPlus({ atomicStages: [0] })),
  // saga
  bad('protocol "SAGA"', sagaPlus({ protocol: "SAGA" })),
  bad("a saga branch without a compensation", sagaWith(branch0)),
  bad("a saga with a stage on some branches only", sagaWith({ ...saga0, stage: 0 })),
  bad(
    "a saga compensation with an unknown action",
    sagaWith({ ...saga0, compensation: { action: "steal", input: {} } }),
  ),
  bad(
    "a saga compensation with a bad input",
    sagaWith({ ...saga0, compensation: { action: "deposit", input: { account: "va", amount: 0 } } }),
  ),
  bad("a saga compensation as a string", sagaWith({ ...saga0, compensation: "deposit" })),
  bad("atomicStages naming no stage", sagaPlus({ atomicStages: [7] })),
  bad("atomicStages listing a stage twice", sagaPlus({ atomicStages: [1, 1] })),
  bad("atomicStages as a number", sagaPlus({ atomicStages: 0 })),
  bad("atomicStages with a negative stage", sagaPlus({ atomicStages: [-1] })),
  bad("atomicStages with a fractional stage", sagaPlus({ atomicStages: [0.5] })),
  bad(
    "a participant in two atomic stages",
    sagaPlus({
      branches: [
        { ...saga0, stage: 0 },
        { ...saga1, stage: 1 },
        { ...saga0, stage: 1 },
      ],
      atomicStages: [0, 1],
    }),
  ),
  // inputs (checked against the participant's action)
  bad("input null", txWith({ ...branch0, input: null })),
  bad("input as an array", txWith({ ...branch0, input: [{ account: "va", amount: 10 }] })),
  bad("input amount as a string", txWith({ ...branch0, input: { account: "va", amount: "10" } })),
  bad("input amount 0", txWith({ ...branch0, input: { account: "va", amount: 0 } })),
  bad("input amount 1.5", txWith({ ...branch0, input: { account: "va", amount: 1.5 } })),
  bad(
    "input amount above MAX_SAFE_INTEGER",
    txWith({ ...branch0, input: { account: "va", amount: MAX_SAFE + 1 } }),
  ),
  bad("input without account", txWith({ ...branch0, input: { amount: 10 } })),
  bad("input with an invalid account", txWith({ ...branch0, input: { account: "v/a", amount: 10 } })),
  bad("input with an extra field", txWith({ ...branch0, input: { account: "va", amount: 10, memo: "x" } })),
  bad(
    "input with a negative expectedVersion",
    txWith({ ...branch0, input: { account: "va", amount: 10, expectedVersion: -1 } }),
  ),
  bad(
    "a transfer to the same account",
    txWith({
      participant: "bank-1",
      action: "transfer",
      input: { account: "va", to_account: "va", amount: 1 },
    }),
  ),
  bad(
    "a transfer without to_account",
    txWith({ participant: "bank-1", action: "transfer", input: { account: "va", amount: 1 } }),
  ),
  bad(
    "a deposit given to_account",
    txWith({
      participant: "bank-1",
      action: "deposit",
      input: { account: "va", to_account: "vb", amount: 1 },
    }),
  ),
  // top level
  bad("an extra top-level field", txPlus({ priority: "high" })),
  bad("an extra __proto__ field", `{"__proto__":{"x":1},${j(validTransaction).slice(1)}`),
  bad("timeoutMs 0", txPlus({ timeoutMs: 0 })),
  bad("a negative timeoutMs", txPlus({ timeoutMs: -1_000 })),
  bad("a fractional timeoutMs", txPlus({ timeoutMs: 1_000.5 })),
  bad("timeoutMs as a string", txPlus({ timeoutMs: "1000" })),
  bad("timeoutMs null", txPlus({ timeoutMs: null })),
  bad("timeoutMs above the maximum", txPlus({ timeoutMs: 24 * 3_600_000 + 1 })),
  bad("timeoutMs 1e20", txPlus({ timeoutMs: 1e20 })),
  bad("an empty id", txPlus({ id: "" })),
  bad("an id with a space", txPlus({ id: "my tx" })),
  bad("an id with /", txPlus({ id: "a/b" })),
  bad("an id with #", txPlus({ id: "a#b" })),
  bad("a 129-character id", txPlus({ id: "i".repeat(129) })),
  bad("an id that is a number", txPlus({ id: 42 })),
  bad("an id that is null", txPlus({ id: null })),
  bad(
    "100 distinct accounts on one server",
    txPlus({
      branches: range(100).map((i) => ({
        participant: "bank-3",
        action: "deposit",
        input: { account: `acct-${i}`, amount: 1 },
      })),
    }),
  ),
  {
    name: "branches over their 200 KiB budget in a body under 1 MiB",
    body: txPlus({
      branches: range(100).map(() => ({
        ...branch0,
        input: { account: "va", amount: 1, pad: "p".repeat(3_000) },
      })),
    }),
    status: 413,
    code: "payload_too_large",
  },
  {
    // 165 KB of JSON, 220 KB as DynamoDB counts it (a list costs 4 bytes an element here).
    name: "branches under their budget as JSON but over it as stored",
    body: txPlus({
      branches: [{ ...branch0, input: { account: "va", amount: 1, pad: range(55_000).map(() => []) } }],
    }),
    status: 413,
    code: "payload_too_large",
  },
  {
    // Small enough for the body limit, too deep for JSON.stringify: must not become a 500.
    name: "an input nested 300000 levels deep",
    body: `{"protocol":"2pc","branches":[{"participant":"bank-1","action":"deposit","input":${"[".repeat(300_000)}${"]".repeat(300_000)}}]}`,
    status: 413,
    code: "payload_too_large",
  },
];

/** A body just over 1 MiB, as a client would really send it. */
const overOneMiB = j(["x".repeat(MIB)]);

describe("POST /v1/transfers: bad bodies", () => {
  it.each(transferRows)("$name → $status $code", async ({ body, status, code }) => {
    expect(body.length).toBeLessThan(MIB);
    await expectError(await call("POST", "/v1/transfers?wait=2000", body), status, code);
  });

  it("lists every problem of a body in the details", async () => {
    const error = await expectError(
      await call(
        "POST",
        "/v1/transfers",
        j([
          { ...withdraw, amount: "1" },
          { ...deposit, operation: "x" },
        ]),
      ),
      400,
      "invalid_request",
    );
    expect(error.details).toEqual(
      expect.arrayContaining([
        { path: "0.amount", message: expect.any(String) },
        { path: "1.operation", message: expect.any(String) },
      ]),
    );
  });
});

describe("POST /v1/transfers: errors name the caller's fields", () => {
  /** The details of a 400 for `body`, after checking no path or message names the internal form. */
  async function details(body: unknown) {
    const error = await expectError(await call("POST", "/v1/transfers", j(body)), 400, "invalid_request");
    expect(error.message).not.toMatch(/branches/);
    const list = error.details as { path: string; message: string }[];
    for (const d of list) expect(d.path).not.toMatch(/branches|participant|input|action/);
    return list;
  }

  it("an unknown server is 0.server_id", async () => {
    expect(await details([{ ...withdraw, server_id: "bank-9" }, deposit])).toEqual([
      { path: "0.server_id", message: 'unknown participant "bank-9"' },
    ]);
  });

  it("an operation the named participant has not is 1.operation", async () => {
    expect(await details([withdraw, { ...deposit, server_id: "inventory" }])).toEqual([
      { path: "1.operation", message: expect.stringContaining('"inventory" has no action "deposit"') },
    ]);
  });

  it("too many accounts on one server is the whole body's problem", async () => {
    const many = range(50).map((i) => ({ ...transferOp, account_id: `m-${i}`, to_account_id: `n-${i}` }));
    expect(await details(many)).toEqual([
      { path: "", message: expect.stringContaining("bank-1: touches 100") },
    ]);
  });
});

describe("POST /v1/transactions: bad bodies", () => {
  it.each(transactionRows)("$name → $status $code", async ({ body, status, code }) => {
    expect(body.length).toBeLessThan(MIB);
    await expectError(await call("POST", "/v1/transactions?wait=2000", body), status, code);
  });

  it("lists every bad branch in the details", async () => {
    const error = await expectError(
      await call(
        "POST",
        "/v1/transactions",
        txPlus({
          branches: [
            { ...branch0, participant: "nobody" },
            { ...branch1, action: "steal" },
            { ...branch1, input: { account: "vc", amount: -1 } },
          ],
        }),
      ),
      400,
      "invalid_request",
    );
    const paths = (error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["branches.0.participant", "branches.1.action", "branches.2.input.amount"]),
    );
  });
});

describe("POST /v1/transactions: branches too large", () => {
  it("the 413 names the limit and the size, in the message and the details", async () => {
    const pad = "p".repeat(3_000);
    const body = txPlus({
      branches: range(100).map(() => ({ ...branch0, input: { ...branch0.input, pad } })),
    });
    const error = await expectError(await call("POST", "/v1/transactions", body), 413, "payload_too_large");
    const { limit, size } = error.details as { limit: number; size: number };
    expect(limit).toBe(200 * 1024);
    expect(size).toBeGreaterThan(limit);
    expect(error.message).toContain(`at most ${limit} bytes`);
    expect(error.message).toContain(`take ${size} bytes`);
  });
});

describe("POST /v1/transactions: bad sagas", () => {
  it("names the compensation's problems by path, with the action's", async () => {
    const error = await expectError(
      await call(
        "POST",
        "/v1/transactions",
        sagaPlus({
          branches: [
            { ...saga0, compensation: { action: "deposit", input: { account: "va", amount: "10" } } },
            { ...saga1, compensation: { action: "steal", input: {} } },
            { ...saga1, input: { account: "vc", amount: -1 } },
          ],
        }),
      ),
      400,
      "invalid_request",
    );
    const paths = (error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "branches.0.compensation.input.amount",
        "branches.1.compensation.action",
        "branches.2.input.amount",
      ]),
    );
  });

  it("refuses a compensation that pins expectedVersion, naming its path and why", async () => {
    // The action changes the account's version before the compensation can run:
    // pinned to the version before, the compensation could never apply.
    const pinned = { account: "vc", amount: 10, expectedVersion: 1 };
    const error = await expectError(
      await call(
        "POST",
        "/v1/transactions",
        sagaPlus({
          branches: [saga0, saga1, { ...saga1, compensation: { action: "withdraw", input: pinned } }],
        }),
      ),
      400,
      "invalid_request",
    );
    const details = error.details as { path: string; message: string }[];
    expect(details).toEqual([
      {
        path: "branches.2.compensation.input.expectedVersion",
        message: expect.stringMatching(/never apply/),
      },
    ]);
  });

  it("names every branch without a compensation and the atomic stage that does not exist", async () => {
    const error = await expectError(
      await call(
        "POST",
        "/v1/transactions",
        j({ protocol: "saga", branches: [branch0, branch1], atomicStages: [3] }),
      ),
      400,
      "invalid_request",
    );
    const paths = (error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["branches.0.compensation", "branches.1.compensation", "atomicStages.0"]),
    );
  });
});

describe("?wait=, Idempotency-Key and body size", () => {
  const endpoints = [
    { endpoint: "/v1/transfers", body: j(validTransfer) },
    { endpoint: "/v1/transactions", body: j(validTransaction) },
  ];
  const waits = [
    "-1",
    "30001",
    "abc",
    "1.5",
    "",
    "%20",
    "NaN",
    "Infinity",
    "1e5",
    "0x7FFFFFFF",
    "0x10",
    "1e3",
    "%205",
    "%ZZ",
  ];

  it.each(endpoints.flatMap((e) => waits.map((wait) => ({ ...e, wait }))))(
    "$endpoint?wait=$wait → 400",
    async ({ endpoint, body, wait }) => {
      await expectError(await call("POST", `${endpoint}?wait=${wait}`, body), 400, "invalid_request");
    },
  );

  const keys = ["", "has space", "a/b", "a#b", "k".repeat(129), "naïve"];
  it.each(endpoints.flatMap((e) => keys.map((key) => ({ ...e, key }))))(
    '$endpoint with Idempotency-Key "$key" → 400',
    async ({ endpoint, body, key }) => {
      await expectError(
        await call("POST", endpoint, body, { "Idempotency-Key": key }),
        400,
        "invalid_request",
      );
    },
  );

  it("an Idempotency-Key that differs from the body's id → 400", async () => {
    const res = await call("POST", "/v1/transactions", txPlus({ id: "body-id" }), {
      "Idempotency-Key": "header-id",
    });
    await expectError(res, 400, "invalid_request");
  });

  it.each([
    ...endpoints.map((e) => ({ method: "POST", path: e.endpoint })),
    { method: "PUT", path: "/v1/bank/bank-1/accounts/va" },
  ])("$method $path with a body over 1 MiB → 413", async ({ method, path }) => {
    expect(overOneMiB.length).toBeGreaterThan(MIB);
    await expectError(await call(method, path, overOneMiB), 413, "payload_too_large");
  });

  it("a Content-Length that declares more than 1 MiB → 413", async () => {
    const res = await call("POST", "/v1/transfers", overOneMiB, {
      "content-length": String(Buffer.byteLength(overOneMiB)),
    });
    await expectError(res, 413, "payload_too_large");
  });
});

describe("bank accounts: bad input", () => {
  const put = "/v1/bank/bank-1/accounts/va";
  it.each([
    badJson("malformed JSON", '{"balance":'),
    badJson("an empty body", ""),
    bad("a negative balance", j({ balance: -1 })),
    bad("a fractional balance", j({ balance: 1.5 })),
    bad("a balance as a string", j({ balance: "100" })),
    bad("a null balance", j({ balance: null })),
    bad("a boolean balance", j({ balance: true })),
    bad("a balance above MAX_SAFE_INTEGER", j({ balance: MAX_SAFE + 1 })),
    bad("balance 1e400 (Infinity)", '{"balance":1e400}'),
    bad("no balance", "{}"),
    bad("an extra field", j({ balance: 5, currency: "EUR" })),
    bad("an array", j([{ balance: 5 }])),
    bad("JSON null", "null"),
    bad("a bare number", "5"),
  ])(`PUT ${put}: $name → $status $code`, async ({ body, status, code }) => {
    await expectError(await call("PUT", put, body), status, code);
  });

  it.each([
    { method: "PUT", path: "/v1/bank/bank-9/accounts/va", what: "an unknown server" },
    { method: "PUT", path: "/v1/bank/BANK-1/accounts/va", what: "a server in the wrong case" },
    { method: "GET", path: "/v1/bank/bank-1/accounts/nobody", what: "an unknown account" },
    { method: "GET", path: "/v1/bank/bank-2/accounts/va", what: "an account of another server" },
    { method: "GET", path: "/v1/bank/bank-9/accounts/va", what: "an unknown server" },
    { method: "GET", path: "/v1/bank/bank-1/accounts/a%23b", what: "an account with #" },
    { method: "GET", path: "/v1/bank/bank-1/accounts/%ZZ", what: "a malformed escape" },
  ])("$method $path ($what) → 404", async ({ method, path }) => {
    const body = method === "PUT" ? j({ balance: 7 }) : undefined;
    await expectError(await call(method, path, body), 404, "not_found");
  });
});

describe("creating with an id that breaks the id rule", () => {
  it.each([
    { path: "/v1/bank/bank-1/accounts/a%23b", what: "an account with #" },
    { path: "/v1/bank/bank-1/accounts/a%2Fb", what: "an account with /" },
    { path: "/v1/bank/bank-1/accounts/a%20b", what: "an account with a space" },
    { path: `/v1/bank/bank-1/accounts/${"a".repeat(129)}`, what: "a 129-character account" },
    { path: "/v1/inventory/bad%20id", what: "a SKU with a space" },
    { path: "/v1/payment/customers/a%23b", what: "a customer with #" },
  ])("PUT $path ($what) → 400 stating the rule", async ({ path }) => {
    const body = path.includes("inventory") ? j({ stock: 1 }) : j({ balance: 7 });
    const error = await expectError(await call("PUT", path, body), 400, "invalid_request");
    expect(error.message).toMatch(/ids are 1-128 characters of A-Z a-z 0-9 _ \. : -/);
  });
});

describe("unknown transactions and routes", () => {
  it.each([
    "/v1/transactions/no-such-tx",
    "/v1/transactions/a%20b",
    "/v1/transactions/a%23b",
    "/v1/transactions/a%2Fb",
    "/v1/transactions/%3Cscript%3E",
    `/v1/transactions/${"t".repeat(129)}`,
    "/v1/transactions/%ZZ",
    "/v1/transactions/%E0%A4%A",
  ])("GET %s → 404", async (path) => {
    await expectError(await call("GET", path), 404, "not_found");
  });

  it.each([
    ["GET", "/"],
    ["GET", "/v1"],
    ["GET", "/v1/nothing"],
    ["POST", "/v1/nothing"],
    ["DELETE", "/v1/transactions/x"],
    ["PUT", "/v1/transactions/x"],
    ["GET", "/v1/transfers"],
    ["DELETE", "/v1/bank/bank-1/accounts/va"],
    ["POST", "/v1/bank/bank-1/accounts/va"],
    ["GET", "/v1/bank/bank-1/accounts"],
    ["GET", "/healthz"],
  ])("%s %s → 404", async (method, path) => {
    await expectError(await call(method, path, method === "GET" ? undefined : "{}"), 404, "not_found");
  });
});

describe("after all the bad input", () => {
  it("no request got a 5xx", () => {
    expect(statuses.length).toBeGreaterThan(200);
    expect(statuses.filter((s) => s.status >= 500)).toEqual([]);
  });

  it("nothing changed: no transaction, no barrier, no new account, no lock, same balances", async () => {
    expect(await stack.scan("transactions")).toEqual([]);
    const items = await stack.scan("bank");
    expect(items.filter((i) => i.kind !== "account")).toEqual([]);
    expect(items).toHaveLength(SEEDED.length);
    const state = await bankState(stack);
    expect(state.locked).toEqual([]);
    expect(state.prepared).toEqual([]);
    for (const s of SEEDED) {
      const account = await stack.account(s.server, s.account);
      expect(account).toEqual({
        server: s.server,
        account: s.account,
        balance: s.balance,
        reserved: 0,
        pending: 0,
        version: 1,
      });
    }
  });

  it("a valid transfer still commits (the bad requests did not fail for some other reason)", async () => {
    const view = await stack.transfer([
      { ...transferOp, amount: 100 },
      { ...withdraw, amount: 50 },
      { ...deposit, amount: 50 },
    ]);
    expect(view.status).toBe("committed");
    // Applied everywhere once complete (the last voter with the decision, the other on its COMMIT).
    await eventually(async () => ((await stack.client.get(view.id)).completedAt ? true : undefined));
    expect((await stack.account("bank-2", "vc")).balance).toBe(50);
    expect(await stack.account("bank-1", "va")).toMatchObject({ balance: 850, version: 2 });
    expect(await stack.account("bank-1", "vb")).toMatchObject({ balance: 600, version: 2 });
    const res = await call("GET", `/v1/transactions/${view.id}`);
    expect(res.status).toBe(200);
    expect(await stack.scan("transactions")).toHaveLength(1);
  });
});
