/**
 * The dashboard's browser code, entry for every page of /ui: each page is a
 * module of its own here. It reads only the authenticated JSON API and builds
 * the DOM with text nodes, never HTML strings, so whatever a request put in a
 * transaction shows as text. Bundled into ../dashboard-script.ts by
 * `npm run build:ui`.
 */
import type { SessionView } from "../contract.ts";
import { el, show } from "./dom.ts";
import { listPage } from "./list-page.ts";
import { metricsPage } from "./metrics-page.ts";
import { participantsPage } from "./participants-page.ts";
import { api, failed, onRestart, problem, renderSessionBar } from "./session.ts";
import { transactionPage } from "./transaction-page.ts";

async function start(): Promise<void> {
  try {
    const answer = await api<SessionView>("GET", "/ui/api/session");
    if (answer.status !== 200) {
      show(el("p", { class: "message" }, problem(answer)));
      return;
    }
    const session = answer.body;
    renderSessionBar(session);
    const page = document.body.dataset.page;
    if (page === "transaction") transactionPage(session);
    else if (page === "participants") participantsPage(session);
    else if (page === "metrics") metricsPage(session);
    else listPage();
  } catch (err) {
    failed(err);
  }
}

onRestart(() => void start());
void start();
