/**
 * The participants: the built-in ones and the registered HTTP participants,
 * with their health as `GET /metrics` (admin) tells it, re-read every few
 * seconds. A built-in participant's health is what may need an operator now:
 * its prepared barriers in doubt and its dead-letter queue's depth. An HTTP
 * participant's is how its calls went (ok, refused, failed, counted by the
 * dispatcher since its process started): it needs attention while its failed
 * count grew within the last minute (in the page's first minute: at all since
 * the process started), and is ok again a minute after the failures stop. Their
 * messages that failed for good share the dispatcher's dead-letter queue, shown once.
 */
import type { BuiltInParticipantsView, SessionView } from "../contract.ts";
import { el, show, time } from "./dom.ts";
import { parsePrometheus, type Sample, total } from "./prometheus-text.ts";
import { recentFailures } from "./recent-failures.ts";
import { api, concord, failed, live, problem, refused } from "./session.ts";

export function participantsPage(session: SessionView): void {
  const builtIn = el("tbody", { id: "built-in" });
  const registered = el("tbody", { id: "registered" });
  const registeredNote = el("p", { class: "note", id: "registered-note" });
  const healthNote = el("p", { class: "note", id: "health-note" });
  const httpDeadLetters = el("p", { class: "note", id: "http-dead-letters" });
  const more = el("button", { type: "button", id: "more-participants", hidden: true }, "More");
  show(
    el("h2", {}, "Built-in participants"),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ...["Name", "Kind", "Actions", "Health"].map((h) => el("th", {}, h)))),
      builtIn,
    ),
    healthNote,
    el("h2", {}, "Registered HTTP participants"),
    el(
      "table",
      {},
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Name", "Base URL", "Protocols", "Registered", "Health"].map((h) => el("th", {}, h)),
        ),
      ),
      registered,
    ),
    registeredNote,
    httpDeadLetters,
    more,
  );

  /** Health cells by participant name, filled on each read of the metrics. */
  const builtInHealth = new Map<string, { cell: HTMLElement; deadLetterQueue: string }>();
  const httpHealth = new Map<string, HTMLElement>();
  let httpDeadLetterQueue: string | undefined;

  const builtInLoaded = api<BuiltInParticipantsView>("GET", "/ui/api/participants").then(
    (answer) => {
      if (answer.status !== 200) {
        builtIn.replaceChildren(el("tr", {}, el("td", { colspan: "4" }, problem(answer))));
        return;
      }
      httpDeadLetterQueue = answer.body.httpDeadLetterQueue;
      builtIn.replaceChildren(
        ...answer.body.participants.map((p) => {
          const cell = el("td", { class: "health", "data-participant": p.name }, "–");
          builtInHealth.set(p.name, { cell, deadLetterQueue: p.deadLetterQueue });
          return el(
            "tr",
            {},
            el("td", {}, p.name),
            el("td", {}, p.kind),
            el("td", {}, p.actions.join(", ")),
            cell,
          );
        }),
      );
    },
    (err) => failed(err),
  );

  if (session.role !== "admin") {
    registeredNote.textContent = "Listing registered participants needs an admin key.";
    healthNote.textContent = "Health comes from the metrics, which need an admin key.";
    return;
  }
  let cursor: string | undefined;
  const load = async () => {
    try {
      const page = await concord().participantPage({
        limit: 100,
        ...(cursor !== undefined ? { cursor } : {}),
      });
      registered.append(
        ...page.participants.map((p) => {
          const cell = el("td", { class: "health", "data-participant": p.name }, "–");
          httpHealth.set(p.name, cell);
          return el(
            "tr",
            {},
            el("td", {}, p.name),
            el("td", { class: "url" }, p.baseUrl),
            el("td", {}, p.protocols.join(", ")),
            el("td", {}, time(p.createdAt)),
            cell,
          );
        }),
      );
      cursor = page.nextCursor;
      more.hidden = cursor === undefined;
      if (registered.childElementCount === 0) registeredNote.textContent = "None registered.";
    } catch (err) {
      refused(err, (text) => (registeredNote.textContent = text));
    }
  };
  more.addEventListener("click", () => void load());
  const registeredLoaded = load();

  const lately = recentFailures(RECENT_MS);
  live(async () => {
    await Promise.all([builtInLoaded, registeredLoaded]);
    try {
      const answer = await api<string>("GET", "/metrics");
      if (answer.status === 404) {
        healthNote.textContent = `Health is not shown here: ${problem(answer)}.`;
        return false;
      }
      if (answer.status !== 200 || typeof answer.body !== "string") {
        healthNote.textContent = problem(answer);
        return true;
      }
      fillHealth(parsePrometheus(answer.body));
      return true;
    } catch (err) {
      failed(err);
      return false;
    }
  });

  function fillHealth(s: readonly Sample[]): void {
    healthNote.textContent =
      "Health: prepared barriers in doubt and messages in the participant's dead-letter queue, as of now; HTTP calls counted since the process started, needing attention while calls failed in the last minute.";
    for (const [participant, { cell, deadLetterQueue }] of builtInHealth) {
      const inDoubt = total(s, "concord_in_doubt", { participant });
      const deadLetters = total(s, "concord_dead_letters", { queue: deadLetterQueue });
      verdict(cell, inDoubt + deadLetters === 0, `in doubt ${inDoubt} · dead letters ${deadLetters}`);
    }
    const failedNow = new Map(
      [...httpHealth.keys()].map((p) => [
        p,
        total(s, "concord_http_calls_total", { participant: p, outcome: "failed" }),
      ]),
    );
    const recentByParticipant = lately(Date.now(), failedNow);
    for (const [participant, cell] of httpHealth) {
      const [ok, refused, failures] = ["ok", "refused", "failed"].map((outcome) =>
        total(s, "concord_http_calls_total", { participant, outcome }),
      ) as [number, number, number];
      const recent = recentByParticipant.get(participant) ?? 0;
      verdict(
        cell,
        recent === 0,
        ok + refused + failures === 0
          ? "no calls yet"
          : `calls ok ${ok} · refused ${refused} · failed ${failures}`,
      );
    }
    if (httpDeadLetterQueue !== undefined) {
      httpDeadLetters.textContent = `Dead letters of all HTTP participants (the dispatcher's queue): ${total(s, "concord_dead_letters", { queue: httpDeadLetterQueue })}`;
    }
  }
}

/** How long failed calls keep an HTTP participant marked for attention after they stop. */
const RECENT_MS = 60_000;

function verdict(cell: HTMLElement, healthy: boolean, detail: string): void {
  cell.replaceChildren(
    el(
      "span",
      { class: healthy ? "badge health-ok" : "badge health-attention" },
      healthy ? "ok" : "attention",
    ),
    " ",
    el("span", { class: "health-detail" }, detail),
  );
}
