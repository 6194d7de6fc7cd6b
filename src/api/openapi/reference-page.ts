/**
 * `GET /docs`: the API reference, rendered on the server from the OpenAPI
 * document (every value escaped), with a small same-origin script that sends a
 * request from each operation's form. It works offline under the dashboard's
 * strict Content-Security-Policy: no CDN, no inline script or style. A full
 * reference UI (Scalar: 169 MB installed, megabytes of browser code) would not
 * fit the Lambda bundle's budget for what this page has to show.
 */
import type { OpenApiDocument } from "./document.ts";

const esc = (value: unknown): string =>
  String(value).replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch] ?? ch,
  );

type Json = Record<string, unknown>;
const asRecord = (v: unknown): Json => (v !== null && typeof v === "object" ? (v as Json) : {});

const pre = (value: unknown) => `<pre>${esc(JSON.stringify(value, null, 2))}</pre>`;

/** `{$ref: "#/components/schemas/X"}` as a link to X's section; anything else as JSON. */
function schemaRef(schema: unknown): string {
  const ref = asRecord(schema).$ref;
  if (typeof ref === "string") {
    const name = ref.split("/").at(-1) ?? ref;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  return pre(schema);
}

function operation(path: string, method: string, op: Json): string {
  const id = String(op.operationId ?? `${method}-${path}`);
  const params = (Array.isArray(op.parameters) ? op.parameters : []).map(asRecord);
  const security = Array.isArray(op.security) ? op.security.map(asRecord) : [];
  const roles = security.flatMap((s) => Object.values(s).flat() as string[]);
  const access = security.length === 0 ? "no key" : roles.includes("admin") ? "admin key" : "API key";
  const body = asRecord(asRecord(asRecord(op.requestBody).content)["application/json"]);
  const responses = Object.entries(asRecord(op.responses)).map(([status, r]) => {
    const content = Object.entries(asRecord(asRecord(r).content));
    const shapes = content.map(([type, c]) => `${esc(type)}: ${schemaRef(asRecord(c).schema)}`).join("<br>");
    return `<tr><td>${esc(status)}</td><td>${esc(asRecord(r).description ?? "")}</td><td>${shapes}</td></tr>`;
  });
  const inputs = params.map((p) => {
    const name = String(p.name);
    return `<label>${esc(p.in)} <code>${esc(name)}</code>${p.required ? " *" : ""}
<input name="${esc(name)}" data-in="${esc(p.in)}" value="${esc(p.example ?? "")}"></label>`;
  });
  const example = body.example !== undefined ? JSON.stringify(body.example, null, 2) : "";
  return `<section class="op" id="op-${esc(id)}">
<h3><span class="method ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p>${esc(op.summary ?? "")} <em>(${esc(access)})</em></p>
${op.description ? `<p>${esc(op.description)}</p>` : ""}
${
  params.length > 0
    ? `<table><tr><th>in</th><th>name</th><th>description</th><th>schema</th></tr>${params
        .map(
          (p) =>
            `<tr><td>${esc(p.in)}</td><td><code>${esc(p.name)}</code>${p.required ? " *" : ""}</td><td>${esc(p.description ?? "")}</td><td>${pre(p.schema)}</td></tr>`,
        )
        .join("")}</table>`
    : ""
}
${body.schema ? `<p>Body: ${schemaRef(body.schema)}</p>${example ? `<p>Example:</p>${pre(body.example)}` : ""}` : ""}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses.join("")}</table>
<form class="try" data-method="${esc(method.toUpperCase())}" data-path="${esc(path)}">
${inputs.join("\n")}
${body.schema ? `<label>body<textarea name="body" rows="6">${esc(example)}</textarea></label>` : ""}
<button type="submit">Send</button>
<pre class="answer" aria-live="polite"></pre>
</form>
</section>`;
}

/** The whole page; the document is the only input, and every value from it is escaped. */
export function referencePage(doc: OpenApiDocument): string {
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op: asRecord(op) })),
  );
  const toc = ops
    .map(
      ({ path, method, op }) =>
        `<li><a href="#op-${esc(op.operationId)}">${esc(method.toUpperCase())} ${esc(path)}</a></li>`,
    )
    .join("");
  const schemas = Object.entries(doc.components.schemas)
    .map(([name, s]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${pre(s)}</section>`)
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API reference</title>
<link rel="stylesheet" href="/docs/reference.css">
<script src="/docs/reference.js" defer></script>
</head>
<body>
<header><h1>${esc(doc.info.title)} API ${esc(doc.info.version)}</h1>
<p>${esc(doc.info.description)}</p>
<p>The document: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${esc(doc.openapi)}).</p>
<label>API key (kept in this page only) <input id="api-key" type="password" autocomplete="off"></label>
</header>
<nav><ul>${toc}</ul></nav>
<main>
${ops.map(({ path, method, op }) => operation(path, method, op)).join("\n")}
<h2>Schemas</h2>
${schemas}
</main>
</body>
</html>
`;
}

export const REFERENCE_CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.op{border-top:1px solid #ccc;padding:.5rem 0}.method{font-weight:bold;padding:0 .3rem;border-radius:3px;background:#ddd}
.get{background:#d6ecff}.post{background:#d7f5dc}.put{background:#fff1c9}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.2rem .4rem;vertical-align:top;text-align:left}
form.try label{display:block;margin:.2rem 0}form.try textarea{width:100%}
`;

/** Sends the form's request with the key from the page's field; shows status, X-Request-Id and body. */
export const REFERENCE_SCRIPT = `"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("try")) return;
  event.preventDefault();
  const out = form.querySelector(".answer");
  let path = form.dataset.path || "/";
  const query = new URLSearchParams();
  const headers = {};
  for (const input of form.querySelectorAll("input[data-in]")) {
    if (input.value === "") continue;
    if (input.dataset.in === "path") path = path.replace("{" + input.name + "}", encodeURIComponent(input.value));
    else if (input.dataset.in === "query") query.set(input.name, input.value);
    else if (input.dataset.in === "header") headers[input.name] = input.value;
  }
  const key = document.getElementById("api-key").value;
  if (key) headers.Authorization = "Bearer " + key;
  const body = form.querySelector("textarea[name=body]");
  if (body) headers["Content-Type"] = "application/json";
  const qs = query.toString();
  try {
    const res = await fetch(path + (qs ? "?" + qs : ""), {
      method: form.dataset.method,
      headers,
      ...(body ? { body: body.value } : {}),
    });
    const text = await res.text();
    out.textContent = res.status + " " + res.statusText + "\\nX-Request-Id: " + res.headers.get("x-request-id") + "\\n\\n" + text;
  } catch (err) {
    out.textContent = String(err);
  }
});
`;
