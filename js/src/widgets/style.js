// The widgets' CSS: JupyterLab's theme variables (light and dark), with fallbacks for pages
// without them. Injected once per document.

const STYLE_ID = "jupyter-sente-widgets-style";

const CSS = `
.jps-widget {
  --jps-bg: var(--jp-layout-color1, #fff);
  --jps-bg2: var(--jp-layout-color2, #eee);
  --jps-bg3: var(--jp-layout-color3, #bdbdbd);
  --jps-fg: var(--jp-ui-font-color1, rgba(0, 0, 0, 0.87));
  --jps-fg2: var(--jp-ui-font-color2, rgba(0, 0, 0, 0.54));
  --jps-border: var(--jp-border-color2, #e0e0e0);
  --jps-brand: var(--jp-brand-color1, #1976d2);
  --jps-ok: var(--jp-success-color1, #388e3c);
  --jps-warn: var(--jp-warn-color1, #f57c00);
  --jps-error: var(--jp-error-color1, #d32f2f);
  box-sizing: border-box;
  max-width: 100%;
  border: 1px solid var(--jps-border);
  border-radius: 4px;
  background: var(--jps-bg);
  color: var(--jps-fg);
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  line-height: 1.4;
  margin: 2px 0;
}
.jps-widget *, .jps-widget *::before, .jps-widget *::after { box-sizing: border-box; }
.jps-widget [hidden] { display: none !important; }
.jps-header {
  display: flex; align-items: center; gap: 8px;
  padding: 4px 8px;
  border-bottom: 1px solid var(--jps-border);
  background: var(--jps-bg2);
  border-radius: 4px 4px 0 0;
}
.jps-title { font-weight: 600; flex: 1 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.jps-title .jps-room { font-weight: 400; color: var(--jps-fg2); }
.jps-status { display: inline-flex; align-items: center; gap: 4px; color: var(--jps-fg2); font-size: var(--jp-ui-font-size0, 11px); white-space: nowrap; }
.jps-status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--jps-fg2); }
.jps-status[data-phase="connected"]::before { background: var(--jps-ok); }
.jps-status[data-phase="connecting"]::before, .jps-status[data-phase="reconnecting"]::before { background: var(--jps-warn); }
.jps-status[data-phase="offline"]::before, .jps-status[data-phase="unavailable"]::before { background: var(--jps-error); }
.jps-body { padding: 6px 8px; }
.jps-message {
  padding: 8px 10px; margin: 6px 8px;
  border-left: 3px solid var(--jps-warn);
  background: var(--jps-bg2);
  color: var(--jps-fg);
  white-space: normal;
}
.jps-message[data-kind="error"] { border-left-color: var(--jps-error); }
.jps-muted { color: var(--jps-fg2); }
.jps-button {
  font: inherit; color: var(--jps-fg);
  background: var(--jps-bg2);
  border: 1px solid var(--jps-border); border-radius: 3px;
  padding: 2px 10px; cursor: pointer;
}
.jps-button:hover:not(:disabled) { background: var(--jps-bg3); }
.jps-button.jps-accept { background: var(--jps-brand); border-color: var(--jps-brand); color: var(--jp-ui-inverse-font-color1, #fff); }
.jps-button:disabled { opacity: 0.5; cursor: default; }
.jps-input {
  font: inherit; color: var(--jps-fg);
  background: var(--jp-input-background, var(--jps-bg));
  border: 1px solid var(--jp-input-border-color, var(--jps-border)); border-radius: 3px;
  padding: 3px 6px; min-width: 0;
}
.jps-widget :focus-visible { outline: 2px solid var(--jps-brand); outline-offset: 1px; }
.jps-row { display: flex; gap: 6px; align-items: center; }
.jps-grow { flex: 1 1 auto; }

.jps-chat-log, .jps-log-rows { overflow-y: auto; }
.jps-chat-log { height: 200px; padding: 2px 0; }
.jps-chat-msg { padding: 1px 0; overflow-wrap: anywhere; }
.jps-chat-name { font-weight: 600; margin-right: 6px; }
.jps-chat-time, .jps-badge { color: var(--jps-fg2); font-size: var(--jp-ui-font-size0, 11px); margin-right: 6px; }
.jps-badge { border: 1px solid var(--jps-border); border-radius: 8px; padding: 0 5px; margin-left: 4px; }
.jps-chat-form { margin-top: 6px; }

.jps-people { list-style: none; margin: 0; padding: 0; }
.jps-person { display: flex; align-items: flex-start; gap: 8px; padding: 3px 0; }
.jps-avatar {
  flex: 0 0 auto; width: 26px; height: 26px; border-radius: 50%;
  display: inline-flex; align-items: center; justify-content: center;
  color: #fff; font-weight: 600; font-size: 11px;
}
.jps-person-name { font-weight: 600; }
.jps-conns { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 2px; }
.jps-conn { border: 1px solid var(--jps-border); border-radius: 8px; padding: 0 6px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jps-fg2); }
.jps-conn[data-self="true"] { border-color: var(--jps-brand); color: var(--jps-fg); }

.jps-plot-canvas { display: block; width: 100%; }
.jps-legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: var(--jp-ui-font-size0, 11px); margin-bottom: 4px; }
.jps-legend-item::before { content: ""; display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; background: var(--jps-swatch); }

.jps-log-rows { height: 220px; font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); margin-top: 6px; }
.jps-log-row { display: grid; grid-template-columns: 7em 9em 11em 1fr; gap: 6px; padding: 1px 0; border-bottom: 1px solid var(--jps-border); }
.jps-log-row > span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.jps-log-row[data-kind="presence"] { color: var(--jps-fg2); font-style: italic; }

.jps-inspector-grid { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.jps-inspector-grid .jps-label { color: var(--jps-fg2); white-space: nowrap; }
.jps-inspector-grid .jps-value { min-width: 0; overflow-wrap: anywhere; }
.jps-inspector-grid .jps-value[data-field="handshake"] { font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.jps-timeline { list-style: none; margin: 4px 0 0; padding: 0; max-height: 120px; overflow-y: auto; font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.jps-section { margin-top: 8px; font-weight: 600; }
.jps-buttons { margin-top: 8px; flex-wrap: wrap; }
`;

/**
 * Put the widgets' stylesheet into `doc` (once).
 * @param {Document} doc
 */
export function ensureStyle(doc) {
  if (doc.getElementById(STYLE_ID) !== null) return;
  const el = doc.createElement("style");
  el.id = STYLE_ID;
  el.textContent = CSS;
  doc.head.appendChild(el);
}
