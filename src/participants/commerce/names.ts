/**
 * The e-commerce participants, by name: each has its own table (named after
 * it), queue and function. Kept apart from the models so that configuration
 * can name them without pulling the models into every bundle.
 */
export const COMMERCE_PARTICIPANTS = ["inventory", "payment", "order", "shipping"] as const;
export type CommerceParticipantName = (typeof COMMERCE_PARTICIPANTS)[number];

export const isCommerceParticipant = (name: string): name is CommerceParticipantName =>
  (COMMERCE_PARTICIPANTS as readonly string[]).includes(name);
