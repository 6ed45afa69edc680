// Sign-in with the authorization code flow and PKCE (S256), as a public client: no secret,
// the code is bound to a verifier only this tab knows. Tokens live in sessionStorage (this
// tab only, gone when it closes).

const KEYS = { verifier: "pkce.verifier", state: "pkce.state", tokens: "tokens" };

function base64Url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(byteCount) {
  return base64Url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** The callback and sign-out URL registered for the app client: the site's root. */
export function redirectUri() {
  return `${location.origin}/`;
}

export async function signIn(config) {
  const verifier = randomString(32);
  const state = randomString(16);
  sessionStorage.setItem(KEYS.verifier, verifier);
  sessionStorage.setItem(KEYS.state, state);
  const url = new URL(config.authorizeUrl);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scopes,
    state,
    code_challenge: await s256(verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Finishes a sign-in when the page is the callback (?code=...&state=...); false otherwise. */
export async function completeSignIn(config) {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return false;
  history.replaceState(null, "", "/"); // the code is single-use: keep it out of history
  const expectedState = sessionStorage.getItem(KEYS.state);
  const verifier = sessionStorage.getItem(KEYS.verifier);
  sessionStorage.removeItem(KEYS.state);
  sessionStorage.removeItem(KEYS.verifier);
  if (error) throw new Error(`Sign-in failed (${error}): sign in again.`);
  if (!expectedState || !verifier || params.get("state") !== expectedState) {
    throw new Error("Sign-in failed: this answer was not for this tab. Sign in again.");
  }
  const response = await fetch(config.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.clientId,
      code,
      redirect_uri: redirectUri(),
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error("Sign-in failed: the sign-in code was refused. Sign in again.");
  const body = await response.json();
  sessionStorage.setItem(
    KEYS.tokens,
    JSON.stringify({
      accessToken: body.access_token,
      idToken: body.id_token,
      expiresAt: Date.now() + body.expires_in * 1000,
    }),
  );
  return true;
}

function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}

/** The signed-in session ({accessToken, username}) or null (none, or expired). */
export function currentSession() {
  const stored = JSON.parse(sessionStorage.getItem(KEYS.tokens) || "null");
  if (!stored || !stored.accessToken || stored.expiresAt <= Date.now()) return null;
  // Shown only; the API checks the access token itself.
  const claims = claimsOf(stored.idToken || "");
  return { accessToken: stored.accessToken, username: claims["cognito:username"] || "" };
}

export function clearSession() {
  sessionStorage.removeItem(KEYS.tokens);
}

export function signOut(config) {
  clearSession();
  const url = new URL(config.logoutUrl);
  url.search = new URLSearchParams({
    client_id: config.clientId,
    logout_uri: redirectUri(),
  }).toString();
  location.assign(url.toString());
}
