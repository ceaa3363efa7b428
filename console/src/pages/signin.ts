// Sign-in: a token (checked once by the gateway, then only the cookie is kept), or SSO when the
// gateway has an OIDC client configured.
import { type Me, ApiError, login, ssoEnabled } from "../api";
import { h, errorBox, replace } from "../dom";

export function signIn(onSignedIn: (me: Me) => void): HTMLElement {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const problem = h("div", { class: "problem" });
  const form = h(
    "form",
    { class: "signin", novalidate: true },
    h("label", { for: "token" }, "Token"),
    input,
    button,
    problem,
  );
  const sso = h("div", { class: "sso" });
  const page = h(
    "main",
    { class: "page signin-page" },
    h("h1", {}, "Vigil console"),
    h("p", { class: "hint" }, "Paste a Vigil token or an OIDC token. The console keeps only a session cookie."),
    form,
    sso,
  );

  const failed = new URLSearchParams(location.search).get("error");
  if (failed) problem.append(errorBox(`Single sign-on failed: ${failed}`));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    replace(problem);
    if (!token) {
      problem.append(errorBox("Paste a token first."));
      return;
    }
    button.disabled = true;
    try {
      const who = await login(token);
      input.value = "";
      onSignedIn(who);
    } catch (e) {
      const message = e instanceof ApiError ? e.message : String(e);
      problem.append(errorBox(`Sign-in refused: ${message}`));
    } finally {
      button.disabled = false;
    }
  });

  void ssoEnabled().then((on) => {
    if (on) sso.append(h("p", {}, "or"), h("a", { class: "button", href: "/console/oidc/login" }, "Sign in with SSO"));
  });
  return page;
}
