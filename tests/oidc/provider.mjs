// A real, certified OpenID Provider (the npm package oidc-provider) for the SSO tests.
// Configured from the environment by the pytest fixture: port, one client, and the accounts.
import Provider from "oidc-provider";

const port = Number(process.env.OP_PORT);
const accounts = JSON.parse(process.env.OP_ACCOUNTS); // { sub: { email, employee_id, name } }
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: process.env.OP_CLIENT_ID,
      client_secret: process.env.OP_CLIENT_SECRET,
      redirect_uris: [process.env.OP_REDIRECT_URI],
      post_logout_redirect_uris: [process.env.OP_POST_LOGOUT_URI],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "employee_id"] },
  scopes: ["openid", "email", "profile"],
  // OP_DEFAULTS=1 leaves the provider at its defaults: the ID token carries only `sub` and the rest is
  // answered from UserInfo (OpenID Connect Core §5.4). Otherwise the ID token carries the claims the
  // scopes ask for, as Entra ID's does.
  ...(process.env.OP_DEFAULTS === "1" ? {} : { conformIdTokenClaims: false }),
  findAccount: async (ctx, id) => {
    const claims = accounts[id];
    if (!claims) return undefined;
    // An account says email_verified itself when the test wants it false; otherwise it is verified.
    return { accountId: id, claims: async () => ({ sub: id, email_verified: true, ...claims }) };
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ["ridealong-test-provider-only"] },
  // The test may give the signing key, so that it can make tokens the provider itself would have signed.
  ...(process.env.OP_JWKS ? { jwks: JSON.parse(process.env.OP_JWKS) } : {}),
  ttl: { IdToken: Number(process.env.OP_ID_TOKEN_TTL || 3600), AuthorizationCode: 60 },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => console.log(`provider ready on ${issuer}`));
