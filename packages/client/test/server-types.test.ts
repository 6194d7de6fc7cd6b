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
 * The views are also checked against the answer schemas that `GET
 * /openapi.json` is generated from (src/api/response-schemas.ts): the same
 * required and optional keys. client.integration.test.ts checks the other half
 * on the served document: every route the client calls is there, answering
 * with the component generated from the schema compared here. Value types are
 * compared against the views above, where the server's are exact (the answer
 * schemas widen phases to strings and leave events open).
 */
import { describe, expectTypeOf, it } from "vitest";
import type * as z from "zod";
import type { ErrorCode } from "../../../src/api/errors.ts";
import type * as documented from "../../../src/api/response-schemas.ts";
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

  it("views: the same keys as the schemas the OpenAPI document is generated from", () => {
    type Doc<K extends keyof typeof documented> = (typeof documented)[K] extends z.ZodType
      ? z.output<(typeof documented)[K]>
      : never;
    expectTypeOf<Keys<client.TransactionView>>().toEqualTypeOf<Keys<Doc<"transactionView">>>();
    expectTypeOf<Keys<client.BranchView>>().toEqualTypeOf<Keys<Doc<"branchView">>>();
    expectTypeOf<Keys<client.TransactionPage>>().toEqualTypeOf<Keys<Doc<"transactionPage">>>();
    expectTypeOf<Keys<client.ParticipantView>>().toEqualTypeOf<Keys<Doc<"registeredParticipant">>>();
    expectTypeOf<Keys<client.ParticipantPage>>().toEqualTypeOf<Keys<Doc<"participantPage">>>();
    expectTypeOf<client.Status>().toEqualTypeOf<Doc<"transactionView">["status"]>();
    expectTypeOf<client.BranchState>().toEqualTypeOf<Doc<"branchView">["state"]>();
    expectTypeOf<client.ParticipantView["protocols"][number]>().toEqualTypeOf<
      Doc<"registeredParticipant">["protocols"][number]
    >();
  });

  it("errors: the same codes", () => {
    expectTypeOf<ApiErrorCode>().toEqualTypeOf<ErrorCode>();
  });
});
