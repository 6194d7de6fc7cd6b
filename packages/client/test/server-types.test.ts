/**
 * The client's types against the server's: the zod schemas that validate
 * requests (src/api) and the views the server answers with (src/core/view.ts).
 * Checked by `npm run typecheck` (tsc reads this file): a field added, removed,
 * made optional or retyped on either side fails the build.
 *
 * For each shape: the same required keys, the same optional keys, and every
 * value one side produces is accepted by the other — a request the client
 * builds passes the server's schema, a view the server sends fits the client's
 * type. The client keeps open sets (event types, reasons) as `string`.
 *
 * Once the server serves `GET /openapi.json` (generated from these same
 * schemas), the route-level check is in client.integration.test.ts ("every
 * route the client calls is in the OpenAPI document"); these field-level checks
 * can then move to types generated from that document.
 */
import { describe, expectTypeOf, it } from "vitest";
import type * as z from "zod";
import type { ErrorCode } from "../../../src/api/errors.ts";
import type { transactionRequest, transferRequest } from "../../../src/api/schemas.ts";
import type * as server from "../../../src/core/view.ts";
import type { registrationBody } from "../../../src/http-participants/registry.ts";
import type { ApiErrorCode } from "../src/errors.ts";
import type * as client from "../src/types.ts";

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;

/** A shape's required and optional keys; one level at a time, nested shapes by their own line. */
type Keys<T> = { required: RequiredKeys<T>; optional: OptionalKeys<T> };

type ServerBegin = z.input<typeof transactionRequest>;
type ServerBranch = ServerBegin["branches"][number];
type ServerTransfer = z.input<typeof transferRequest>[number];
type ServerRegistration = z.input<typeof registrationBody>;

describe("the client's types match the server's", () => {
  it("requests: what the client sends, the server's schema accepts", () => {
    expectTypeOf<Keys<client.BeginRequest>>().toEqualTypeOf<Keys<ServerBegin>>();
    expectTypeOf<client.BeginRequest>().toExtend<ServerBegin>();
    expectTypeOf<Keys<client.BranchRequest>>().toEqualTypeOf<Keys<ServerBranch>>();
    expectTypeOf<client.BranchRequest>().toExtend<ServerBranch>();
    expectTypeOf<Keys<NonNullable<client.BranchRequest["compensation"]>>>().toEqualTypeOf<
      Keys<NonNullable<ServerBranch["compensation"]>>
    >();
    expectTypeOf<Keys<client.TransferOperation>>().toEqualTypeOf<Keys<ServerTransfer>>();
    expectTypeOf<client.TransferOperation>().toExtend<ServerTransfer>();
    expectTypeOf<Keys<client.ParticipantRegistration>>().toEqualTypeOf<Keys<ServerRegistration>>();
    expectTypeOf<client.ParticipantRegistration>().toExtend<ServerRegistration>();
  });

  it("views: what the server sends, the client's type holds", () => {
    expectTypeOf<Keys<client.TransactionView>>().toEqualTypeOf<Keys<server.TransactionView>>();
    expectTypeOf<server.TransactionView>().toExtend<client.TransactionView>();
    expectTypeOf<Keys<client.BranchView>>().toEqualTypeOf<Keys<server.BranchView>>();
    expectTypeOf<server.BranchView>().toExtend<client.BranchView>();
    expectTypeOf<Keys<client.EventView>>().toEqualTypeOf<Keys<server.EventView>>();
    expectTypeOf<server.EventView>().toExtend<client.EventView>();
    expectTypeOf<client.Status>().toEqualTypeOf<server.Status>();
    expectTypeOf<client.BranchState>().toEqualTypeOf<server.BranchState>();
    expectTypeOf<client.Phase>().toEqualTypeOf<server.TransactionView["phase"]>();
  });

  it("errors: the same codes", () => {
    expectTypeOf<ApiErrorCode>().toEqualTypeOf<ErrorCode>();
  });
});
