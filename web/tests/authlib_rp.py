"""A relying party written with Authlib, as a Python web app would sign people in with jwtgate.

Driven by relying-parties.test.mjs, which does the browser's part with Chromium. Arguments:
ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_REDIRECT_URI. TLS is trusted through
REQUESTS_CA_BUNDLE (the test's certificate). One JSON object a line each way:

  out {"authorize": URL}                       the browser is to open it and sign in
  in  {"callback": URL}                        where the browser landed on the app
  out {"id_token": {...}, "userinfo": {...}, "refreshed": {...}, "end_session": URL}
  in  {"signed_out": URL}                      the browser is back on the app after the logout
  out {"refresh_after_logout": {"error": CODE}}

Every check Authlib makes raises: a refusal ends the script non-zero with its traceback.
"""

import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc import discovery, rpinitiated
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry


def say(message):
    print(json.dumps(message), flush=True)


def hear():
    line = sys.stdin.readline()
    if not line:
        sys.exit("the test went away")
    return json.loads(line)


def main(issuer, client_id, client_secret, redirect_uri, post_logout_redirect_uri):
    # Discovery, validated as Authlib validates an OpenID provider's metadata (with
    # RP-Initiated Logout's end_session_endpoint).
    answer = requests.get(discovery.get_well_known_url(issuer, external=True), timeout=10)
    answer.raise_for_status()
    metadata = discovery.OpenIDProviderMetadata(answer.json())
    metadata.validate(metadata_classes=[rpinitiated.OpenIDProviderMetadata])
    if metadata["issuer"] != issuer:
        sys.exit(f"discovery names the issuer {metadata['issuer']!r}, not {issuer!r}")

    session = OAuth2Session(
        client_id,
        client_secret,
        scope="openid email",
        redirect_uri=redirect_uri,
        token_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
    )
    code_verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    say({"authorize": url})

    callback = hear()["callback"]
    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )

    # The ID token, as Authlib's own OpenID client checks it (parse_id_token): the signature
    # with the provider's JWKS and only its advertised algorithms, then the claims.
    keys = requests.get(metadata["jwks_uri"], timeout=10)
    keys.raise_for_status()
    decoded = jwt.decode(
        token["id_token"],
        KeySet.import_key_set(keys.json()),
        registry=JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()

    info = session.get(metadata["userinfo_endpoint"], timeout=10)
    info.raise_for_status()

    first_refresh = token["refresh_token"]
    refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    after_refresh = session.get(metadata["userinfo_endpoint"], timeout=10)

    logout_state = generate_token(16)
    end_session = add_params_to_uri(
        metadata["end_session_endpoint"],
        [
            ("id_token_hint", token["id_token"]),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
            ("state", logout_state),
        ],
    )
    say(
        {
            "id_token": {
                "alg": decoded.header["alg"],
                "iss": claims["iss"],
                "aud": claims["aud"],
                "sub": claims["sub"],
                "email": claims.get("email"),
                "nonce_matches": claims["nonce"] == nonce,
            },
            "userinfo": info.json(),
            "refreshed": {
                "rotated": refreshed["refresh_token"] != first_refresh,
                "new_access_token": refreshed["access_token"] != token["access_token"],
                "userinfo_status": after_refresh.status_code,
            },
            "logout_state": logout_state,
            "end_session": end_session,
        }
    )

    hear()  # the browser followed the logout back to the app
    try:
        session.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    except OAuthError as refused:
        say({"refresh_after_logout": {"error": refused.error}})
    else:
        say({"refresh_after_logout": {"error": None}})


if __name__ == "__main__":
    main(*sys.argv[1:6])
