import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Dashboard } from "./dashboard/dashboard.js";
import { DevicePage } from "./device/device-page.js";
import { VerifyPage } from "./verify/verify-page.js";
import "uplot/dist/uPlot.min.css";
import "./style.css";

/**
 * #/device?job=…, #/dashboard?job=… and #/verify?job=…&rpc=…: hash routes, so any static
 * server can host the app.
 */
function useRoute(): { page: string; params: URLSearchParams } {
  const read = () => {
    const [page, query] = (location.hash.replace(/^#\/?/, "") || "dashboard").split("?");
    return { page, params: new URLSearchParams(query ?? "") };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

/** benchmarks/browser.ts: the bench module on window, loaded on this route only. */
function BenchPage() {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    void import("./bench/bench.js").then((bench) => {
      (globalThis as { fedproofBench?: typeof bench }).fedproofBench = bench;
      setReady(true);
    });
  }, []);
  return (
    <section id="bench" data-ready={String(ready)}>
      benchmark page
    </section>
  );
}

function App() {
  const { page, params } = useRoute();
  const job = params.get("job") ?? "";
  return (
    <>
      <header>
        <strong>fedproof</strong>
        <a
          href={`#/dashboard${job ? `?job=${job}` : ""}`}
          class={page === "dashboard" ? "active" : ""}
        >
          Dashboard
        </a>
        <a href={`#/device${job ? `?job=${job}` : ""}`} class={page === "device" ? "active" : ""}>
          Join as a device
        </a>
        <a href={`#/verify${job ? `?job=${job}` : ""}`} class={page === "verify" ? "active" : ""}>
          Verify a model
        </a>
      </header>
      <main>
        {page === "device" ? (
          <DevicePage
            jobId={job}
            backend={params.get("backend") ?? undefined}
            samples={Number(params.get("samples") ?? 200)}
            uploadChunkBytes={Number(params.get("chunk")) || undefined}
          />
        ) : page === "bench" ? (
          <BenchPage />
        ) : page === "verify" ? (
          <VerifyPage
            jobId={job}
            rpcUrl={params.get("rpc") ?? ""}
            registry={params.get("registry") ?? ""}
          />
        ) : (
          <Dashboard jobId={job} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
