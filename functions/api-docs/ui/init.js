// Starts Swagger UI on the OpenAPI document served beside this page.
// build.rs inlines this file into the /docs page and allows it by its SHA-256
// in the page's Content-Security-Policy: no other script can run there.
"use strict";

(function () {
  // /docs -> /openapi.json, /docs/ -> /openapi.json too; behind a named API
  // Gateway stage (/prod/docs) both stay inside the stage (/prod/openapi.json).
  const base = new URL(location.pathname.endsWith("/") ? ".." : ".", location.href);
  const specUrl = new URL("openapi.json", base);
  const thisApi = base.href.replace(/\/$/, "");
  const root = document.getElementById("swagger-ui");

  fetch(specUrl, { headers: { accept: "application/json" } })
    .then((response) => {
      if (!response.ok) {
        throw new Error(`${specUrl.pathname} answered ${response.status}`);
      }
      return response.json();
    })
    .then((spec) => {
      // "Try it out" may only call this origin (connect-src 'self'), so the
      // API that serves this page is offered first.
      const servers = spec.servers || [];
      if (!servers.some((server) => server.url === thisApi)) {
        spec.servers = [{ url: thisApi, description: "This API (where these docs are served)" }, ...servers];
      }
      window.ui = SwaggerUIBundle({
        spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        displayOperationId: true,
        // The default validator badge is an image from validator.swagger.io.
        validatorUrl: null,
      });
    })
    .catch((error) => {
      root.textContent = `The API description could not be loaded: ${error.message}`;
    });
})();
