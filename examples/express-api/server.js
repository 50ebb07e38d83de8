// A protected API in the tutorials' own stack: express, express-jwt and jwks-rsa. It never
// talks to jwtgate about a token: it fetches jwtgate's public keys (the JWKS) once, caches
// them, and checks each access token itself: signature, algorithm, issuer, audience, expiry.
//
//   JWTGATE_URL  jwtgate's issuer (the `iss` of its tokens), e.g. http://127.0.0.1:8080
//   AUDIENCE     the `aud` to require (default: jwtgate)
//   PORT         where to listen on 127.0.0.1 (default 3001; 0 picks a free port)

import express from 'express';
import { expressjwt } from 'express-jwt';
import jwksRsa from 'jwks-rsa';

// jwtgate's `iss` has no trailing slash: compare against the same spelling.
const issuer = (process.env.JWTGATE_URL || '').replace(/\/+$/, '');
if (!issuer) {
  console.error('Set JWTGATE_URL to jwtgate\'s issuer, e.g. JWTGATE_URL=http://127.0.0.1:8080');
  process.exit(1);
}
const audience = process.env.AUDIENCE || 'jwtgate';
const port = Number(process.env.PORT ?? 3001);

// Checks the `Authorization: Bearer <token>` header and puts the verified claims in req.auth.
// jwks-rsa picks the key named by the token's `kid`, fetching the JWKS only for a kid it has
// not seen yet (at most 10 times a minute). jwtgate signs with ES256 by default (RS256 if so
// configured); jsonwebtoken, under express-jwt, cannot verify EdDSA at all.
const requireAuth = expressjwt({
  secret: jwksRsa.expressJwtSecret({
    jwksUri: `${issuer}/.well-known/jwks.json`,
    cache: true,
    rateLimit: true,
    jwksRequestsPerMinute: 10,
  }),
  algorithms: ['ES256', 'RS256'],
  issuer,
  audience,
});

// Roles come from the token's `roles` claim (an array of strings): no database to ask.
const requireRole = (role) => (req, res, next) =>
  Array.isArray(req.auth.roles) && req.auth.roles.includes(role)
    ? next()
    : res.status(403).json({ error: 'forbidden' });

const todos = new Map(); // user id (the token's `sub`) -> [{ id, title }]

const app = express();
app.use(express.json());

app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

app.get('/todos', requireAuth, (req, res) => res.json(todos.get(req.auth.sub) ?? []));

app.post('/todos', requireAuth, (req, res) => {
  const title = req.body?.title;
  if (typeof title !== 'string' || !title.trim()) return res.status(400).json({ error: 'invalid_title' });
  const mine = todos.get(req.auth.sub) ?? [];
  const todo = { id: mine.length + 1, title: title.trim() };
  todos.set(req.auth.sub, [...mine, todo]);
  res.status(201).json(todo);
});

app.get('/admin/stats', requireAuth, requireRole('admin'), (req, res) => {
  const count = [...todos.values()].reduce((sum, list) => sum + list.length, 0);
  res.json({ users: todos.size, todos: count });
});

// Errors answer JSON, never a stack trace. express-jwt's UnauthorizedError carries a code:
// credentials_required (no token), invalid_token (bad signature, wrong issuer or audience,
// expired...), credentials_bad_scheme, credentials_bad_format.
app.use((err, req, res, next) => {
  if (err.name === 'UnauthorizedError') {
    const challenge = err.code === 'invalid_token' ? 'Bearer error="invalid_token"' : 'Bearer';
    return res.status(401).set('WWW-Authenticate', challenge).json({ error: err.code });
  }
  if (err.type === 'entity.parse.failed') return res.status(400).json({ error: 'invalid_json' });
  console.error(err);
  res.status(500).json({ error: 'internal_error' });
});

// Loopback only: put a reverse proxy (TLS) in front to publish it.
const server = app.listen(port, '127.0.0.1', (error) => {
  if (error) throw error;
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
