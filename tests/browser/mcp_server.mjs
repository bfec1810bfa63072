// A small MCP server of the tests, built on the official TypeScript SDK's
// server side (issue #22): Streamable HTTP at http://127.0.0.1:PORT/mcp, its
// RFC 9728 protected-resource metadata naming ISSUER as the authorization
// server (the SDK's mcpAuthMetadataRouter), and the SDK's bearer middleware
// in front, which takes a token only when our introspection endpoint (asked
// through openid-client, as the confidential client CLIENT_ID) says it is
// active and meant for this server (aud = its URL).
//
//   node tests/browser/mcp_server.mjs ISSUER PORT CLIENT_ID SECRET
//
// One tool, `whoami`: the token's subject, client and audience. Prints
// "READY <url>" once listening.
import express from 'express';
import * as client from 'openid-client';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  mcpAuthMetadataRouter,
  getOAuthProtectedResourceMetadataUrl,
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

const [issuerUrl, port, clientId, secret] = process.argv.slice(2);
const serverUrl = new URL(`http://127.0.0.1:${port}/mcp`);

const config = await client.discovery(new URL(issuerUrl), clientId, undefined,
  client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
const oauthMetadata = config.serverMetadata();

const verifier = {
  async verifyAccessToken(token) {
    const info = await client.tokenIntrospection(config, token);
    if (!info.active) {
      throw new InvalidTokenError('the token is not active');
    }
    const audience = [].concat(info.aud ?? []);
    console.log(`introspected: active, aud ${JSON.stringify(audience)}`);
    return {
      token,
      clientId: info.client_id,
      scopes: (info.scope ?? '').split(' ').filter(Boolean),
      expiresAt: info.exp,
      resource: audience.includes(serverUrl.href) ? serverUrl : undefined,
      extra: { sub: info.sub, aud: audience },
    };
  },
};

const app = express();
app.use(express.json());
app.use(mcpAuthMetadataRouter({
  oauthMetadata,
  resourceServerUrl: serverUrl,
  scopesSupported: ['openid', 'offline_access'],
  resourceName: 'agents test MCP server',
}));
const bearer = requireBearerAuth({
  verifier,
  expectedResource: serverUrl,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(serverUrl),
});
app.post('/mcp', bearer, async (request, response) => {
  // Stateless: a server and a transport per request.
  const server = new McpServer({ name: 'agents-test-server', version: '1.0.0' });
  server.registerTool('whoami', { description: 'Whom the access token speaks for' },
    async (extra) => ({
      content: [{
        type: 'text',
        text: JSON.stringify({
          sub: extra.authInfo?.extra?.sub,
          client_id: extra.authInfo?.clientId,
          aud: extra.authInfo?.extra?.aud,
        }),
      }],
    }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  response.on('close', () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request, response, request.body);
});
app.all('/mcp', (request, response) => response.status(405).set('allow', 'POST').end());

app.listen(Number(port), '127.0.0.1', () => console.log(`READY ${serverUrl.href}`));
