// Flotilla dashboard sign-in (docs/dashboard.md "Opening it"): /login#token=TOKEN.
// The token is in the fragment, which a browser never sends: it reaches no server or
// proxy log and no Referer. The script takes it out of the address bar at once, sends it
// once as a bearer token to /login, which answers with the session cookie, and goes to
// the dashboard in place of this page.
'use strict';

(function () {
  const message = document.getElementById('message');
  const found = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  history.replaceState(null, '', '/login');
  if (!found) {
    message.textContent = 'Open /login#token=TOKEN with the token of http.token_file.';
    return;
  }
  let token = found[1];
  try { token = decodeURIComponent(token); } catch (e) { /* taken as written */ }
  fetch('/login', { headers: { Authorization: 'Bearer ' + token }, credentials: 'same-origin', cache: 'no-store' })
    .then((res) => {
      if (res.ok) location.replace('/');
      else message.textContent = res.status === 401 ? 'Wrong token.' : 'Sign-in failed: ' + res.status + ' ' + res.statusText;
    }, (e) => { message.textContent = 'Sign-in failed: ' + e.message; });
})();
