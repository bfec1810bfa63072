// Passkeys on the pages (docs/passkeys.md): sign-in on /signin (a button,
// and the e-mail field's autofill through conditional mediation), the
// second step of a password sign-in on /signin/code, and adding one on
// /account/passkeys. Served from this origin as /passkeys.js under the
// pages' Content-Security-Policy (script-src 'self'); the pages work without
// it, with the password. The server verifies everything: this only carries
// the options to the browser's WebAuthn and its answer back in a form.
"use strict";

(() => {
  const webauthn =
    window.PublicKeyCredential &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  const say = (form, text) => {
    const out = form.querySelector("[data-passkey-status]");
    if (out) out.textContent = text;
  };

  // Carries a credential back in the form, which the server then checks.
  const submitWith = (form, ceremony, credential) => {
    if (form.elements.ceremony) form.elements.ceremony.value = ceremony;
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  };

  const signin = document.getElementById("passkey-signin");
  if (signin) {
    if (!webauthn) {
      signin.hidden = true;
    } else {
      let waiting = null; // the conditional request, aborted by the button
      const sign = async (conditional) => {
        // The button with an e-mail typed asks for that account's passkeys
        // (credentials that are not discoverable); otherwise the
        // authenticator names the account.
        const email = document.getElementById("email");
        const typed = !conditional && email && email.value.trim();
        const answer = await fetch("/auth/passkey/options", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(typed ? { email: email.value.trim() } : {}),
          credentials: "same-origin",
        });
        if (!answer.ok) throw new Error("the sign-in could not start");
        const begun = await answer.json();
        const request = {
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.publicKey),
        };
        if (conditional) {
          waiting = new AbortController();
          request.mediation = "conditional";
          request.signal = waiting.signal;
        }
        const credential = await navigator.credentials.get(request);
        if (credential) submitWith(signin, begun.ceremony, credential);
      };
      signin.addEventListener("submit", (event) => {
        event.preventDefault();
        if (waiting) waiting.abort();
        waiting = null;
        say(signin, "");
        sign(false).catch(() =>
          say(signin, "No passkey was used. Try again, or sign in with your password.")
        );
      });
      if (typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
        PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
          if (available) sign(true).catch(() => {});
        });
      }
    }
  }

  // The second step: the sign-in's own ceremony (its mfa cookie names the
  // account, whose passkeys the options allow).
  const second = document.getElementById("passkey-mfa");
  if (second) {
    if (!webauthn) {
      second.hidden = true;
    } else {
      second.addEventListener("submit", async (event) => {
        event.preventDefault();
        say(second, "");
        try {
          const answer = await fetch("/signin/code/passkey/options", {
            method: "POST",
            body: new URLSearchParams({ csrf: second.elements.csrf.value }),
            credentials: "same-origin",
          });
          const begun = await answer.json();
          if (!answer.ok) {
            if (begun.signin) window.location.assign(begun.signin);
            else say(second, begun.message || "Enter a code instead.");
            return;
          }
          const credential = await navigator.credentials.get({
            publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(begun.publicKey),
          });
          submitWith(second, null, credential);
        } catch (error) {
          say(second, "No passkey was used. Try again, or enter a code.");
        }
      });
    }
  }

  const add = document.getElementById("passkey-add");
  if (add) {
    if (!webauthn) {
      add.hidden = true;
      const note = document.getElementById("passkey-unsupported");
      if (note) note.hidden = false;
    } else {
      add.addEventListener("submit", async (event) => {
        event.preventDefault();
        say(add, "");
        try {
          const answer = await fetch("/account/passkeys/options", {
            method: "POST",
            body: new URLSearchParams({ csrf: add.elements.csrf.value }),
            credentials: "same-origin",
          });
          const begun = await answer.json();
          if (!answer.ok) {
            if (begun.signin) window.location.assign(begun.signin);
            else say(add, begun.message || "The passkey could not be added.");
            return;
          }
          const credential = await navigator.credentials.create({
            publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begun.publicKey),
          });
          submitWith(add, begun.ceremony, credential);
        } catch (error) {
          say(add, "No passkey was made. Try again.");
        }
      });
    }
  }
})();
