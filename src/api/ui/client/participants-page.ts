/** The participants: the built-in ones and the registered HTTP participants. */
import type { BuiltInParticipantsView, RegisteredParticipantView, SessionView } from "../contract.ts";
import { el, show, time } from "./dom.ts";
import { api, failed, problem } from "./session.ts";

export function participantsPage(session: SessionView): void {
  const builtIn = el("tbody", { id: "built-in" });
  const registered = el("tbody", { id: "registered" });
  const registeredNote = el("p", { class: "note", id: "registered-note" });
  const more = el("button", { type: "button", id: "more-participants", hidden: true }, "More");
  show(
    el("h2", {}, "Built-in participants"),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Kind"), el("th", {}, "Actions"))),
      builtIn,
    ),
    el("h2", {}, "Registered HTTP participants"),
    el(
      "table",
      {},
      el(
        "thead",
        {},
        el("tr", {}, ...["Name", "Base URL", "Protocols", "Registered"].map((h) => el("th", {}, h))),
      ),
      registered,
    ),
    registeredNote,
    more,
  );

  api<BuiltInParticipantsView>("GET", "/ui/api/participants").then(
    (answer) => {
      if (answer.status !== 200) {
        builtIn.replaceChildren(el("tr", {}, el("td", { colspan: "3" }, problem(answer))));
        return;
      }
      builtIn.replaceChildren(
        ...answer.body.participants.map((p) =>
          el("tr", {}, el("td", {}, p.name), el("td", {}, p.kind), el("td", {}, p.actions.join(", "))),
        ),
      );
    },
    (err) => failed(err),
  );

  if (session.role !== "admin") {
    registeredNote.textContent = "Listing registered participants needs an admin key.";
    return;
  }
  let cursor: string | undefined;
  const load = async () => {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor !== undefined) query.set("cursor", cursor);
    try {
      const answer = await api<{ participants: RegisteredParticipantView[]; nextCursor?: string }>(
        "GET",
        `/v1/participants?${query}`,
      );
      if (answer.status !== 200) {
        registeredNote.textContent = problem(answer);
        return;
      }
      registered.append(
        ...answer.body.participants.map((p) =>
          el(
            "tr",
            {},
            el("td", {}, p.name),
            el("td", { class: "url" }, p.baseUrl),
            el("td", {}, p.protocols.join(", ")),
            el("td", {}, time(p.createdAt)),
          ),
        ),
      );
      cursor = answer.body.nextCursor;
      more.hidden = cursor === undefined;
      if (registered.childElementCount === 0) registeredNote.textContent = "None registered.";
    } catch (err) {
      failed(err);
    }
  };
  more.addEventListener("click", () => void load());
  void load();
}
