// A relying party nobody here wrote: panva's openid-client (a certified
// OpenID Connect RP library) against the running stack (issue #21).
//
//   node tests/browser/rp.mjs ISSUER PORT CLIENT_ID
//
// Serves http://127.0.0.1:PORT: /login starts an authorization (discovery,
// PKCE S256, state, nonce) and redirects the browser to our authorize
// endpoint; /callback takes the code (openid-client checks state, iss,
// the ID token's signature, iss, aud, nonce, exp), reads userinfo, refreshes,
// revokes the refresh token (RFC 7009) and sees the grant's tokens refused,
// and links /logout; /logout sends the browser to our end_session_endpoint
// with the ID token as hint; /signed-out checks the state that comes back
// and ends the process: exit 0 when every step passed. oidc_story.py drives
// the browser. Each step prints "ok <step>" or "FAIL <step>: <why>".
import http from 'node:http';
import * as client from 'openid-client';

const [issuerUrl, port, clientId] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const redirectUri = `${base}/callback`;
const postLogoutRedirectUri = `${base}/signed-out`;

const failures = [];
function check(step, ok, detail = '') {
  console.log(`${ok ? 'ok ' : 'FAIL'} ${step}${!ok && detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(step);
}

// http://localhost in the tests: openid-client insists on https otherwise.
const config = await client.discovery(new URL(issuerUrl), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
const metadata = config.serverMetadata();
check('discovery names the authorization and end-session endpoints',
  Boolean(metadata.authorization_endpoint && metadata.end_session_endpoint));

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const logoutState = client.randomState();
let idToken;

function answer(response, status, body, headers = {}) {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
  response.end(body);
}

async function callback(request, response) {
  const current = new URL(request.url, base);
  try {
    const tokens = await client.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    check('code exchanged, ID token validated by openid-client', Boolean(claims?.sub));
    check('ID token: amr includes otp (password and TOTP)', (claims.amr || []).includes('otp'),
      JSON.stringify(claims.amr));
    check('ID token: auth_time and sid', Number.isInteger(claims.auth_time) && Boolean(claims.sid));
    idToken = tokens.id_token;
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    check('userinfo: sub and email', info.sub === claims.sub && Boolean(info.email), JSON.stringify(info));
    check('a refresh token (offline_access)', Boolean(tokens.refresh_token));
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    check('refresh: a new access token and a rotated refresh token',
      Boolean(refreshed.access_token) && refreshed.access_token !== tokens.access_token
        && refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
    const again = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    check('userinfo with the refreshed token', again.sub === claims.sub);
    // RFC 7009 (issue #22): revoking the refresh token ends the grant, so
    // the access token of the same session stops working at once too.
    await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
    const refused = await client.refreshTokenGrant(config, refreshed.refresh_token).then(
      () => 'accepted', (error) => error.error ?? error.code ?? String(error));
    check('a revoked refresh token is refused (invalid_grant)', refused === 'invalid_grant', refused);
    const after = await client.fetchUserInfo(config, refreshed.access_token, claims.sub).then(
      () => 'accepted', (error) => String(error.status ?? error.cause?.status ?? error.code));
    check('the access token of the revoked grant is refused (401)', after === '401', after);
    answer(response, 200,
      `<!DOCTYPE html><title>RP</title><p id="rp-done">Signed in as ${claims.sub}</p>`
      + '<p><a id="logout" href="/logout">Sign out</a></p>');
  } catch (error) {
    check('callback', false, `${error.name}: ${error.message} ${JSON.stringify(error.cause ?? '')}`);
    answer(response, 500, `<p id="rp-failed">${error.message}</p>`);
  }
}

const server = http.createServer(async (request, response) => {
  const path = new URL(request.url, base).pathname;
  if (path === '/login') {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email offline_access',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    answer(response, 302, '', { location: url.href });
  } else if (path === '/callback') {
    await callback(request, response);
  } else if (path === '/logout') {
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: idToken,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state: logoutState,
    });
    answer(response, 302, '', { location: url.href });
  } else if (path === '/signed-out') {
    const back = new URL(request.url, base).searchParams.get('state');
    check('RP-initiated logout came back with the state', back === logoutState, back);
    answer(response, 200, '<!DOCTYPE html><title>RP</title><p id="rp-signed-out">Signed out</p>');
    server.close();
    setTimeout(() => process.exit(failures.length ? 1 : 0), 50);
  } else {
    answer(response, 404, 'not found');
  }
});
server.listen(Number(port), '127.0.0.1', () => console.log(`READY ${base}`));
setTimeout(() => {
  check('finished within 240 s', false);
  process.exit(1);
}, 240_000).unref();
