// The page shell: a hash router (#/sign-in, #/profile, #/admin?user=...; see ROUTES) so the server
// only has to serve `/`, the navigation (a Menu button on a phone), focus management on route
// change, the way back to the page asked for before signing in, and the reaction to a session
// ending.

import { h } from './dom.js';
import { describeError } from './messages.js';
import * as session from './session.js';
import { signInPage } from './pages/signin.js';
import { registerPage } from './pages/register.js';
import { profilePage } from './pages/profile.js';
import { forgotPasswordPage } from './pages/forgot-password.js';
import { resetPasswordPage } from './pages/reset-password.js';
import { confirmEmailPage, undoEmailPage, verifyEmailPage } from './pages/verify-email.js';
import { sessionsPage } from './pages/sessions.js';
import { changeEmailPage, deleteAccountPage, passwordPage } from './pages/password.js';
import { todosPage } from './pages/todos.js';
import { activityPage } from './pages/activity.js';
import { adminOnlyPage, adminPage } from './pages/admin.js';
import { authorizePage, oauthErrorPage } from './pages/authorize.js';

// access: 'guest' pages are for signed-out visitors, 'user' pages need a session, 'admin' pages a
// session whose roles include "admin", 'any' pages (the email links) open either way.
// New pages slot in here and in NAV below, each in a module under pages/: one module a page, or
// one for a family of pages that share their machinery (password.js: the pages that ask for the
// password again; verify-email.js: the pages of the mailed address links).
const ROUTES = {
  '/sign-in': { page: signInPage, access: 'guest', title: 'Sign in' },
  '/register': { page: registerPage, access: 'guest', title: 'Create an account' },
  '/profile': { page: profilePage, access: 'user', title: 'Your profile' },
  '/todos': { page: todosPage, access: 'user', title: 'Your todos' },
  '/sessions': { page: sessionsPage, access: 'user', title: 'Your sessions' },
  '/password': { page: passwordPage, access: 'user', title: 'Change your password' },
  '/email': { page: changeEmailPage, access: 'user', title: 'Change your email address' },
  '/delete-account': { page: deleteAccountPage, access: 'user', title: 'Delete your account' },
  '/activity': { page: activityPage, access: 'user', title: 'Your activity' },
  '/admin': { page: adminPage, access: 'admin', title: 'Administration' },
  '/forgot-password': { page: forgotPasswordPage, access: 'guest', title: 'Forgot your password?' },
  '/reset-password': { page: resetPasswordPage, access: 'any', title: 'Choose a new password' },
  '/verify-email': { page: verifyEmailPage, access: 'any', title: 'Confirm your email' },
  '/confirm-email': { page: confirmEmailPage, access: 'any', title: 'Confirm your new address' },
  '/undo-email': { page: undoEmailPage, access: 'any', title: 'Undo the address change' },
  // signInLead: what the sign-in page says on the way to this page, where "Sign in to continue
  // to <title>" would not read well.
  '/authorize': {
    page: authorizePage,
    access: 'user',
    title: 'Sign in to an app',
    signInLead: 'An app asked you to sign in with your account on this server. Sign in here; then you choose whether to let it.',
  },
  '/oauth-error': { page: oauthErrorPage, access: 'any', title: 'This sign-in link does not work' },
};

const NAV = {
  user: [
    { path: '/profile', label: 'Profile' },
    { path: '/todos', label: 'Todos' },
    { path: '/sessions', label: 'Sessions' },
    { path: '/activity', label: 'Activity' },
  ],
  // Shown to administrators only; the server checks the role on every admin call regardless.
  admin: [{ path: '/admin', label: 'Admin' }],
  guest: [
    { path: '/sign-in', label: 'Sign in' },
    { path: '/register', label: 'Create account' },
  ],
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const header = document.querySelector('.site-header');
const navToggle = document.getElementById('nav-toggle');
const announcer = document.getElementById('announcer');
let current = null; // { path, cleanup }
let booted = false;

function announce(message) {
  announcer.textContent = '';
  // A fresh text node in a later task makes screen readers read it even if it did not change.
  requestAnimationFrame(() => {
    announcer.textContent = message;
  });
}

function currentPath() {
  const hash = window.location.hash || '';
  return hash.startsWith('#/') ? hash.slice(1).split('?')[0] : '';
}

/**
 * Where a sign-in should lead: the `next` of the guest page's own address (#/sign-in?next=/todos),
 * if it names a page for signed-in people; null otherwise (then the profile). Only paths of this
 * page are taken, so a crafted link cannot send anyone elsewhere.
 */
function nextPage() {
  const hash = window.location.hash || '';
  const at = hash.indexOf('?');
  const next = at < 0 ? null : new URLSearchParams(hash.slice(at + 1)).get('next');
  if (typeof next !== 'string' || !next.startsWith('/')) return null;
  const access = ROUTES[next.split('?')[0]]?.access;
  return access === 'user' || access === 'admin' ? next : null;
}

/** The sign-in page, remembering `asked` (a path with its query) to come back to. */
function signInFor(asked) {
  const access = ROUTES[(asked || '').split('?')[0]]?.access;
  return access === 'user' || access === 'admin' ? `/sign-in?next=${encodeURIComponent(asked)}` : '/sign-in';
}

export function navigate(path, { replace = false } = {}) {
  const target = `#${path}`;
  if (window.location.hash === target) {
    render();
  } else if (replace) {
    window.history.replaceState(null, '', target);
    render();
  } else {
    window.location.hash = target; // fires hashchange -> render()
  }
}

// The roles come from /api/me (the access token's claims), loaded before 'signed-in' is emitted.
function isAdmin() {
  return Boolean(session.user()?.roles?.includes('admin'));
}

// On a phone the signed-in menu (five or six entries) folds behind one "Menu" button, so the
// header stays one line; the two entries of a visitor fit beside the name as they are.
function setMenuOpen(open) {
  header.classList.toggle('is-open', open);
  navToggle.setAttribute('aria-expanded', String(open));
}

navToggle.addEventListener('click', () => setMenuOpen(navToggle.getAttribute('aria-expanded') !== 'true'));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && header.classList.contains('is-open')) {
    setMenuOpen(false);
    navToggle.focus();
  }
});
document.addEventListener('click', (event) => {
  if (header.classList.contains('is-open') && !header.contains(event.target)) setMenuOpen(false);
});

