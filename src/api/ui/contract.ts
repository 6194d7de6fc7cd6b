/** What the dashboard's own JSON routes answer; shared by the server and the browser code. */

/** `GET /ui/api/session`: whether keys are required and the role of the key sent (admin when auth is off). */
export interface SessionView {
  readonly auth: boolean;
  readonly role: "client" | "admin";
}

/** One built-in participant of this deployment, from its configuration. */
export interface BuiltInParticipantView {
  readonly name: string;
  readonly kind: string;
  readonly actions: readonly string[];
  /** Its queue's dead-letter queue: the `queue` label of its `concord_dead_letters` gauge. */
  readonly deadLetterQueue: string;
}

/** `GET /ui/api/participants`: the built-in participants, and where HTTP participants' messages dead-letter. */
export interface BuiltInParticipantsView {
  readonly participants: readonly BuiltInParticipantView[];
  /** The dispatcher's dead-letter queue, shared by every registered HTTP participant. */
  readonly httpDeadLetterQueue: string;
}

/** Where the dashboard keeps the API key: this browser tab's session only. */
export const KEY_STORAGE = "concord.apiKey";
/** How often a page re-reads what it shows while the tab is visible. */
export const REFRESH_MS = 3_000;
export const PAGE_SIZE = 20;
