/**
 * The caller check: only a request signed with the shared secret, within the
 * clock skew, for this method, path and body, runs anything. Signed here with
 * concord's own signing code (src/http-participants/signature.ts), so the two
 * sides cannot drift apart.
 */
import { describe, expect, it } from "vitest";
import { signature } from "../../../src/http-participants/signature.ts";
import { bodies, rig, T0 } from "./rig.ts";

const SECRET = "s3cret-shared-with-concord-0123456789";

const signed = (path: string, body: unknown, o: { secret?: string; at?: number } = {}) => ({
  "concord-signature": signature(o.secret ?? SECRET, "POST", path, JSON.stringify(body), o.at ?? T0),
});

describe("Concord-Signature", () => {
  it("runs a request signed by the dispatcher", async () => {
    const kit = rig({ secret: SECRET });
    const body = bodies.prepare();
    expect((await kit.send("prepare", body, signed("/concord/prepare", body))).status).toBe(200);
    expect(kit.calls).toEqual(["prepare"]);
  });

  const body = bodies.prepare();
  it.each([
    ["no signature", {}],
    ["another secret", signed("/concord/prepare", body, { secret: "another-secret-of-enough-length-000" })],
    ["signed for another path (a /rollback replayed as a /prepare)", signed("/concord/rollback", body)],
    ["signed over another body", signed("/concord/prepare", { ...body, txId: "tx-2" })],
    ["older than the skew allows", signed("/concord/prepare", body, { at: T0 - 5 * 60_000 - 1_000 })],
    ["from too far in the future", signed("/concord/prepare", body, { at: T0 + 5 * 60_000 + 1_000 })],
    ["malformed", { "concord-signature": "v1=abc" }],
  ])("answers 401 and runs nothing: %s", async (_name, headers) => {
    const kit = rig({ secret: SECRET });
    const reply = await kit.send("prepare", body, headers);
    expect(reply.status).toBe(401);
    expect(reply.body.error.code).toBe("unauthorized");
    expect(kit.calls).toEqual([]);
    expect(await kit.store.newest("2pc#loyalty#tx-1")).toBeUndefined();
  });
});
