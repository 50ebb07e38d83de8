// Express 4 + jsonwebtoken, written the way the tutorials write it.
// This is the peer jwtgate is compared with in bench/run: keep it naive on purpose
// (string secret, verify() in a middleware, one process). Do not optimise it.
const express = require('express');
const jwt = require('jsonwebtoken');

const app = express();
const PORT = process.env.PORT || 3000;
const HOST = process.env.HOST || '127.0.0.1';
const JWT_SECRET = process.env.JWT_SECRET;

if (!JWT_SECRET) {
  console.error('JWT_SECRET is required');
  process.exit(1);
}

app.use(express.json());

function authenticateToken(req, res, next) {
  const authHeader = req.headers['authorization'];
  const token = authHeader && authHeader.split(' ')[1];
  if (token == null) return res.sendStatus(401);

  jwt.verify(token, JWT_SECRET, (err, user) => {
    if (err) return res.sendStatus(403);
    req.user = user;
    next();
  });
}

app.get('/healthz', (req, res) => {
  res.json({ status: 'ok' });
});

app.get('/api/me', authenticateToken, (req, res) => {
  res.json(req.user);
});

app.listen(PORT, HOST, () => {
  console.log(`Server listening on http://${HOST}:${PORT}`);
});
