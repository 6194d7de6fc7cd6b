/** DOM building for the dashboard: elements from text nodes, never HTML strings. */
import { STATUSES } from "../../../core/view.ts";

export type Child = Node | string | undefined | false;

/** An element with attributes and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export const present = (children: Child[]) =>
  children.filter((c): c is Node | string => c !== undefined && c !== false);
export const main = () => document.getElementById("main") as HTMLElement;
export const show = (...children: Child[]) => main().replaceChildren(...present(children));
export const txPath = (id: string) => `/ui/transactions/${encodeURIComponent(id)}`;
export const time = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : "");

export function stamp(): HTMLElement {
  return el("span", { class: "stamp", id: "updated" }, `updated ${new Date().toLocaleTimeString()}`);
}

export function statusBadge(status: string): HTMLElement {
  const known = (STATUSES as readonly string[]).includes(status);
  return el("span", { class: known ? `badge status-${status}` : "badge" }, status);
}
