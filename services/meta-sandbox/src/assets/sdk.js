/* A stand-in for Facebook's JS SDK, served by Gangway's meta sandbox: FB.init and FB.login, whose
 * popup is the sandbox's Embedded Signup dialog. */
(() => {
  'use strict';

  if (window.FB && window.FB.sandbox) return;

  const script =
    document.currentScript ||
    Array.from(document.scripts).find((s) => /\/en_US\/sdk\.js(\?|#|$)/.test(s.src));
  const origin = new URL(script ? script.src : location.href).origin;
  const CLOSED_POLL_MS = 250;
  const unknown = () => ({ authResponse: null, status: 'unknown' });

  let settings = null;
  let pending = null;

  function init(options) {
    const opts = options || {};
    settings = { appId: String(opts.appId || ''), version: String(opts.version || 'v25.0') };
  }

  function login(callback, options) {
    const opts = options || {};
    const respond = typeof callback === 'function' ? callback : () => {};
    if (!settings) {
      console.error('FB.login() called before FB.init().');
      return;
    }
    // A new login abandons one still waiting; its callback is never called.
    if (pending) pending.stop();

    const query = new URLSearchParams({
      display: 'popup',
      client_id: settings.appId,
      config_id: String(opts.config_id || ''),
      response_type: String(opts.response_type || 'token'),
      override_default_response_type: String(Boolean(opts.override_default_response_type)),
      extras: JSON.stringify(opts.extras || {}),
    });
    const url = `${origin}/${encodeURIComponent(settings.version)}/dialog/oauth?${query}`;
    // Opened synchronously, inside the caller's click, or the browser blocks it.
    const popup = window.open(url, 'fb_sandbox_login', 'width=620,height=760');

    let done = false;
    let closedPolls = 0;
    const state = {};
    const finish = (response) => {
      if (done) return;
      state.stop();
      respond(response);
    };
    const onMessage = (event) => {
      if (event.origin !== origin || typeof event.data !== 'string') return;
      if (popup && event.source !== popup) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (!message || message.type !== 'SANDBOX_FB_LOGIN') return;
      const auth = message.authResponse;
      if (auth && typeof auth.code === 'string' && auth.code) {
        finish({
          authResponse: {
            userID: '',
            expiresIn: 0,
            graphDomain: 'facebook',
            data_access_expiration_time: 0,
            ...auth,
          },
          status: 'connected',
        });
      } else {
        finish(unknown());
      }
    };
    // The popup posts its login response and then closes itself; a message still in flight when
    // `closed` first reads true gets one more poll to arrive.
    const timer = setInterval(() => {
      if (!popup || popup.closed) closedPolls += 1;
      if (closedPolls >= 2) finish(unknown());
    }, CLOSED_POLL_MS);
    state.stop = () => {
      done = true;
      clearInterval(timer);
      window.removeEventListener('message', onMessage);
      if (pending === state) pending = null;
    };
    pending = state;
    window.addEventListener('message', onMessage);
  }

  function getLoginStatus(callback) {
    if (typeof callback === 'function') callback(unknown());
  }

  window.FB = { init, login, getLoginStatus, sandbox: true };

  if (typeof window.fbAsyncInit === 'function') window.fbAsyncInit();
})();
