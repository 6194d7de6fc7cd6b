/** The dashboard's stylesheet, served as a file: the Content-Security-Policy allows no inline style. */
export const DASHBOARD_CSS = `
:root { color-scheme: light; --ink: #1d2330; --muted: #5d6678; --line: #dde1e8; --bg: #f6f7f9;
  --ok: #1f7a3f; --bad: #b3261e; --wait: #8a5a00; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); }
body { margin: 0; background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.5rem; background: #1d2330; color: #fff; }
header h1 { font-size: 1.05rem; margin: 0; letter-spacing: .02em; }
header nav { display: flex; gap: 1rem; flex: 1; }
header a { color: #cfd6e4; text-decoration: none; }
header a:hover, header a[aria-current="page"] { color: #fff; }
#session { display: flex; gap: .75rem; align-items: center; }
main { padding: 1rem 1.5rem; max-width: 1200px; }
h2 { font-size: 1.1rem; margin: .5rem 0 .75rem; }
h3 { font-size: .95rem; margin: 1.25rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
td.id, .id { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.toolbar { display: flex; gap: 1rem; align-items: center; margin-bottom: .75rem; flex-wrap: wrap; }
.find { display: flex; gap: .4rem; align-items: center; }
input, select, button { font: inherit; padding: .3rem .55rem; border: 1px solid #b9c0cc; border-radius: 4px; background: #fff; }
input[type="search"] { width: 22rem; }
button { cursor: pointer; }
button:disabled { cursor: not-allowed; opacity: .5; }
button.abort { border-color: var(--bad); color: var(--bad); }
button.link { border: 0; background: none; color: #cfd6e4; text-decoration: underline; padding: 0; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 999px; font-size: .8rem; background: #e6e9ef; }
.status-committed { background: #dcf1e3; color: var(--ok); }
.status-aborted { background: #f9dedc; color: var(--bad); }
.status-pending { background: #fbecc8; color: var(--wait); }
.role { font-size: .8rem; padding: 0 .45rem; border: 1px solid #6b7487; border-radius: 4px; }
.stamp, .note { color: var(--muted); font-size: .85rem; }
.message { color: var(--bad); overflow-wrap: anywhere; }
.pager { display: flex; gap: .5rem; margin-top: .75rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0 0 1rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.actions { display: flex; gap: .5rem; align-items: center; }
.reason, .url, .event-details { overflow-wrap: anywhere; }
.timeline { list-style: none; padding: 0; margin: 0; background: #fff; border: 1px solid var(--line); }
.timeline li { display: grid; grid-template-columns: 12rem 10rem 1fr; gap: .75rem; padding: .3rem .6rem;
  border-bottom: 1px solid var(--line); }
.timeline time { color: var(--muted); }
.event-type { font-weight: 600; }
.health-ok { background: #dcf1e3; color: var(--ok); }
.health-attention { background: #f9dedc; color: var(--bad); }
.health-detail { color: var(--muted); font-size: .85rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tiles { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: .5rem; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; min-width: 10rem;
  display: grid; gap: .1rem; }
.tile.attention { border-color: var(--bad); }
.tile-value { font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile.attention .tile-value { color: var(--bad); }
.tile-label { color: var(--muted); font-size: .85rem; }
.tile-detail { margin: .2rem 0 0; padding-left: 1rem; color: var(--muted); font-size: .8rem; overflow-wrap: anywhere; }
.key-form { max-width: 28rem; display: grid; gap: .6rem; background: #fff; padding: 1rem; border: 1px solid var(--line); }
`;
