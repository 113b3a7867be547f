(() => {
  'use strict';

  const CORRECT_CODE = '123456';
  const WABA_LIMIT = 'This business has reached its limit of WhatsApp Business Accounts.';

  const params = new URLSearchParams(location.search);
  const popup = params.get('display') === 'popup';
  const extras = objectOr(parseJson(params.get('extras')));
  const provisioning = objectOr(objectOr(extras.setup).phoneProvisioning);
  const countries = (Array.isArray(provisioning.countries) ? provisioning.countries : [])
    .filter((c) => typeof c === 'string' && /^[A-Za-z]{2}$/.test(c))
    .map((c) => c.toUpperCase());
  const businessAppOnly = extras.featureType === 'whatsapp_business_app_onboarding';

  const $ = (id) => document.getElementById(id);
  const form = $('signup');
  const business = $('business');
  const waba = $('waba');
  const phone = $('phone');
  const country = $('new-phone-country');
  const code = $('verification-code');
  const scenario = $('scenario');
  const callbackFirst = $('callback-first');
  const finishButton = $('finish');
  const status = $('status');
  let world = { wabas: [], phones: [] };

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  function objectOr(value) {
    return value && typeof value === 'object' ? value : {};
  }

  function setState(state, message, isError) {
    form.dataset.state = state;
    finishButton.disabled = state !== 'ready';
    status.textContent = message || '';
    status.className = isError ? 'error' : '';
  }

  // Replaces a select's options, keeping the current choice when it is still offered.
  function fill(select, options) {
    const previous = select.value;
    select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
    if (options.some(([value]) => value === previous)) select.value = previous;
  }

  function coexistence() {
    return businessAppOnly || scenario.value === 'coexistence';
  }

  function renderBusinesses() {
    const names = new Map(world.wabas.map((w) => [w.business_id, w.business_name]));
    fill(business, [...names].sort());
    renderWabas();
  }

  function renderWabas() {
    fill(waba, world.wabas.filter((w) => w.business_id === business.value).map((w) => [w.id, w.name]));
    renderPhones();
  }

  function renderPhones() {
    const options = world.phones
      .filter((p) => p.waba_id === waba.value && (!coexistence() || p.is_on_biz_app))
      .map((p) => [p.id, `${p.display_phone_number} · ${p.verified_name}${p.is_on_biz_app ? ' (Business app)' : ''}`]);
    if (!coexistence() && countries.length > 0) options.push(['new', 'Add a new number']);
    fill(phone, options);
    $('new-phone').hidden = phone.value !== 'new';
  }

  async function api(path, body) {
    const response = await fetch(path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = parseJson(await response.text());
    if (!response.ok) {
      throw new Error((data && data.error && data.error.message) || `${path} answered ${response.status}`);
    }
    return data;
  }

  function randomHex(length) {
    const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, length);
  }

  // The scenarios that end without a code: a session message and a denied login.
  function unfinished(name) {
    switch (name) {
      case 'cancel':
        return { event: 'CANCEL', data: { current_step: form.dataset.step }, denied: 'Permissions error' };
      case 'user_reported_error': {
        const message = 'The customer reported an error in the signup flow.';
        const data = {
          error_message: message,
          error_code: '524126',
          session_id: randomHex(15),
          timestamp: String(Math.floor(Date.now() / 1000)),
        };
        return { event: 'CANCEL', data, denied: message };
      }
      case 'error': {
        const message = 'An unexpected error occurred. Please try again later.';
        return { event: 'ERROR', data: { error_message: message, error_code: '1' }, denied: message };
      }
      case 'waba_limit_reached':
        return { event: 'ERROR', data: { error_message: WABA_LIMIT, error_code: '2' }, denied: WABA_LIMIT };
      default:
        return null;
    }
  }

  // The number the person picked (created when new), left verified only with the right code and
  // registered elsewhere only when the scenario says so.
  async function pickedPhone(name) {
    if (!phone.value) {
      if (name === 'finish_only_waba') return '';
      throw new Error('Pick a phone number.');
    }
    let id = phone.value;
    if (id === 'new') {
      if (!country.value) throw new Error('Pick a country for the new number.');
      const created = await api('/sandbox/phones', { waba_id: waba.value, country: country.value });
      world.phones.push(created);
      id = created.id;
    }
    await api(`/sandbox/phones/${encodeURIComponent(id)}/state`, {
      verified: code.value.trim() === CORRECT_CODE && name !== 'phone_verification_failed',
      registered_elsewhere: name === 'phone_registered_elsewhere',
    });
    return id;
  }

  function finishMessage(name, phoneId) {
    if (coexistence()) {
      return { event: 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING', data: { waba_id: waba.value } };
    }
    const ids = { waba_id: waba.value, business_id: business.value };
    if (name === 'finish_only_waba') return { event: 'FINISH_ONLY_WABA', data: { phone_number_id: '', ...ids } };
    return { event: 'FINISH', data: { phone_number_id: phoneId, ...ids } };
  }

  async function mintCode(name, phoneId) {
    const body = { waba_id: waba.value };
    if (phoneId) body.phone_number_id = phoneId;
    if (!popup) body.redirect_uri = params.get('redirect_uri');
    if (name === 'invalid_token') body.token_valid = false;
    const { code: minted } = await api('/sandbox/codes', body);
    if (name === 'expired_code') await api(`/sandbox/codes/${encodeURIComponent(minted)}/expire`, {});
    if (name === 'rate_limited') {
      await api('/sandbox/faults', {
        path_contains: 'debug_token',
        code: 4,
        status: 400,
        times: 1,
        message: '(#4) Application request limit reached',
      });
    }
    return minted;
  }

  async function outcome(name) {
    const ended = unfinished(name);
    if (ended) return ended;
    if (!waba.value) throw new Error('Pick a WhatsApp Business account.');
    const phoneId = await pickedPhone(name);
    const message = finishMessage(name, phoneId);
    // Without a popup there is nothing to close, so this scenario is an ordinary finish there.
    if (name === 'close_without_auth_response' && popup) return { ...message, noLogin: true };
    return { ...message, code: await mintCode(name, phoneId) };
  }

  function deliver(result) {
    const session = JSON.stringify({ type: 'WA_EMBEDDED_SIGNUP', event: result.event, data: result.data, version: 3 });
    const login = result.noLogin
      ? null
      : JSON.stringify({
          type: 'SANDBOX_FB_LOGIN',
          authResponse: result.code ? { code: result.code } : null,
          status: result.code ? 'connected' : 'unknown',
        });
    const messages = callbackFirst.checked ? [login, session] : [session, login];
    if (window.opener) {
      for (const message of messages) if (message) window.opener.postMessage(message, '*');
    }
    setState('done', 'Done. You can close this window.');
    window.close();
  }

  function navigate(result) {
    const target = new URL(params.get('redirect_uri'));
    if (result.code) {
      target.searchParams.set('code', result.code);
    } else {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_code', '200');
      target.searchParams.set('error_description', result.denied);
      target.searchParams.set('error_reason', 'user_denied');
    }
    target.searchParams.set('state', params.get('state'));
    setState('done', 'Returning…');
    location.assign(target.href);
  }

  async function run(name) {
    if (form.dataset.state === 'sending' || form.dataset.state === 'done') return;
    const previous = form.dataset.state;
    setState('sending', 'Working…');
    let result;
    try {
      result = await outcome(name);
    } catch (error) {
      setState(previous, error.message, true);
      return;
    }
    if (popup) deliver(result);
    else navigate(result);
  }

  business.addEventListener('change', renderWabas);
  waba.addEventListener('change', renderPhones);
  scenario.addEventListener('change', renderPhones);
  phone.addEventListener('change', () => {
    $('new-phone').hidden = phone.value !== 'new';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(scenario.value);
  });
  $('cancel').addEventListener('click', () => run('cancel'));

  fill(country, countries.map((c) => [c, c]));
  api('/sandbox/world')
    .then((loaded) => {
      world = loaded;
      renderBusinesses();
      setState('ready');
    })
    .catch((error) => setState('failed', `Could not load the sandbox: ${error.message}`, true));
})();
