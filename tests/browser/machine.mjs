// openid-client (panva's certified library) as a confidential machine
// client against the running stack (issue #22):
//
//   node tests/browser/machine.mjs ISSUER CLIENT_ID SECRET RESOURCE
//
// Discovery names the grant and the endpoints; client credentials for
// RESOURCE gives a machine token (sub = the client, aud = the resource);
// introspection says it is active and a garbage token is not; revoking a
// machine token is unsupported_token_type (no session to end); an unknown
// resource is invalid_target. Each step prints "ok <step>" or
// "FAIL <step>: <why>"; exit 0 when all passed.
import * as client from 'openid-client';

const [issuerUrl, clientId, secret, resource] = process.argv.slice(2);
const failures = [];
function check(step, ok, detail = '') {
  console.log(`${ok ? 'ok ' : 'FAIL'} ${step}${!ok && detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(step);
}
const refusal = (promise) => promise.then(() => 'accepted', (error) => error.error ?? error.code ?? String(error));
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

const config = await client.discovery(new URL(issuerUrl), clientId, undefined,
  client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });
const metadata = config.serverMetadata();
check('discovery: client_credentials, revocation and introspection endpoints',
  metadata.grant_types_supported?.includes('client_credentials')
    && Boolean(metadata.revocation_endpoint && metadata.introspection_endpoint),
  JSON.stringify(metadata));

const tokens = await client.clientCredentialsGrant(config, { resource });
const machine = claims(tokens.access_token);
check('client credentials: a machine token for the resource, no refresh token',
  machine.sub === clientId && machine.aud === resource && !tokens.refresh_token,
  JSON.stringify(machine));

const seen = await client.tokenIntrospection(config, tokens.access_token);
check('introspection: the machine token is active, its client and audience',
  seen.active === true && seen.client_id === clientId && seen.aud === resource, JSON.stringify(seen));
const garbage = await client.tokenIntrospection(config, 'not-a-token');
check('introspection: garbage is inactive', garbage.active === false, JSON.stringify(garbage));

const revoked = await refusal(client.tokenRevocation(config, tokens.access_token));
check('revocation of a machine token: unsupported_token_type', revoked === 'unsupported_token_type', revoked);
await client.tokenRevocation(config, 'unknown-token');
check('revocation of an unknown token: 200', true);

const target = await refusal(client.clientCredentialsGrant(config, { resource: 'https://unknown.example' }));
check('an unknown resource: invalid_target', target === 'invalid_target', target);

process.exit(failures.length ? 1 : 0);
