(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("signup-config").textContent);
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button[data-feature]"));
  var statusLine = document.getElementById("status");
  var session = null;   // the WA_EMBEDDED_SIGNUP message
  var login = null;     // the FB.login response
  var submitted = false;
  var waitTimer = null;

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "status error" : "status";
  }

  // Meta posts a JSON string; other messages from the same origin are not ours.
  window.addEventListener("message", function (event) {
    if (config.messageOrigins.indexOf(event.origin) === -1) return;
    var message;
    try { message = typeof event.data === "string" ? JSON.parse(event.data) : null; } catch (e) { return; }
    if (!message || message.type !== "WA_EMBEDDED_SIGNUP") return;
    session = message;
    settle();
  });

  window.fbAsyncInit = function () {
    FB.init({ appId: config.appId, autoLogAppEvents: true, xfbml: true, version: config.version });
    buttons.forEach(function (b) { b.disabled = false; });
  };

  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      // FB.login must run in the click itself, or the popup is blocked.
      session = null; login = null; submitted = false;
      var feature = button.getAttribute("data-feature");
      var extras = { setup: config.setup, sessionInfoVersion: "3" };
      if (feature) extras.featureType = feature;
      document.getElementById("fallback").hidden = true;
      say(config.text.waiting);
      FB.login(function (response) { login = response || { authResponse: null }; settle(); }, {
        config_id: config.configId,
        response_type: "code",
        override_default_response_type: true,
        extras: extras
      });
    });
  });

  function finished(event) { return event && event.indexOf("FINISH") === 0; }
  function ended(event) { return event === "CANCEL" || event === "ERROR" || (event && event.indexOf("CANCEL_") === 0); }

  // The login callback and the message arrive in either order: act once both are in, or once
  // waiting longer cannot change the outcome.
  function settle() {
    if (submitted) return;
    clearTimeout(waitTimer);
    var code = login && login.authResponse && login.authResponse.code;
    var event = session && session.event;
    if (login && code && session) return submit(code);
    if (login && !code && ended(event)) return submit(null);
    if (login && !code && (finished(event) || session === null)) {
      // No code came back. Give a late message a moment, then offer the full-page dialog.
      waitTimer = setTimeout(function () {
        if (submitted) return;
        if (session && ended(session.event)) return submit(null);
        say(config.text.popupClosed, true);
        document.getElementById("fallback").hidden = false;
      }, session ? 0 : 1500);
      return;
    }
    if (login && code && !session) {
      // Without session logging there is no message: the server finds the number itself.
      waitTimer = setTimeout(function () { submit(code); }, 3000);
      return;
    }
    if (!login && ended(event)) {
      waitTimer = setTimeout(function () { submit(null); }, 5000);
    }
  }

  function submit(code) {
    submitted = true;
    clearTimeout(waitTimer);
    say(config.text.finishing);
    buttons.forEach(function (b) { b.disabled = true; });
    var data = (session && session.data) || {};
    var fields = {
      state: config.state,
      code: code,
      event: session && session.event,
      waba_id: data.waba_id,
      phone_number_id: data.phone_number_id,
      business_id: data.business_id,
      current_step: data.current_step,
      error_code: data.error_code || data.error_id,
      error_message: data.error_message,
      session_id: data.session_id
    };
    var form = document.getElementById("callback");
    Object.keys(fields).forEach(function (name) {
      var value = fields[name];
      if (value === undefined || value === null) return;
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = String(value);
      form.appendChild(input);
    });
    form.submit();
  }
})();
