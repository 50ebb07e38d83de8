"""Mints tokens with PyJWT for tests/issuers.rs. Run as `python3 -c <this file>`.

Reads the spec mint.mjs describes on stdin and prints the same answer, plus PyJWT's version.
PyJWT writes `typ: JWT` unless the header says otherwise (null leaves it out), and `kid` only
if given. Exits with status 3 if PyJWT or its crypto extra is missing.
"""

import json
import sys

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm
except ImportError as err:
    print(f"PyJWT with its crypto extra is not installed: {err}", file=sys.stderr)
    sys.exit(3)

spec = json.load(sys.stdin)
private_keys = {}
jwks = {}
pkcs8 = {}
for alg in spec["keys"]:
    if alg.startswith("ES"):
        key = ec.generate_private_key(ec.SECP256R1())
        jwks[alg] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwks[alg] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    private_keys[alg] = key
    pkcs8[alg] = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

tokens = {}
for token in spec["tokens"]:
    if token["alg"] == "none":
        tokens[token["name"]] = jwt.encode(token["claims"], None, algorithm="none")
        continue
    tokens[token["name"]] = jwt.encode(
        token["claims"],
        private_keys[token["key"]],
        algorithm=token["alg"],
        headers=token["header"] or None,
    )

json.dump(
    {"version": jwt.__version__, "jwks": jwks, "pkcs8": pkcs8, "tokens": tokens},
    sys.stdout,
)
