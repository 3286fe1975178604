// Caller attestation for the sessions sidecar (plain ES module, no dependencies).
//
// OpenClaw tells an MCP server nothing about the calling session, but `before_tool_call` sees it
// (ctx.sessionKey, ctx.agentId, ctx.runId) and may rewrite the call's params. For every call of one of
// the sidecar's projected tools (`<server>__sessions_list` and the other three, for the servers listed in
// this plugin's config), the hook replaces any `_caller` argument with one signed by HMAC-SHA256 under the
// host's key, which the model never sees. The sidecar verifies the MAC, the agent, the tool, a digest of
// the other arguments and the timestamp, refuses a replay, and strips `_caller` before anything else.
// The canonical JSON here (sorted keys, no spaces) must stay byte-equal to sidecar/host/_attest.py.
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const TOOLS = new Set(["sessions_list", "sessions_history", "sessions_send", "sessions_spawn"]);
const FIELD = "_caller";

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

function sign(key, claims) {
  return createHmac("sha256", key).update(canonical(claims), "utf8").digest("hex");
}

function projected(toolName, servers) {
  const cut = typeof toolName === "string" ? toolName.lastIndexOf("__") : -1;
  if (cut <= 0) return null;
  const server = toolName.slice(0, cut);
  const tool = toolName.slice(cut + 2);
  return Object.hasOwn(servers, server) && TOOLS.has(tool) ? { server, tool } : null;
}

export default {
  id: "openclaw-sessions-sidecar",
  name: "Sessions sidecar caller attestation",
  description: "Adds an HMAC-signed _caller to calls of the sessions sidecar's MCP tools.",
  register(api) {
    const config = api.pluginConfig ?? {};
    const servers = config.servers && typeof config.servers === "object" ? config.servers : {};
    api.logger?.info?.(`sessions sidecar: attesting calls of ${Object.keys(servers).join(", ") || "no server"}`);
    let key = null;
    const loadKey = () => {
      if (key === null) key = Buffer.from(readFileSync(String(config.keyFile), "utf8").trim(), "hex");
      return key;
    };
    api.on(
      "before_tool_call",
      (event, ctx) => {
        const hit = projected(event.toolName, servers);
        if (hit === null) {
          if (typeof event.toolName === "string" && event.toolName.includes("__sessions_")) {
            api.logger?.warn?.(`sessions sidecar: ${event.toolName} is not a configured server's tool; not attested`);
          }
          return undefined;
        }
        const params = { ...(event.params ?? {}) };
        delete params[FIELD];
        const sessionKey = ctx?.sessionKey;
        const agentId = ctx?.agentId;
        if (typeof sessionKey !== "string" || typeof agentId !== "string") {
          // No session to attest: the call goes on without `_caller` and the sidecar fails closed.
          api.logger?.warn?.(`sessions sidecar: no session on the call of ${event.toolName}; not attested`);
          return { params };
        }
        let secret;
        try {
          secret = loadKey();
        } catch (err) {
          api.logger?.warn?.(`sessions sidecar: cannot read keyFile (${err?.code ?? err}); calls go unattested`);
          return { params };
        }
        const claims = {
          v: 1,
          agentId,
          sessionKey,
          runId: ctx?.runId ?? event.runId ?? null,
          toolCallId: String(event.toolCallId ?? ctx?.toolCallId ?? ""),
          tool: hit.tool,
          ts: Date.now(),
          args: createHash("sha256").update(canonical(params), "utf8").digest("hex"),
        };
        return { params: { ...params, [FIELD]: { ...claims, mac: sign(secret, claims) } } };
      },
      // Run after other plugins' handlers: the last returned params win, and ours must carry `_caller`.
      { priority: -1000 },
    );
  },
};