function renderNav(path) {
  const items = session.isSignedIn() ? [...NAV.user, ...(isAdmin() ? NAV.admin : [])] : NAV.guest;
  header.classList.toggle('site-header--menu', session.isSignedIn());
  setMenuOpen(false);
  const links = items.map((item) =>
    h(
      'li',
      {},
      h('a', { href: `#${item.path}`, class: 'nav__link', 'aria-current': item.path === path ? 'page' : null }, item.label),
    ),
  );
  if (session.isSignedIn()) {
    links.push(h('li', {}, h('button', { type: 'button', class: 'nav__button', onclick: signOut }, 'Sign out')));
  }
  nav.replaceChildren(...links);
}

async function signOut(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    // Ending the session emits 'ended', which routes to sign-in with the reason.
    await session.signOut();
  } catch (error) {
    button.disabled = false;
    showError(`Signing out failed. ${describeError(error)}`);
  }
}

function showError(message) {
  const existing = main.querySelector('.app-error');
  existing?.remove();
  main.prepend(h('div', { class: 'notice notice--error app-error', role: 'alert' }, message));
}

function render() {
  if (!booted) return;
  let path = currentPath();
  let route = ROUTES[path];
  if (!route) {
    path = session.isSignedIn() ? '/profile' : '/sign-in';
    window.history.replaceState(null, '', `#${path}`);
    route = ROUTES[path];
  } else if ((route.access === 'user' || route.access === 'admin') && !session.isSignedIn()) {
    // Remember the page asked for (with its query), to return to it after signing in.
    window.history.replaceState(null, '', `#${signInFor(window.location.hash.slice(1))}`);
    path = '/sign-in';
    route = ROUTES[path];
  } else if (route.access === 'guest' && session.isSignedIn()) {
    window.history.replaceState(null, '', `#${nextPage() || '/profile'}`);
    render();
    return;
  } else if (route.access === 'admin' && !isAdmin()) {
    // Said plainly rather than redirected, and the admin page (and its requests) never starts.
    route = { page: adminOnlyPage, title: 'Administrators only' };
  }
  const firstRender = current === null;
  current?.cleanup?.();
  const next = nextPage();
  const nextRoute = next ? ROUTES[next.split('?')[0]] : null;
  const view = route.page({ navigate, announce, next, nextTitle: nextRoute?.title ?? null, nextLead: nextRoute?.signInLead ?? null });
  current = { path, cleanup: view.cleanup };
  main.replaceChildren(view.node);
  // A page may name itself more exactly than its route (the error page, by what went wrong).
  const title = view.title || route.title;
  document.title = `${title} · jwtgate`;
  renderNav(path);
  // Move focus to the new page's heading so keyboard and screen-reader users land on it.
  const heading = main.querySelector('h1');
  if (!firstRender && heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
    announce(title);
  }
}

document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  (main.querySelector('h1') || main).focus();
});

window.addEventListener('hashchange', render);

session.onChange((event) => {
  const kind = event.detail.kind;
  if (kind === 'ended') {
    // The session is over (signed out here or in another tab, revoked, reused...): show why.
    // Unless it was a sign-out or the account is gone, signing in again comes back to this page.
    const reason = session.endReason()?.code;
    const noWayBack = reason === 'logout' || reason === 'account_deleted';
    navigate(noWayBack ? '/sign-in' : signInFor(window.location.hash.slice(1)), { replace: true });
  } else if (kind === 'signed-in' && ROUTES[currentPath()]?.access === 'guest' && booted) {
    navigate(nextPage() || '/profile');
  } else if (booted) {
    renderNav(current?.path || currentPath());
  }
});

async function boot() {
  main.replaceChildren(h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    await session.restore();
  } catch (error) {
    booted = true;
    render();
    showError(`Could not start. ${describeError(error)}`);
    return;
  }
  booted = true;
  render();
}

boot();
