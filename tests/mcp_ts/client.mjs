// Two agents share a file through stale-write-guard-fs, driven by the official TypeScript MCP SDK
// over stdio; prints one JSON summary on stdout (tests/adapters/test_mcp_typescript.py asserts on it).
//
//   node client.mjs --root DIR -- COMMAND [ARG...]
//
// COMMAND ARG... start the server (e.g. python -m ccs.adapters.mcp_server). Without them the server
// command is taken from $MCP_SERVER_COMMAND (a JSON array), and DIR from $SWG_ROOT. Each session's
// server gets this process's environment plus SWG_ROOT=DIR and SWG_AGENT=alice|bob. The client
// follows the server's protocol; what happened is in the summary, and any transport or protocol
// failure exits non-zero with the error on stderr. DIR/plan.md must exist (the test writes it).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

function parseArgs(argv) {
  const sep = argv.indexOf("--");
  const own = sep < 0 ? argv : argv.slice(0, sep);
  let command = sep < 0 ? [] : argv.slice(sep + 1);
  let root = process.env.SWG_ROOT;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === "--root") root = own[++i];
    else throw new Error(`unknown argument ${own[i]}`);
  }
  if (command.length === 0 && process.env.MCP_SERVER_COMMAND) {
    command = JSON.parse(process.env.MCP_SERVER_COMMAND);
  }
  if (!root || command.length === 0) {
    throw new Error("usage: node client.mjs --root DIR -- COMMAND [ARG...]");
  }
  return { root, command };
}

function sdkVersion() {
  // The SDK's package.json is not in its exports map: find it from a resolved entry point.
  let dir = dirname(fileURLToPath(import.meta.resolve("@modelcontextprotocol/sdk/client/index.js")));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === "@modelcontextprotocol/sdk") return pkg.version;
    } catch {
      // not here
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

async function connect(root, command, agent) {
  const env = { ...process.env, SWG_ROOT: root, SWG_AGENT: agent };
  delete env.MCP_SERVER_COMMAND;
  const transport = new StdioClientTransport({ command: command[0], args: command.slice(1), env });
  const client = new Client({ name: `ccs-e2e-ts-${agent}`, version: "0.0.0" });
  await client.connect(transport);
  return client;
}

// One tool call: the parsed JSON text, checked to agree with structuredContent and isError.
async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  const text = result.content?.[0]?.type === "text" ? result.content[0].text : null;
  const payload = text === null ? null : JSON.parse(text);
  return {
    isError: result.isError === true,
    payload,
    structuredMatches: JSON.stringify(sortKeys(result.structuredContent)) === JSON.stringify(sortKeys(payload)),
  };
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

async function main() {
  const { root, command } = parseArgs(process.argv.slice(2));
  const summary = { sdk_version: sdkVersion(), node_version: process.version, steps: {} };
  const a = await connect(root, command, "alice");
  const b = await connect(root, command, "bob");
  try {
    summary.server_info = a.getServerVersion();
    summary.instructions = a.getInstructions() ?? null;
    summary.tools = Object.fromEntries(
      (await a.listTools()).tools.map((t) => [t.name, { title: t.title ?? null, annotations: t.annotations ?? null }]),
    );
    const s = summary.steps;
    s.a_read = await call(a, "read", { path: "plan.md" });
    s.b_read = await call(b, "read", { path: "plan.md" });
    s.b_write = await call(b, "write", { path: "plan.md", content: s.b_read.payload.content + "- bob\n" });
    // A's write is derived from its read at version 1: stale.
    s.a_stale_write = await call(a, "write", { path: "plan.md", content: s.a_read.payload.content + "- alice\n" });
    if (s.a_stale_write.isError && s.a_stale_write.payload?.code === "stale_view") {
      s.a_reacquire = await call(a, "reacquire", { path: "plan.md" });
      s.a_write = await call(a, "write", { path: "plan.md", content: s.a_reacquire.payload.content + "- alice\n" });
    }
    s.b_final_read = await call(b, "read", { path: "plan.md" });
    summary.final_content = readFileSync(join(root, "plan.md"), "utf8");
  } finally {
    await a.close();
    await b.close();
  }
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().catch((err) => {
  process.stderr.write(`client.mjs: ${err?.stack ?? err}\n`);
  process.exit(1);
});
