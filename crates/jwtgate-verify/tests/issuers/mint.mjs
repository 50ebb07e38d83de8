// Mints tokens with node `jose` (v6) for tests/issuers.rs. Run as
// `node --input-type=module -e <this file>` in a directory where `jose` is installed.
//
// Reads on stdin {"keys": [alg...], "tokens": [{name, key, alg, header, claims}...]}: one fresh
// key pair per entry of "keys", then each token signed with the pair of its "key", under "alg"
// (another algorithm of the same key, such as PS256 on an RS256 pair, or "none" for jose's
// UnsecuredJWT). "header" holds the members to set beside "alg"; null leaves one out.
// Prints {"jwks": {alg: public JWK as jose exports it}, "pkcs8": {alg: private PEM},
// "tokens": {name: token}}.
import { readFileSync } from 'node:fs';
import {
  SignJWT,
  UnsecuredJWT,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importPKCS8,
} from 'jose';

const spec = JSON.parse(readFileSync(0, 'utf8'));
const privateKeys = {};
const jwks = {};
const pkcs8 = {};
for (const alg of spec.keys) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  privateKeys[alg] = privateKey;
  jwks[alg] = await exportJWK(publicKey);
  pkcs8[alg] = await exportPKCS8(privateKey);
}

const tokens = {};
for (const token of spec.tokens) {
  if (token.alg === 'none') {
    tokens[token.name] = new UnsecuredJWT(token.claims).encode();
    continue;
  }
  // jose writes the header it is given and nothing else: no `typ` or `kid` unless set.
  const header = { alg: token.alg };
  for (const [name, value] of Object.entries(token.header)) {
    if (value !== null) header[name] = value;
  }
  const key =
    token.alg === token.key ? privateKeys[token.key] : await importPKCS8(pkcs8[token.key], token.alg);
  tokens[token.name] = await new SignJWT(token.claims).setProtectedHeader(header).sign(key);
}
process.stdout.write(JSON.stringify({ jwks, pkcs8, tokens }));
