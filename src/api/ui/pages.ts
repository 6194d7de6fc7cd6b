import { html } from "hono/html";

export type Page = "list" | "transaction" | "participants" | "metrics";

const NAV: readonly { page: Page; href: string; label: string }[] = [
  { page: "list", href: "/ui", label: "Transactions" },
  { page: "participants", href: "/ui/participants", label: "Participants" },
  { page: "metrics", href: "/ui/metrics", label: "Metrics" },
];

/**
 * A page's shell: it holds no data (so it is served without a key), only the
 * place the browser code fills from the authenticated API. No inline script or style.
 */
export const shell = (page: Page, title: string) => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · concord</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/ui/assets/dashboard.css" />
    <script type="module" src="/ui/assets/dashboard.js"></script>
  </head>
  <body data-page="${page}">
    <header>
      <h1>concord</h1>
      <nav>
        ${NAV.map((n) =>
          n.page === page || (page === "transaction" && n.page === "list")
            ? html`<a href="${n.href}" aria-current="page">${n.label}</a>`
            : html`<a href="${n.href}">${n.label}</a>`,
        )}
      </nav>
      <div id="session"></div>
    </header>
    <main id="main"><noscript>The dashboard needs JavaScript.</noscript></main>
  </body>
</html>`;
