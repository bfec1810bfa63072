// An MCP client nobody here wrote: the official TypeScript SDK's client
// (issue #22), against tests/browser/mcp_server.mjs. It discovers the
// server's protected-resource metadata (RFC 9728) and from it our
// authorization server, registers itself dynamically (RFC 7591), and sends
// the browser to our authorize endpoint with PKCE, `resource` = the server's
// URL (RFC 8707) and `offline_access`: it prints "AUTHORIZE <url>" for
// agents_story.py to open in Chromium, and listens for the code on
// http://127.0.0.1:CALLBACK_PORT/callback. Then it calls the server's tool,
// refreshes (the SDK's own refresh), calls again; prints "WAITING" and,
// once a line comes on stdin (the person removed the app's access on the
// account page), checks that the refresh token and the access token are
// both refused now.
//
//   node tests/browser/mcp_client.mjs SERVER_URL CALLBACK_PORT
//
// Each step prints "ok <step>" or "FAIL <step>: <why>"; exit 0 when all passed.
import http from 'node:http';
import readline from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverUrlText, callbackPort] = process.argv.slice(2);
const serverUrl = new URL(serverUrlText);
const redirectUrl = `http://127.0.0.1:${callbackPort}/callback`;
const failures = [];
function check(step, ok, detail = '') {
  console.log(`${ok ? 'ok ' : 'FAIL'} ${step}${!ok && detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(step);
}
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
setTimeout(() => {
  check('finished within 240 s', false);
  process.exit(1);
}, 240_000).unref();

// What the SDK asks a client application to keep: here, in memory.
const kept = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'Agents test MCP client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  state() { kept.state = crypto.randomUUID(); return kept.state; },
  clientInformation() { return kept.client; },
  saveClientInformation(information) { kept.client = information; },
  tokens() { return kept.tokens; },
  saveTokens(tokens) { kept.tokens = tokens; },
  redirectToAuthorization(url) {
    kept.authorizationUrl = url;
    console.log(`AUTHORIZE ${url.href}`);
  },
  saveCodeVerifier(verifier) { kept.verifier = verifier; },
  codeVerifier() { return kept.verifier; },
};

const code = new Promise((resolve) => {
  const callbacks = http.createServer((request, response) => {
    const url = new URL(request.url, redirectUrl);
    if (url.pathname !== '/callback') {
      response.writeHead(404).end();
      return;
    }
    check('the callback carries our state and the issuer (RFC 9207)',
      url.searchParams.get('state') === kept.state && Boolean(url.searchParams.get('iss')), url.search);
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!DOCTYPE html><title>MCP client</title><p id="mcp-done">Authorized</p>');
    callbacks.close();
    resolve(url.searchParams.get('code'));
  });
  callbacks.listen(Number(callbackPort), '127.0.0.1');
});

async function connected() {
  const mcp = new Client({ name: 'agents-test-client', version: '1.0.0' });
  await mcp.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
  return mcp;
}

async function whoami() {
  const mcp = await connected();
  const result = await mcp.callTool({ name: 'whoami', arguments: {} });
  await mcp.close();
  return JSON.parse(result.content[0].text);
}

try {
  const first = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  const refused = await new Client({ name: 'agents-test-client', version: '1.0.0' })
    .connect(first).then(() => 'connected', (error) => error);
  check('without a token the server answers 401 and the SDK starts the authorization',
    refused instanceof UnauthorizedError && Boolean(kept.authorizationUrl), String(refused));
  check('registered dynamically: a public client of ours',
    kept.client?.client_id?.startsWith('dyn_') && !kept.client.client_secret, JSON.stringify(kept.client));
  const asked = kept.authorizationUrl.searchParams;
  check('the authorization asks for the server as resource, with offline_access and PKCE',
    asked.get('resource') === serverUrl.href && asked.get('scope')?.includes('offline_access')
      && asked.get('code_challenge_method') === 'S256', kept.authorizationUrl.search);

  await first.finishAuth(await code);
  const access = claims(kept.tokens.access_token);
  check('the access token is for the MCP server (aud = its URL), with a refresh token',
    access.aud === serverUrl.href && Boolean(kept.tokens.refresh_token), JSON.stringify(access));

  const me = await whoami();
  check('the tool call is authorized, as the signed-in person',
    me.sub === access.sub && me.client_id === kept.client.client_id, JSON.stringify(me));

  const before = kept.tokens;
  const outcome = await auth(provider, { serverUrl });
  check('refresh (the SDK\'s): new access and refresh tokens, same audience',
    outcome === 'AUTHORIZED' && kept.tokens.access_token !== before.access_token
      && kept.tokens.refresh_token !== before.refresh_token
      && claims(kept.tokens.access_token).aud === serverUrl.href, outcome);
  const again = await whoami();
  check('the tool call with the refreshed token', again.sub === access.sub, JSON.stringify(again));

  console.log('WAITING');
  await new Promise((resolve) => readline.createInterface({ input: process.stdin }).once('line', resolve));
  const revokedRefresh = await auth(provider, { serverUrl }).then(
    (result) => `accepted: ${result}`, (error) => error.errorCode ?? error.name ?? String(error));
  check('after the person removed its access: the refresh token is refused',
    revokedRefresh === 'invalid_grant', revokedRefresh);
  const call = await fetch(serverUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${kept.tokens.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  check('and so is the access token, at once (introspection: inactive)', call.status === 401,
    String(call.status));
} catch (error) {
  check('the MCP story', false, `${error.name}: ${error.message}`);
}
process.exit(failures.length ? 1 : 0);
